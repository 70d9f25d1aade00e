// DTLS on simulated time, reproducible from a seed: the simulator runs the GnuTLS stack
// (dtls.h) with GnuTLS's clock and its entropy taken from the simulation.
//
// GnuTLS reads time through a hook (its DTLS retransmission timer and handshake time-outs
// follow the simulated clock) and draws randomness from a generator per thread, seeded
// from getrandom() at the thread's first use. While a SimulatedDtls exists, getrandom()
// in this process returns a stream derived from the seed (this file defines getrandom,
// which takes precedence over the C library's; it passes through to the kernel at all
// other times). So a simulation whose DTLS runs in a fresh thread (run_in_fresh_thread)
// draws the same bytes every time: same keys, cookies, nonces, signatures, same run.
// OpenSSL mixes the time and the process into its generator, so it is not used in the
// simulator.
//
// One at a time per process; not for real traffic (the keys would be predictable).
#pragma once

#include <cstdint>
#include <functional>

#include "coap/common/time.h"

namespace coapbed::net {

class SimulatedDtls {
public:
    /// `now` is the simulation's clock (from 0); GnuTLS's wall clock reads a fixed date
    /// plus it.
    SimulatedDtls(std::uint64_t seed, std::function<coap::TimePoint()> now);
    ~SimulatedDtls();
    SimulatedDtls(const SimulatedDtls&) = delete;
    SimulatedDtls& operator=(const SimulatedDtls&) = delete;
};

/// Runs `f` in a new thread and waits for it: GnuTLS's generator for that thread starts
/// from the seeded stream, whatever this thread drew before.
void run_in_fresh_thread(const std::function<void()>& f);

}  // namespace coapbed::net
