// The dumbbell's links and loss models as a scenario's [topology] asks for them: shared by
// the simulator (sim/scenario/simulation.cc) and the emulator (sim/emulation/emulate.cc),
// so that simulated and real programs cross the same links and lose packets the same way.
#pragma once

#include <cstdint>

#include "ns3/error-model.h"
#include "ns3/point-to-point-helper.h"
#include "ns3/ptr.h"

#include "sim/scenario/scenario.h"

namespace coapbed::sim {

/// uniform (RateErrorModel, per packet) or gilbert-elliott; nullptr without loss. Its
/// random stream is fixed to `stream`.
[[nodiscard]] ns3::Ptr<ns3::ErrorModel> MakeLinkLoss(const Topology& t, int64_t stream);

/// The clients' and servers' access links: access_rate, access_delay.
[[nodiscard]] ns3::PointToPointHelper MakeAccessLink(const Topology& t);
/// The bottleneck: rate, delay and a drop-tail device queue of `queue` packets or bytes.
[[nodiscard]] ns3::PointToPointHelper MakeBottleneckLink(const Topology& t);

}  // namespace coapbed::sim
