// The findings scenarios, scaled down: each TEST asserts the direction the full run in
// scenarios/findings/ shows, so that a change to a strategy that breaks a finding breaks
// CI. One simulation per TEST (CTest runs each in its own process).
#include <gtest/gtest.h>

#include <string>

#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"

namespace {

/// The metrics of the one run a scenario text describes.
nlohmann::ordered_json metrics_of(const std::string& toml) {
    const auto sc = coapbed::sim::parse_scenario(toml, "finding.toml");
    return coapbed::sim::simulate(sc, sc.runs.front(), {}).at("metrics");
}

/// scenarios/findings/f2-cocoa-short-lived.toml at one round trip, one strategy, one seed.
nlohmann::ordered_json f2(const std::string& one_way_delay, const std::string& congestion) {
    const std::string toml = R"(
name = "f2"
duration = 300
seeds = [3]
[topology]
clients = 4
rate = "50kbps"
delay = )" + one_way_delay + R"(
queue = 2000
[workload]
arrival = "short-lived"
interval = 20.0
exchanges_per_client = 3
[coap]
congestion = ")" + congestion + "\"\n";
    return metrics_of(toml);
}

double per_exchange(const nlohmann::ordered_json& m, const char* k) {
    return m.at(k).get<double>() / m.at("exchanges_started").get<double>();
}

TEST(FindingF2, BelowTheCliffCocoaTakesASampleFromEveryExchange) {
    const auto m = f2("5", "cocoa");  // a 10 s round trip: ACKs come after at most 2 retransmissions
    ASSERT_GT(m.at("exchanges_started").get<int>(), 30);
    EXPECT_DOUBLE_EQ(per_exchange(m, "rtt_samples"), 1.0);
    EXPECT_LT(per_exchange(m, "retransmissions"), 1.5);  // the weak estimator adapts
}

TEST(FindingF2, BeyondTheCliffCocoaTakesNoSampleAndRetransmitsLikeDefault) {
    const auto m = f2("15", "cocoa");  // 30 s: every ACK after the third retransmission
    ASSERT_GT(m.at("exchanges_started").get<int>(), 30);
    EXPECT_EQ(m.at("rtt_samples").get<int>(), 0);
    EXPECT_DOUBLE_EQ(per_exchange(m, "retransmissions"), 3.0);  // default's n(30 s) = 3
    EXPECT_DOUBLE_EQ(per_exchange(m, "spurious_retransmissions"), 3.0);
    EXPECT_EQ(m.at("exchanges_failed").get<int>(), 0);
}

TEST(FindingF2, FasorRecoversFromEachClientsSecondExchange) {
    const auto m = f2("15", "fasor");
    ASSERT_GT(m.at("exchanges_started").get<int>(), 30);
    // The first exchange is blind (3 retransmissions), the next two are not: 4/3.
    EXPECT_GT(per_exchange(m, "retransmissions"), 1.2);
    EXPECT_LT(per_exchange(m, "retransmissions"), 1.5);
}



/// scenarios/findings/f1-default-bufferbloat.toml scaled down: 100 clients on 5 kbit/s
/// give the queueing delay 400 clients give on 20 kbit/s.
nlohmann::ordered_json f1(const std::string& congestion) {
    const std::string toml = R"(
name = "f1"
duration = 400
seeds = [3]
[topology]
access = "switch"
clients = 100
rate = "5kbps"
delay = "50ms"
queue = 2000
[workload]
interval = 1.0
response = 16
[coap]
congestion = ")" + congestion + "\"\n";
    return metrics_of(toml);
}

TEST(FindingF1, DefaultCollapsesBehindABloatedBuffer) {
    const auto m = f1("default");
    EXPECT_GE(per_exchange(m, "spurious_retransmissions"), 3.0);
    EXPECT_LE(m.at("useful_fraction").get<double>(), 0.30);
    EXPECT_EQ(m.at("queue_drops").get<int>(), 0);  // the buffer holds every copy
}

TEST(FindingF1, CocoaAdaptsToTheQueueingDelay) {
    const auto m = f1("cocoa");
    EXPECT_LE(per_exchange(m, "spurious_retransmissions"), 1.0);
    EXPECT_GE(m.at("useful_fraction").get<double>(), 0.6);
}

TEST(FindingF1, FasorAvoidsTheCollapse) {
    const auto m = f1("fasor");
    EXPECT_LE(per_exchange(m, "spurious_retransmissions"), 0.5);
    EXPECT_GE(m.at("useful_fraction").get<double>(), 0.8);
}



/// scenarios/findings/f3-lossy-link.toml at 20 % bursty loss, one seed. Over its 10 seeds
/// the mean completion times lie in 1.71-3.99 s (default), 0.69-1.23 s (cocoa) and
/// 0.26-0.40 s (fasor): the bounds below sit between those ranges.
double f3_completion(const std::string& congestion) {
    const std::string toml = R"(
name = "f3"
duration = 300
seeds = [3]
[topology]
clients = 5
rate = "250kbps"
delay = "50ms"
queue = 50
loss = 0.2
loss_model = "gilbert-elliott"
burst = 2
[workload]
interval = 1.0
response = 64
[coap]
congestion = ")" + congestion + "\"\n";
    return metrics_of(toml).at("completion_mean_s").get<double>();
}

TEST(FindingF3, DefaultWaitsAtLeastTwoSecondsAfterEachLoss) { EXPECT_GT(f3_completion("default"), 1.4); }

TEST(FindingF3, CocoaLiesBetween) {
    const double t = f3_completion("cocoa");
    EXPECT_LT(t, 1.4);
    EXPECT_GT(t, 0.5);
}

TEST(FindingF3, FasorRetransmitsSoonAfterALoss) { EXPECT_LT(f3_completion("fasor"), 0.5); }

}  // namespace

namespace {

/// scenarios/findings/f6-small-buffers.toml at 200 clients and a 1-BDP queue, 60 s, one seed.
nlohmann::ordered_json f6(const std::string& congestion) {
    return metrics_of(R"(
name = "f6"
duration = 60
seeds = [3]
[topology]
clients = 200
rate = "50kbps"
delay = "100ms"
queue = 10
[workload]
interval = 0.1
response = 64
[coap]
congestion = ")" + congestion + "\"\n");
}

double completed(const nlohmann::ordered_json& m) { return m.at("exchanges_completed").get<double>(); }

TEST(FindingF6, AtSaturationCocoaCompletesAsMuchAsDefault) {
    const double d = completed(f6("default")), c = completed(f6("cocoa"));
    EXPECT_NEAR(c / d, 1.0, 0.01) << "cocoa " << c << ", default " << d;
}

TEST(FindingF6, LinuxRtoCompletesLessAndStarvesClients) {
    const auto d = f6("default"), l = f6("linux-rto");
    EXPECT_LT(completed(l), 0.99 * completed(d));
    EXPECT_GT(per_exchange(l, "exchanges_failed"), 2 * per_exchange(d, "exchanges_failed"));
    EXPECT_LT(l.at("jain_fairness").get<double>(), 0.6 * d.at("jain_fairness").get<double>());
}

TEST(FindingF6, PeakHopperCompletesLessAndStarvesClients) {
    const auto d = f6("default"), p = f6("peakhopper-rto");
    EXPECT_LT(completed(p), 0.99 * completed(d));
    EXPECT_LT(p.at("jain_fairness").get<double>(), 0.6 * d.at("jain_fairness").get<double>());
}

}  // namespace

namespace {

/// scenarios/findings/f5-bursty-few-clients.toml without extra loss: spurious copies summed
/// over three seeds (one seed holds a handful).
double f5_spurious(int clients, const std::string& congestion) {
    double sum = 0;
    for (const int seed : {1, 2, 3}) {
        sum += metrics_of(R"(
name = "f5"
duration = 300
seeds = [)" + std::to_string(seed) + R"(]
[topology]
kind = "sixlowpan"
clients = )" + std::to_string(clients) + R"(
hops = 3
[workload]
arrival = "on-off"
on = 10
off = 50
interval = 0.0
response = 200
[coap]
congestion = ")" + congestion + "\"\n")
                   .at("spurious_retransmissions")
                   .get<double>();
    }
    return sum;
}

TEST(FindingF5, OneBurstyClientDefaultNeverRetransmitsSpuriouslyCocoaDoes) {
    EXPECT_EQ(f5_spurious(1, "default"), 0);
    EXPECT_GT(f5_spurious(1, "cocoa"), 0);
}

TEST(FindingF5, ThreeBurstyClientsCocoaRetransmitsSpuriouslyMoreThanDefault) {
    EXPECT_GT(f5_spurious(3, "cocoa"), f5_spurious(3, "default"));
}

}  // namespace

namespace {

/// scenarios/findings/f4-sixlowpan-burst.toml at one loss and strategy, summed over three seeds.
struct F4 {
    double completed = 0, settling = 0;
};
F4 f4(const std::string& loss, const std::string& congestion) {
    F4 sum;
    for (const int seed : {2, 3, 4}) {
        const auto m = metrics_of(R"(
name = "f4"
duration = 200
seeds = [)" + std::to_string(seed) + R"(]
[topology]
kind = "sixlowpan"
clients = 5
hops = 3
loss = )" + loss + R"(
[workload]
interval = 2.0
response = 32
burst = 10
burst_at = 100
[coap]
congestion = ")" + congestion + "\"\n");
        sum.completed += m.at("exchanges_completed").get<double>();
        sum.settling += m.at("burst_settling_s").get<double>();
    }
    return sum;
}

TEST(FindingF4, AtFivePercentLossCocoaCompletesMoreThanDefault) {
    EXPECT_GT(f4("0.05", "cocoa").completed, 1.1 * f4("0.05", "default").completed);
}

TEST(FindingF4, AtTenPercentLossLinuxRtoSettlesTheBurstLaterThanDefault) {
    EXPECT_GT(f4("0.1", "linux-rto").settling, 1.3 * f4("0.1", "default").settling);
}

}  // namespace
