// The forward proxy in the simulator ([proxy], sim/model/coap-proxy.h): the cache, the
// poisoning and loop attacks, observers behind the proxy, pass-through block-wise and the
// proxy's Echo, each checked on a whole run. CTest runs every TEST in its own process, and
// each TEST runs at most one simulation per configuration (ns-3 keeps global state).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "sim_test_util.h"

namespace {

using coapbed::test::error_of;
using coapbed::test::run;
using coapbed::test::u;

/// The head of the proxy sim tests' scenarios: `clients` on the 50 kbit/s, 50 ms dumbbell
/// for `duration` seconds, seed 1; the caller appends its tables.
std::string dumbbell_scenario(const std::string& name, int duration, int clients) {
    return "name = \"" + name + "\"\nduration = " + std::to_string(duration) +
           "\nseeds = [1]\n[topology]\nkind = \"dumbbell\"\nclients = " + std::to_string(clients) +
           "\nrate = \"50kbps\"\ndelay = \"50ms\"\n";
}

std::string proxy_run(const std::string& cache, const std::string& max_age) {
    return dumbbell_scenario("proxy", 60, 10) + std::string(R"([workload]
interval = 1.0
resources = 20
zipf = 0.8
max_age = )") + max_age + R"(
[proxy]
enabled = true
cache = )" + cache + "\n";
}

// `clients` observers of the origin's /obs (`bytes` long, changing every 5 s) for 60 s,
// directly or through the proxy on their router.
nlohmann::ordered_json observe_run(int clients, int bytes, bool proxy, bool etag = false) {
    return run(dumbbell_scenario("observe", 60, clients) + "[workload]\nobserve = true\ninterval = 5.0\nresponse = " +
               std::to_string(bytes) + "\netag = " + (etag ? "true" : "false") + "\n[proxy]\nenabled = " +
               (proxy ? "true" : "false") + "\n");
}

}  // namespace

TEST(SimProxy, EveryRequestGoesThroughTheProxyAndTheCacheSavesUpstreamRequests) {
    // Without a cache every request the proxy gets goes upstream once; with one (Max-Age
    // 60 s) most are served at the clients' router and the origin sees few.
    const auto off = run(proxy_run("false", "60"));
    const auto on = run(proxy_run("true", "60"));
    for (const auto* doc : {&off, &on}) {
        const auto& m = doc->at("metrics");
        EXPECT_GT(u(m, "exchanges_completed"), 100u);
        EXPECT_EQ(u(m, "exchanges_failed"), 0u);
        EXPECT_EQ(u(m, "proxy_requests"), u(m, "exchanges_completed"));  // no loss: one request each
        EXPECT_EQ(u(m, "origin_requests"), u(m, "upstream_requests"));
        EXPECT_EQ(u(m, "proxy_gateway_errors"), 0u);
    }
    const auto& moff = off.at("metrics");
    const auto& mon = on.at("metrics");
    EXPECT_EQ(u(moff, "upstream_requests"), u(moff, "proxy_requests"));
    EXPECT_EQ(u(moff, "proxy_hits"), 0u);
    EXPECT_GT(mon.at("proxy_hit_ratio").get<double>(), 0.6);
    EXPECT_LT(u(mon, "upstream_requests") * 2, u(mon, "proxy_requests"));
    EXPECT_LT(u(mon, "upstream_bytes"), u(moff, "upstream_bytes"));
    EXPECT_EQ(u(mon, "proxy_hits") + u(on.at("proxy"), "misses"), u(mon, "proxy_requests"));
    // The clients' times of hits and misses (PROXY.md §6.10): a hit never crosses the
    // bottleneck (100 ms round trip), a miss does; without a cache there is no hit.
    EXPECT_LT(mon.at("latency_hit_p95_s").get<double>(), 0.05);
    EXPECT_GT(mon.at("latency_miss_p50_s").get<double>(), 0.1);
    EXPECT_TRUE(moff.at("latency_hit_p50_s").is_null());
    EXPECT_GT(moff.at("latency_miss_p50_s").get<double>(), 0.1);
}

TEST(SimProxy, MaxAgeZeroIsNeverReusedAndTheKeysAreChecked) {
    const auto doc = run(proxy_run("true", "0"));
    const auto& m = doc.at("metrics");
    EXPECT_EQ(u(m, "proxy_hits"), 0u);
    EXPECT_EQ(u(doc.at("proxy"), "cache_stored"), 0u);
    EXPECT_GT(u(doc.at("proxy"), "cache_refused_no_freshness"), 0u);
    EXPECT_EQ(error_of("name = \"p\"\nseeds = [1]\n[topology]\nkind = \"sixlowpan\"\n[proxy]\nenabled = true\n"),
              "bad.toml: proxy.enabled: the proxy runs on the dumbbell topology (the clients' router)");
    EXPECT_EQ(error_of("name = \"p\"\nseeds = [1]\n[proxy]\nhop_limit = 0\n"),
              "bad.toml: proxy.hop_limit: 0 is out of range (must be between 1 and 255)");
}

namespace {

/// The poisoning network of the sim tests: 10 clients through the proxy, an attacker
/// forging `rate` responses a second of `vector` "from" the origin.
std::string forged_responses_scenario(const std::string& vector, int duration, int token_length, double rate,
                                      const std::string& port) {
    return dumbbell_scenario("poison", duration, 10) + R"([workload]
interval = 1.0
resources = 50
max_age = 10
[proxy]
enabled = true
token_length = )" + std::to_string(token_length) + R"(
upstream_port = ")" + port + R"("
[attack]
vector = ")" + vector + R"("
rate = )" + std::to_string(rate) + "\n";
}

}  // namespace

TEST(SimProxy, ForgedSeparateResponsesPoisonAtTheAnalyticRateAndNeverWithEightByteTokensOrPerExchangePorts) {
    // PROXY.md §3.1: a forged response is accepted when its random token is that of an
    // upstream exchange in flight: with 1-byte tokens about rate x live seconds / 256 of
    // them (within the Poisson 95 % interval), with 8-byte tokens none.
    auto poisoning = [](int token_length, const char* port = "fixed") {
        return run(forged_responses_scenario("spoofed-separate", 60, token_length, 200, port));
    };
    const auto one = poisoning(1);
    const auto& m1 = one.at("metrics");
    const double expected = m1.at("poison_expected").get<double>();
    const double accepted = m1.at("poisoned_accepted").get<double>();
    EXPECT_GT(expected, 10.0);
    EXPECT_GE(accepted, expected - 1.96 * std::sqrt(expected));
    EXPECT_LE(accepted, expected + 1.96 * std::sqrt(expected));
    EXPECT_GT(u(m1, "forged_accepted"), 0u);  // and the clients were served the forgeries
    const auto eight = poisoning(8);
    EXPECT_EQ(u(eight.at("metrics"), "poisoned_accepted"), 0u);
    EXPECT_EQ(u(eight.at("metrics"), "forged_accepted"), 0u);
    EXPECT_LT(eight.at("metrics").at("poison_expected").get<double>(), 1e-12);
    // A random port per upstream exchange (RFC 6056): a forgery must name the port too,
    // 1 of 16384, so even 1-byte tokens are not guessed; the clients are served as with
    // the fixed port (the router limits its ICMP port-unreachables to the forged source;
    // without that limit they fill the bottleneck and most exchanges fail).
    const auto spread = poisoning(1, "per-exchange");
    const auto& ms = spread.at("metrics");
    EXPECT_EQ(u(ms, "poisoned_accepted"), 0u);
    EXPECT_EQ(u(ms, "forged_accepted"), 0u);
    EXPECT_NEAR(ms.at("poison_expected").get<double>() * 16384.0 / expected,
                ms.at("upstream_live_s").get<double>() / m1.at("upstream_live_s").get<double>(), 1e-9);
    EXPECT_GT(u(ms, "upstream_ports_peak"), 1u);
    EXPECT_EQ(u(m1, "upstream_ports_peak"), 0u);
    EXPECT_GE(u(ms, "exchanges_completed"), u(eight.at("metrics"), "exchanges_completed") * 95 / 100);
    EXPECT_EQ(u(ms, "exchanges_failed"), 0u);
}

TEST(SimProxy, ForgedPiggybackedResponsesMustAlsoGuessTheMessageIdAndNeverStallTheProxy) {
    // PROXY.md §3.1, as ACKs: a forged piggybacked response counts only with the Message
    // ID of the proxy's CON awaiting its ACK as well as its token (RFC 7252 §5.3.2): with
    // no token about rate x live s / 65536 are taken; with a 1-byte token none, and the
    // forged ACKs whose MID alone is right do not stall the proxy's upstream lane.
    auto piggy = [](int token_length, double rate, bool random_mid = true) {
        std::string text = forged_responses_scenario("spoofed-piggybacked", 120, token_length, rate, "fixed");
        if (!random_mid) text += "[coap]\nrandom_mid = false\n";
        return run(text);
    };
    const auto none = piggy(0, 2000);
    const auto& m0 = none.at("metrics");
    const double e = m0.at("poison_expected").get<double>();
    EXPECT_NEAR(e * 65536.0 / 2000.0, m0.at("upstream_live_s").get<double>(), 1e-6);
    EXPECT_GT(e, 1.0);
    const double accepted = m0.at("poisoned_accepted").get<double>();
    EXPECT_GE(accepted, e - 1.96 * std::sqrt(e));
    EXPECT_LE(accepted, e + 1.96 * std::sqrt(e));
    const auto one = piggy(1, 2000);
    const auto quiet = piggy(1, 0.001);
    // Expected 0.005 (a 1-in-200 chance of one; this seed has it): without the MID, 2000 x
    // 40 s / 256 = about 300 would be.
    EXPECT_LT(one.at("metrics").at("poison_expected").get<double>(), 0.01);
    EXPECT_LE(u(one.at("metrics"), "poisoned_accepted"), 1u);
    EXPECT_GE(u(one.at("metrics"), "exchanges_completed"), u(quiet.at("metrics"), "exchanges_completed") * 98 / 100);
    EXPECT_EQ(u(one.at("metrics"), "exchanges_failed"), 0u);
    // MIDs that count up from 0 (RFC 7252 §4.4 not followed): an attacker who guesses below
    // what the proxy can have used gets many more accepted without a token.
    const auto sequential = piggy(0, 200, false);
    const auto random = piggy(0, 200, true);
    EXPECT_GE(u(sequential.at("metrics"), "poisoned_accepted"), 10u);
    EXPECT_GE(u(sequential.at("metrics"), "poisoned_accepted"), 10 * (u(random.at("metrics"), "poisoned_accepted") + 1));
    EXPECT_TRUE(sequential.at("metrics").at("poison_expected").is_null());
}

TEST(SimProxy, ObserversBehindTheProxyShareOneUpstreamRegistration) {
    // RFC 7641 §5: 10 clients observe the origin's /obs (changing every 5 s) for 60 s,
    // directly or through the proxy on their router: through it one registration and one
    // notification per change cross the bottleneck, and every client still gets them all.
    const auto direct = observe_run(10, 64, false);
    const auto via = observe_run(10, 64, true);
    const auto& md = direct.at("metrics");
    const auto& mv = via.at("metrics");
    EXPECT_GE(u(md, "notifications_received"), 10u * 10u);  // about 11 changes each
    EXPECT_GE(u(mv, "notifications_received"), u(md, "notifications_received") - 10);
    EXPECT_EQ(u(via.at("proxy"), "observe_registrations"), 1u);
    EXPECT_EQ(u(via.at("proxy"), "observe_joined"), 9u);
    EXPECT_LT(u(mv, "bottleneck_bytes") * 5, u(md, "bottleneck_bytes"));
    EXPECT_EQ(error_of("name = \"o\"\nseeds = [1]\n[workload]\nobserve = true\nmethod = \"PUT\"\n"),
              "bad.toml: workload.observe: observers are closed-loop GET clients (one registration each)");
}

TEST(SimProxy, ALargeObservedRepresentationIsFetchedBlockwiseDirectlyAndThroughTheProxy) {
    // RFC 7959 §2.6: /obs is 3000 bytes (three blocks): every notification's other blocks
    // are fetched before it counts. 5 observers for 60 s, about 11 changes each; through the
    // proxy its cache serves the clients' block GETs and one copy crosses the bottleneck.
    // (Before the client kept the first block's Observe value, no notification counted.)
    const auto direct = observe_run(5, 3000, false);
    const auto via = observe_run(5, 3000, true);
    for (const auto* doc : {&direct, &via}) {
        const auto& m = doc->at("metrics");
        EXPECT_GE(u(m, "notifications_received"), 5u * 10u);
        EXPECT_EQ(u(m, "exchanges_failed"), 0u);
    }
    EXPECT_EQ(u(via.at("proxy"), "observe_registrations"), 1u);
    EXPECT_LT(u(via.at("metrics"), "bottleneck_bytes") * 3, u(direct.at("metrics"), "bottleneck_bytes"));
}

TEST(SimProxy, WithoutAnETagSaturatedObserversGetBodiesMixingTwoStates) {
    // 20 observers of a 3000-byte /obs changing every 5 s pull more than the 50 kbit/s
    // bottleneck carries: notifications queue and drop, and a client that did not see a
    // change fetches the later blocks of a newer state. Without an ETag nothing shows it
    // and the body mixes two states (notifications_mixed counts them from the simulated
    // content); with one, the client sees the change (RFC 7959 §2.6) and delivers no such
    // body; through the proxy one copy crosses and nothing mixes.
    const auto plain = observe_run(20, 3000, false, false);
    const auto tagged = observe_run(20, 3000, false, true);
    const auto via = observe_run(20, 3000, true, true);
    EXPECT_GT(u(plain.at("metrics"), "notifications_mixed"), 0u);
    EXPECT_EQ(u(tagged.at("metrics"), "notifications_mixed"), 0u);
    EXPECT_EQ(u(via.at("metrics"), "notifications_mixed"), 0u);
    EXPECT_GE(u(via.at("metrics"), "notifications_received"), 20u * 8u);
}

TEST(SimProxy, HopLimitEndsALoopBetweenTwoProxiesAfterTheInitialCount) {
    // Two proxies that name each other as next hop for loop.example: with Hop-Limit every
    // looping request makes 16 forwards and comes back 5.08; without it the request goes
    // around once, then waits on its own earlier pass (coalescing) and is never answered.
    auto loop = [](bool honour) {
        return run(dumbbell_scenario("loop", 60, 4) + std::string(R"([workload]
interval = 1.0
resources = 10
[proxy]
enabled = true
honour_hop_limit = )") + (honour ? "true" : "false") + R"(
[attack]
vector = "proxy-loop"
rate = 0.05
)");
    };
    const auto with = loop(true);
    const auto& m = with.at("metrics");
    ASSERT_GT(u(m, "loop_injected"), 0u);
    EXPECT_EQ(u(m, "loop_answered"), u(m, "loop_injected"));
    EXPECT_EQ(u(m, "loop_5_08"), u(m, "loop_injected"));
    EXPECT_EQ(u(m, "loop_forwards"), 16 * u(m, "loop_injected"));
    EXPECT_EQ(u(m, "exchanges_failed"), 0u);  // the other clients never notice
    // At least a request and an answer per forward cross between the proxies, and the
    // loop ends within seconds (each hop paced by the next proxy's 1 s ACK delay).
    EXPECT_GE(m.at("loop_datagrams_per_request").get<double>(), 32.0);
    EXPECT_LT(m.at("loop_settle_p50_s").get<double>(), 16 * (1.0 + 0.2));
    const auto without = loop(false);
    EXPECT_EQ(u(without.at("metrics"), "loop_answered"), 0u);
    EXPECT_GT(without.at("metrics").at("loop_settle_p50_s").get<double>(), 90.0);  // given up
    EXPECT_EQ(u(without.at("metrics"), "loop_forwards"), 2 * u(without.at("metrics"), "loop_injected"));
}

TEST(SimProxy, ForgedRequestsForALargeBodyCostOneBlockUpstreamPassedThroughAndTheBodyStored) {
    // PROXY.md §3.4 (b): forged GETs (no Block2, i.e. block 0) for a 64 KiB resource
    // through the caching proxy. Store-and-forward fetches the whole body (64 blocks) once
    // per freshness period; pass-through fetches block 0 once and serves it from the cache.
    auto large = [](const char* mode) {
        return run(dumbbell_scenario("upstream", 30, 2) + std::string(R"([workload]
max_age = 60
[proxy]
enabled = true
blockwise = ")") + mode + R"("
[attack]
vector = "proxy-large-get"
rate = 10
resource = 65536
)");
    };
    const auto stored = large("store-and-forward");
    const auto passed = large("pass-through");
    const auto& ms = stored.at("metrics");
    const auto& mp = passed.at("metrics");
    ASSERT_GT(u(ms, "attacker_packets"), 200u);
    // At least the 64 blocks of the body upstream once, and not twice within Max-Age.
    EXPECT_GE(u(ms, "upstream_bytes"), 65536u);
    EXPECT_LT(u(ms, "upstream_bytes"), 2u * 65536u + 20000u);
    // One block of 1 KiB upstream, the rest from the cache: a tenth or less.
    EXPECT_LT(u(mp, "upstream_bytes") * 10, u(ms, "upstream_bytes"));
    EXPECT_GE(u(passed.at("proxy"), "cache_stored"), 1u);
    EXPECT_GE(u(mp, "exchanges_completed"), u(ms, "exchanges_completed"));
}

TEST(SimProxy, TheProxysEchoHoldsReflectionThroughItToTheThreefoldRule) {
    // Spoofed Proxy-Uri GETs of a cached 1 KiB resource: the proxy answers each from its
    // cache to the victim (about 16x the attacker's bytes at IP); with Echo on the proxy's
    // client side (RFC 9175 §2.4) no more than 3x reaches the victim.
    auto reflect = [](bool echo) {
        return run(dumbbell_scenario("reflect", 30, 2) + std::string(R"([proxy]
enabled = true
[attack]
vector = "proxy-large-get"
rate = 10
resource = 1024
[defence]
echo = )") + (echo ? "true" : "false") + "\n");
    };
    const auto off = reflect(false);
    const auto on = reflect(true);
    EXPECT_GT(off.at("metrics").at("amplification_bytes").get<double>(), 10.0);
    EXPECT_LE(on.at("metrics").at("amplification_bytes").get<double>(), 3.0);
    EXPECT_LE(on.at("metrics").at("amplification_coap").get<double>(), 3.0);
    EXPECT_EQ(u(on.at("metrics"), "exchanges_failed"), 0u);
}
