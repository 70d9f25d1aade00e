// DTLS in the simulator ([security], issue #19): the scenario keys, every mode's handshake
// and records on a simulated path, what HelloVerifyRequest costs, reproducibility from the
// seed, 6LoWPAN's fragmentation of handshake flights.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"
#include "sim_test_util.h"

namespace {

using coapbed::sim::parse_scenario;

std::string scenario(const std::string& security, const std::string& topology = "") {
    return R"(
name = "dtls"
duration = 20
seeds = [5]
[topology]
kind = "dumbbell"
clients = 3
rate = "50kbps"
delay = "100ms"
)" + topology + R"(
[workload]
interval = 1.0
response = 100
[security]
)" + security + "\n";
}

using coapbed::test::error_of;
using coapbed::test::run;
using coapbed::test::u;

double d(const nlohmann::ordered_json& m, const char* k) { return m.at(k).get<double>(); }

TEST(SimDtls, SecurityKeysAreParametersOnlyOfFilesWithTheTable) {
    const auto with = parse_scenario(scenario("mode = [\"nosec\", \"psk\", \"rpk\", \"certificate\"]\nhello_verify = false"), "a.toml");
    ASSERT_EQ(with.runs.size(), 4u);
    EXPECT_EQ(with.axes, std::vector<std::string>{"mode"});
    EXPECT_EQ(with.runs[2].id, "mode-rpk_seed-5");
    bool mode = false, hv = false;
    for (const auto& [k, v] : with.runs[2].params) {
        mode = mode || (k == "security.mode" && std::get<std::string>(v) == "rpk");
        hv = hv || (k == "security.hello_verify" && !std::get<bool>(v));
    }
    EXPECT_TRUE(mode && hv);
    const auto without = parse_scenario("name = \"b\"\nseeds = [1]\n", "b.toml");
    for (const auto& [k, v] : without.runs[0].params) EXPECT_EQ(k.rfind("security.", 0), std::string::npos) << k;
    const std::string head = "name = \"x\"\nseeds = [1]\n";
    EXPECT_EQ(error_of(head + "[security]\nmode = \"tls\"\n").rfind("bad.toml: security.mode: \"tls\" is not one of", 0), 0u);
    EXPECT_EQ(error_of(head + "[security]\nmode = \"psk\"\n[proxy]\nenabled = true\n"),
              "bad.toml: security.mode: DTLS does not run through the [proxy]");
    EXPECT_EQ(error_of(head + "[security]\nmode = \"rpk\"\n[attack]\nvector = \"large-get\"\n"),
              "bad.toml: security.mode: DTLS runs without an [attack]");
}

TEST(SimDtls, EveryModeHandshakesOnceAndCarriesTheWorkloadInRecords) {
    const auto plain = run(scenario("mode = \"nosec\""));
    const auto& pm = plain.at("metrics");
    EXPECT_TRUE(pm.at("handshakes_started").is_null());
    EXPECT_TRUE(pm.at("handshake_bytes").is_null());
    EXPECT_FALSE(plain.contains("dtls"));
    double bytes[3] = {0, 0, 0};
    int i = 0;
    for (const char* mode : {"psk", "rpk", "certificate"}) {
        SCOPED_TRACE(mode);
        const auto doc = run(scenario(std::string("mode = \"") + mode + "\""));
        const auto& m = doc.at("metrics");
        EXPECT_EQ(u(m, "handshakes_started"), 3u);  // one per client, with its server
        EXPECT_EQ(u(m, "handshakes_completed"), 3u);
        EXPECT_EQ(u(m, "handshakes_failed"), 0u);
        EXPECT_EQ(u(m, "exchanges_failed"), 0u);
        // The handshake delays each client's first request; then the same closed loop.
        EXPECT_GE(u(m, "exchanges_completed") + 6, u(pm, "exchanges_completed"));
        // Three round trips of 200 ms at least (HelloVerifyRequest, the key exchange, Finished).
        EXPECT_GT(d(m, "handshake_p50_s"), 0.6);
        EXPECT_LT(d(m, "handshake_p95_s"), 3.0);
        // Every CoAP datagram of either side went as one TLS_..._CCM_8 record: 29 bytes more.
        EXPECT_EQ(u(m, "dtls_record_overhead_bytes"), 29 * doc.at("engine").at("messages_sent").get<std::uint64_t>());
        EXPECT_EQ(doc.at("dtls").at("plaintext_dropped"), 0);
        EXPECT_EQ(doc.at("dtls").at("hello_verify_requests"), 3);
        bytes[i++] = d(m, "handshake_bytes");
    }
    // A raw key (91 bytes) per side costs more than a PSK identity, a certificate more still.
    EXPECT_LT(bytes[0], bytes[1]);
    EXPECT_LT(bytes[1], bytes[2]);
}

TEST(SimDtls, WithoutHelloVerifyRequestAHandshakeIsARoundTripShorter) {
    const auto with = run(scenario("mode = \"psk\"\nhello_verify = true")).at("metrics");
    const auto without = run(scenario("mode = \"psk\"\nhello_verify = false")).at("metrics");
    const double saved = d(with, "handshake_p50_s") - d(without, "handshake_p50_s");
    EXPECT_GT(saved, 0.2);   // 2 x 100 ms and the cookie flights' serialisation at 50 kbit/s
    EXPECT_LT(saved, 0.35);
    EXPECT_LT(d(without, "handshake_bytes"), d(with, "handshake_bytes"));
}

TEST(SimDtls, TheSameSeedGivesTheSameRunEvenWithLoss) {
    for (const char* mode : {"psk", "rpk"}) {
        const std::string toml = scenario(std::string("mode = \"") + mode + "\"", "loss = 0.1");
        auto a = run(toml), b = run(toml);
        a["metrics"].erase("wall_seconds");
        b["metrics"].erase("wall_seconds");
        EXPECT_EQ(a.at("metrics"), b.at("metrics")) << mode;
        EXPECT_EQ(a.at("dtls"), b.at("dtls")) << mode;
        EXPECT_GT(u(a.at("metrics"), "retransmissions"), 0u) << mode;  // the loss did something
        // Every handshake either completed or is counted as failed (unfinished ones too).
        EXPECT_EQ(u(a.at("metrics"), "handshakes_started"),
                  u(a.at("metrics"), "handshakes_completed") + u(a.at("metrics"), "handshakes_failed"));
    }
}

TEST(SimDtls, HandshakeFlightsCrossAThreeHop6LowpanChainInFragments) {
    // Records up to the 1280-byte IPv6 MTU; a certificate flight of ~1 kB crosses the
    // 127-byte 802.15.4 frames as 6LoWPAN fragments, and the handshake still completes.
    const auto doc = run(R"(
name = "lowpan"
duration = 20
seeds = [1]
[topology]
kind = "sixlowpan"
clients = 1
hops = 3
[workload]
interval = 2.0
response = 64
[security]
mode = "certificate"
)");
    const auto& m = doc.at("metrics");
    EXPECT_EQ(u(m, "handshakes_completed"), 1u);
    EXPECT_GT(u(m, "exchanges_completed"), 5u);
    EXPECT_GT(d(m, "handshake_bytes"), 1500.0);
    EXPECT_GT(u(m, "link_bytes"), 3 * u(m, "handshake_bytes"));  // every byte crosses three radio hops
}

}  // namespace
