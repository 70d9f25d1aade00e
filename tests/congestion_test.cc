// Every congestion-control strategy against hand-computed timelines.
#include <gtest/gtest.h>

#include "coap/congestion/congestion.h"

using coap::Duration;
using coap::TimePoint;

namespace {
Duration s(double v) { return Duration::from_seconds(v); }
TimePoint at(double seconds) { return TimePoint::origin() + Duration::from_seconds(seconds); }

std::unique_ptr<coap::CongestionControl> make(const char* name) {
    auto cc = coap::make_congestion_control(name, coap::TransmissionParams{});
    EXPECT_NE(cc, nullptr) << name;
    return cc;
}

// Durations from the estimators go through integer nanoseconds: allow 1 µs.
void near(Duration a, Duration b) { EXPECT_NEAR(a.seconds_f(), b.seconds_f(), 1e-6); }
}  // namespace

TEST(Congestion, RegistryHasEveryStrategyByName) {
    std::vector<std::string> names;
    for (auto* st = coap::congestion_strategies_begin(); st != coap::congestion_strategies_end(); ++st) {
        names.emplace_back(st->name);
        auto cc = st->make(coap::TransmissionParams{});
        ASSERT_NE(cc, nullptr);
        EXPECT_EQ(cc->name(), st->name);
    }
    EXPECT_EQ(names, (std::vector<std::string>{"default", "cocoa", "cocoa-strong", "fasor", "linux-rto", "peakhopper-rto"}));
    EXPECT_EQ(coap::make_congestion_control("no-such", coap::TransmissionParams{}), nullptr);
}

TEST(Congestion, DefaultRfc7252) {
    auto cc = make("default");
    coap::Xoshiro256 rng(1);
    for (int i = 0; i < 1000; ++i) {
        const coap::FirstTimeout f = cc->initial_timeout(at(0), rng, 0);
        ASSERT_GE(f.timeout, Duration::seconds(2));   // ACK_TIMEOUT
        ASSERT_LE(f.timeout, Duration::seconds(3));   // ACK_TIMEOUT * ACK_RANDOM_FACTOR
    }
    const coap::FirstTimeout f{s(2.5), s(2), 0};
    EXPECT_EQ(cc->next_timeout(at(0), f, s(2.5), 1), s(5));
    EXPECT_EQ(cc->next_timeout(at(0), f, s(5), 2), s(10));
    cc->on_ack(at(1), s(0.1), 0);  // the default strategy does not learn
    EXPECT_EQ(cc->current_rto(at(1)), Duration::seconds(2));
}

TEST(Congestion, CocoaEstimatorsAndOverallRto) {
    auto cc = make("cocoa");
    coap::Xoshiro256 rng(2);
    // Blind RTO: 2 s, and 2 s x (outstanding + 1) with exchanges in flight.
    EXPECT_EQ(cc->initial_timeout(at(0), rng, 0).base, s(2));
    EXPECT_EQ(cc->initial_timeout(at(0), rng, 1).base, s(4));
    // Strong sample 1 s: SRTT 1, RTTVAR 0.5, E = 1 + 4*0.5 = 3; RTO = 0.5*3 + 0.5*2 = 2.5.
    cc->on_ack(at(1), s(1), 0);
    near(cc->current_rto(at(1)), s(2.5));
    // Strong sample 1 s: RTTVAR = 0.75*0.5 + 0.25*0 = 0.375, E = 2.5; RTO = 0.5*2.5 + 0.5*2.5 = 2.5.
    cc->on_ack(at(2), s(1), 0);
    near(cc->current_rto(at(2)), s(2.5));
    // Weak sample 4 s (1 retransmission): SRTT_w 4, RTTVAR_w 2, E_w = 4 + 1*2 = 6;
    // RTO = 0.25*6 + 0.75*2.5 = 3.375.
    cc->on_ack(at(3), s(4), 1);
    near(cc->current_rto(at(3)), s(3.375));
    // 3 retransmissions: no sample.
    cc->on_ack(at(4), s(30), 3);
    near(cc->current_rto(at(4)), s(3.375));
    // Dithering in [RTO, 1.5 RTO] and no blind RTO once there are samples.
    for (int i = 0; i < 200; ++i) {
        const coap::FirstTimeout f = cc->initial_timeout(at(4), rng, 3);
        near(f.base, s(3.375));
        ASSERT_GE(f.timeout, f.base);
        ASSERT_LE(f.timeout, f.base * 1.5);
    }
}

TEST(Congestion, CocoaStrongIgnoresWeakSamples) {
    auto cc = make("cocoa-strong");
    cc->on_ack(at(1), s(1), 0);
    near(cc->current_rto(at(1)), s(2.5));
    cc->on_ack(at(2), s(4), 1);
    near(cc->current_rto(at(2)), s(2.5));
}

TEST(Congestion, CocoaVariableBackoffAndTruncation) {
    auto cc = make("cocoa");
    // VBF from the exchange's initial RTO: < 1 s -> 3, > 3 s -> 1.5, else 2.
    EXPECT_EQ(cc->next_timeout(at(0), {s(0.9), s(0.6), 0}, s(0.9), 1), s(2.7));
    EXPECT_EQ(cc->next_timeout(at(0), {s(3), s(2), 0}, s(3), 1), s(6));
    EXPECT_EQ(cc->next_timeout(at(0), {s(5), s(4), 0}, s(5), 1), s(7.5));
    // Truncated at 32 s.
    EXPECT_EQ(cc->next_timeout(at(0), {s(3), s(2), 0}, s(24), 4), s(32));
}

TEST(Congestion, CocoaAging) {
    auto cc = make("cocoa");
    // Many 50 ms strong samples drive the RTO below 1 s.
    for (int i = 0; i < 60; ++i) cc->on_ack(at(10 + 0.1 * i), s(0.05), 0);
    const TimePoint t0 = at(10 + 0.1 * 59);
    const Duration low = cc->current_rto(t0);
    ASSERT_LT(low, s(0.5));
    // Unchanged for 16 x RTO: doubled; not a nanosecond before.
    EXPECT_EQ(cc->current_rto(t0 + low * 16 - Duration::nanoseconds(1)), low);
    EXPECT_EQ(cc->current_rto(t0 + low * 16), low * 2);

    auto high = make("cocoa");
    // Weak samples of 20 s push the RTO above 3 s.
    for (int i = 0; i < 5; ++i) high->on_ack(at(i), s(20), 1);
    const Duration big = high->current_rto(at(4));
    ASSERT_GT(big, s(3));
    // Unchanged for 4 x RTO: becomes 1 s + 0.5 x RTO.
    EXPECT_EQ(high->current_rto(at(4) + big * 4 - Duration::nanoseconds(1)), big);
    near(high->current_rto(at(4) + big * 4), s(1) + big / 2);
}

TEST(Congestion, FasorStatesAndSeries) {
    auto cc = make("fasor");
    coap::Xoshiro256 rng(3);
    // Before any sample: FastRTO 2 s dithered to [2, 3].
    coap::FirstTimeout f = cc->initial_timeout(at(0), rng, 0);
    EXPECT_EQ(f.base, s(2));
    EXPECT_GE(f.timeout, s(2));
    EXPECT_LE(f.timeout, s(3));
    // Unambiguous 1 s: SRTT 1, RTTVAR 0.5, FastRTO = 3 s (no 1 s floor); dither [3.25, 4].
    cc->on_ack(at(1), s(1), 0);
    EXPECT_EQ(cc->current_rto(at(1)), s(3));
    for (int i = 0; i < 100; ++i) {
        f = cc->initial_timeout(at(1), rng, 0);
        ASSERT_GE(f.timeout, s(3.25));
        ASSERT_LE(f.timeout, s(4));
    }
    EXPECT_EQ(f.tag, 0u);  // FAST: binary back-off
    EXPECT_EQ(cc->next_timeout(at(1), f, s(3.5), 1), s(7));
    // A retransmitted exchange acknowledged 5 s after its original transmission:
    // SlowRTO = 7.5 s, state FAST_SLOW_FAST: FastRTO, SlowRTO, then 2 x FastRTO, 4 x ...
    cc->on_ack(at(10), s(5), 1);
    f = cc->initial_timeout(at(10), rng, 0);
    EXPECT_EQ(f.tag, 1u);
    EXPECT_EQ(f.base, s(3));
    EXPECT_EQ(cc->next_timeout(at(10), f, f.timeout, 1), s(7.5));
    EXPECT_EQ(cc->next_timeout(at(10), f, s(7.5), 2), s(6));
    EXPECT_EQ(cc->next_timeout(at(10), f, s(6), 3), s(12));
    // Another ambiguous sample (4 s): SlowRTO 6 s, state SLOW_FAST: SlowRTO, then FastRTO, 2 x ...
    cc->on_ack(at(20), s(4), 2);
    f = cc->initial_timeout(at(20), rng, 0);
    EXPECT_EQ(f.tag, 2u);
    EXPECT_EQ(f.base, s(6));
    EXPECT_EQ(cc->next_timeout(at(20), f, f.timeout, 1), s(3));
    EXPECT_EQ(cc->next_timeout(at(20), f, s(3), 2), s(6));
    // An unambiguous sample returns to FAST.
    cc->on_ack(at(30), s(1), 0);
    EXPECT_EQ(cc->initial_timeout(at(30), rng, 0).tag, 0u);
}

TEST(Congestion, LinuxRto) {
    auto cc = make("linux-rto");
    coap::Xoshiro256 rng(4);
    EXPECT_EQ(cc->initial_timeout(at(0), rng, 0).timeout, s(2));  // no dithering
    // First sample 1 s: srtt 1, mdev 0.5, mdev_max 0.5, rttvar 0.5: RTO = 1 + 4*0.5 = 3.
    cc->on_ack(at(1), s(1), 0);
    EXPECT_EQ(cc->current_rto(at(1)), s(3));
    // Second 1 s: mdev 0.375 (not above mdev_max 0.5), rttvar stays 0.5: RTO 3.
    cc->on_ack(at(2), s(1), 0);
    EXPECT_EQ(cc->current_rto(at(2)), s(3));
    // Third 1 s: mdev 0.28125 > mdev_max (reset to 0.05) -> mdev_max 0.28125;
    // rttvar -= (0.5 - 0.28125)/4 -> 0.4453125; RTO = 1 + 4*0.4453125 = 2.78125.
    cc->on_ack(at(3), s(1), 0);
    near(cc->current_rto(at(3)), s(2.78125));
    // Karn: a retransmitted exchange gives no sample, and the backed-off RTO stays (one
    // retransmission: doubled; two more: four times that) until a valid sample.
    cc->on_ack(at(4), s(9), 1);
    near(cc->current_rto(at(4)), s(5.5625));
    cc->on_ack(at(5), s(9), 2);
    near(cc->current_rto(at(5)), s(22.25));
    EXPECT_EQ(cc->next_timeout(at(4), {s(3), s(3), 0}, s(3), 1), s(6));
    // A valid 1 s sample: mdev 0.2109375, mdev_max 0.2109375, rttvar 0.4453125 -
    // (0.4453125 - 0.2109375) / 4 = 0.38671875; RTO = 1 + 4 * 0.38671875 = 2.546875.
    cc->on_ack(at(6), s(1), 0);
    near(cc->current_rto(at(6)), s(2.546875));
}

TEST(Congestion, LinuxRtoBacksOffBelowAQueuedRtt) {
    // The first exchanges meet a queue: the RTT (4.5 s) is above the 2 s initial RTO, so
    // each is retransmitted. The backed-off RTO (4 s, then 8 s) lets the next exchange's
    // response beat its timer, and that sample sets the RTO from the estimator.
    auto cc = make("linux-rto");
    cc->on_ack(at(5), s(4.5), 1);
    near(cc->current_rto(at(5)), s(4));
    cc->on_ack(at(11), s(4.5), 1);
    near(cc->current_rto(at(11)), s(8));
    cc->on_ack(at(20), s(4.5), 0);
    near(cc->current_rto(at(20)), s(13.5));  // 3 x the first sample
}

TEST(Congestion, LinuxRtoFloorIsSrttPlusTcpRtoMin) {
    // Linux (tcp_rtt_estimator, __tcp_set_rto): the first RTO is SRTT + max(2 x sample,
    // TCP_RTO_MIN), and a steady RTT leaves SRTT + TCP_RTO_MIN (rttvar floored at it).
    auto cc = make("linux-rto");
    cc->on_ack(at(1), s(0.01), 0);
    near(cc->current_rto(at(1)), s(0.21));
    for (int i = 2; i < 60; ++i) cc->on_ack(at(i), s(0.25), 0);
    EXPECT_NEAR(cc->current_rto(at(60)).seconds_f(), 0.45, 0.002);
    auto fresh = make("linux-rto");
    fresh->on_ack(at(1), s(0.25), 0);
    near(fresh->current_rto(at(1)), s(0.75));  // 3 x RTT: 2 x sample is above TCP_RTO_MIN
}

TEST(Congestion, PeakHopperHopsOnAnExpiredTimer) {
    // A jitter-free path (RTT exactly 0.25 s); each exchange starts 1 s after the last
    // one ended. Clean samples hop the RTO to 0.5 s, and it decays to about 0.35 s by the
    // next exchange: above the RTT.
    auto cc = make("peakhopper-rto");
    double t = 1;  // when the next exchange starts
    for (int i = 0; i < 40; ++i, t += 1.25) cc->on_ack(at(t + 0.25), s(0.25), 0);
    const Duration rto = cc->current_rto(at(t));
    EXPECT_GT(rto.seconds_f(), 0.3);
    // Its request is lost: the timer expires, the retransmission is answered, and Karn's
    // rule gives no sample. Without a hop, by the next exchange the RTO would have decayed
    // to its floor, SRTT + 4 RTTVAR, the RTT itself on this path: that exchange would time
    // out as its response arrives, be ambiguous too, and so would every one after it.
    const double end = t + rto.seconds_f() + 0.25;
    const Duration decayed = cc->current_rto(at(end));
    cc->on_ack(at(end), s(end - t), 1);
    near(cc->current_rto(at(end)), decayed * 2);  // hopped to the backed-off timer
    t = end + 1;
    for (int i = 0; i < 5; ++i, t += 1.25) {
        EXPECT_GT(cc->current_rto(at(t)).seconds_f(), 0.3) << "exchange " << i;
        cc->on_ack(at(t + 0.25), s(0.25), 0);  // the response beats the timer: a clean sample
    }
    // Two retransmissions: backed off twice.
    const Duration before = cc->current_rto(at(t + 1));
    cc->on_ack(at(t + 1), s(1), 2);
    near(cc->current_rto(at(t + 1)), before * 4);
}

TEST(Congestion, PeakHopperHopsAndDecays) {
    auto cc = make("peakhopper-rto");
    cc->on_ack(at(1), s(1), 0);
    // Floor SRTT + 4 RTTVAR = 1 + 2 = 3; hop level 2 x 1 = 2.
    near(cc->current_rto(at(1)), s(3));
    // A 5 s spike hops the RTO to 10 s at once.
    cc->on_ack(at(2), s(5), 0);
    near(cc->current_rto(at(2)), s(10));
    // SRTT = 1.5 s, half-life 12 s: after 12 s the hop is 5 s, below the floor
    // SRTT + 4 RTTVAR = 1.5 + 4 * 1.375 = 7 s.
    near(cc->current_rto(at(14)), s(7));
    EXPECT_LT(cc->current_rto(at(8)), s(10));
    EXPECT_GT(cc->current_rto(at(8)), s(7));
}

TEST(Congestion, EachStrategySaysWhichAcksItTookAsRttSamples) {
    // (strategy, retransmissions of the acknowledged exchange, sample taken?)
    const struct {
        const char* name;
        unsigned retransmissions;
        bool taken;
    } cases[] = {
        {"default", 0, false},        {"default", 2, false},
        {"cocoa", 0, true},           {"cocoa", 2, true},  // weak estimator (cocoa-03 §4.2.1)
        {"cocoa", 3, false},          {"cocoa-strong", 0, true},
        {"cocoa-strong", 1, false},   {"fasor", 0, true},
        {"fasor", 4, true},  // SlowRTO from the ambiguous ACK time
        {"linux-rto", 0, true},       {"linux-rto", 1, false},  // Karn
        {"peakhopper-rto", 0, true},  {"peakhopper-rto", 1, false},
    };
    for (const auto& c : cases) {
        auto cc = make(c.name);
        EXPECT_EQ(cc->on_ack(at(1), s(0.5), c.retransmissions), c.taken) << c.name << " " << c.retransmissions;
    }
}

TEST(Congestion, CocoaBacksOffByItsInitialRtoOrPerStep) {
    // A fresh endpoint, no dither: the first timeout is the blind 2 s (cocoa-03 §4.2).
    const coap::FirstTimeout f{s(2), s(2), 0};
    // Californium: the factor is fixed from the exchange's initial RTO (2 s -> x2).
    auto initial = make("cocoa");
    EXPECT_EQ(initial->next_timeout(at(0), f, s(2), 1), s(4));
    EXPECT_EQ(initial->next_timeout(at(0), f, s(4), 2), s(8));
    EXPECT_EQ(initial->next_timeout(at(0), f, s(8), 3), s(16));
    // Per step (TransmissionParams::cocoa_vbf_per_step): by the timeout that expired,
    // 2 s -> x2, then above 3 s -> x1.5: 2, 4, 6, 9 s, the third retransmission at 12 s.
    coap::TransmissionParams p;
    p.cocoa_vbf_per_step = true;
    auto step = coap::make_congestion_control("cocoa", p);
    EXPECT_EQ(step->next_timeout(at(0), f, s(2), 1), s(4));
    EXPECT_EQ(step->next_timeout(at(0), f, s(4), 2), s(6));
    EXPECT_EQ(step->next_timeout(at(0), f, s(6), 3), s(9));
}
