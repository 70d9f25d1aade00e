#include "sim/model/links.h"

#include "ns3/data-rate.h"
#include "ns3/nstime.h"
#include "ns3/queue-size.h"

#include "sim/model/gilbert-elliott-error-model.h"

namespace coapbed::sim {

ns3::Ptr<ns3::ErrorModel> MakeLinkLoss(const Topology& t, int64_t stream) {
    using namespace ns3;
    if (t.loss <= 0) return nullptr;
    if (t.loss_model == "gilbert-elliott") {
        auto ge = CreateObject<GilbertElliottErrorModel>();
        ge->SetLossAndBurst(t.loss, t.burst);  // feasibility checked when the scenario was loaded
        ge->AssignStreams(stream);
        return ge;
    }
    auto em = CreateObject<RateErrorModel>();
    em->SetUnit(RateErrorModel::ERROR_UNIT_PACKET);
    em->SetRate(t.loss);
    em->AssignStreams(stream);
    return em;
}

ns3::PointToPointHelper MakeAccessLink(const Topology& t) {
    using namespace ns3;
    PointToPointHelper access;
    access.SetDeviceAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(t.access_rate_bps))));
    access.SetChannelAttribute("Delay", TimeValue(Seconds(t.access_delay_s)));
    return access;
}

ns3::PointToPointHelper MakeBottleneckLink(const Topology& t) {
    using namespace ns3;
    PointToPointHelper neck;
    neck.SetDeviceAttribute("DataRate", DataRateValue(DataRate(static_cast<uint64_t>(t.rate_bps))));
    neck.SetChannelAttribute("Delay", TimeValue(Seconds(t.delay_s)));
    neck.SetQueue("ns3::DropTailQueue<Packet>", "MaxSize",
                  QueueSizeValue(QueueSize(t.queue_in_bytes ? QueueSizeUnit::BYTES : QueueSizeUnit::PACKETS,
                                           static_cast<uint32_t>(t.queue))));
    return neck;
}

}  // namespace coapbed::sim
