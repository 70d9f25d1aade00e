// `coapbed emulate`'s parts that need no root: the wire analysis (sim/emulation/wire.h),
// the command placeholders and the [emulation] table of scenario files. The emulation
// itself (namespaces, TAPs, real time) is tested by tests/emulate_test.sh (emulate.smoke).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "coap/codec/builder.h"
#include "coap/codec/message.h"
#include "coap/options/registry.h"
#include "sim/emulation/emulate.h"
#include "sim/emulation/wire.h"
#include "sim/scenario/scenario.h"

namespace {

using coapbed::emu::analyse;
using coapbed::emu::WireRecord;

constexpr std::uint32_t kServer = 0x0a030002;

std::vector<std::uint8_t> message(coap::MessageType type, coap::Code code, std::uint16_t mid,
                                  std::vector<std::uint8_t> token, std::vector<coap::OwnedOption> options = {},
                                  std::string payload = {}) {
    coap::Message m;
    m.type = type;
    m.code = code;
    m.message_id = mid;
    m.token = std::move(token);
    m.options = std::move(options);
    m.payload.assign(payload.begin(), payload.end());
    return coap::encode(m);
}

/// A datagram on client 0's TAP: out (from the client, port 40000) or in (to it).
WireRecord at_client(double t, bool out, std::vector<std::uint8_t> bytes, int tap = 0, std::uint16_t port = 40000) {
    WireRecord r;
    r.t = t;
    r.tap = tap;
    r.outbound = out;
    r.remote_addr = kServer;
    r.local_port = port;
    r.remote_port = 5683;
    r.payload = std::move(bytes);
    return r;
}

coap::OwnedOption block2(std::uint32_t num, bool more, std::uint8_t szx = 6) {
    const std::uint32_t v = (num << 4) | (more ? 8u : 0u) | szx;
    std::vector<std::uint8_t> b;
    if (v > 0xff) b.push_back(static_cast<std::uint8_t>(v >> 8));
    if (v > 0) b.push_back(static_cast<std::uint8_t>(v & 0xff));
    return {coap::options::kBlock2, b};
}

using coap::MessageType;
namespace codes = coap::codes;

TEST(EmulationWire, ExchangeTimeIsFirstRequestCopyToResponseAndCopiesAreRetransmissions) {
    const auto get = message(MessageType::Con, codes::kGet, 7, {1, 2});
    const std::vector<WireRecord> recs = {
        at_client(1.0, true, get),
        at_client(3.5, true, get),  // the same MID: a retransmission (RFC 7252 §4.5)
        at_client(3.7, false, message(MessageType::Ack, codes::kContent, 7, {1, 2}, {}, "22")),
        at_client(3.9, false, message(MessageType::Ack, codes::kContent, 7, {1, 2}, {}, "22")),  // a late copy
    };
    const auto f = analyse(recs, 1);
    EXPECT_EQ(f.started, 1u);
    EXPECT_EQ(f.completed, 1u);
    ASSERT_EQ(f.completion_s.size(), 1u);
    EXPECT_NEAR(f.completion_s[0], 2.7, 1e-9);
    EXPECT_EQ(f.client_retransmissions, 1u);
    ASSERT_EQ(f.exchanges.size(), 1u);
    EXPECT_EQ(f.exchanges[0].retransmissions, 1u);
    EXPECT_EQ(f.exchanges[0].request_bytes, get.size());
    EXPECT_EQ(f.exchanges[0].response_bytes, 4u + 2 + 1 + 2);  // header, token, marker, "22"
    EXPECT_NEAR(f.exchanges[0].completion_s, 2.7, 1e-9);
    EXPECT_EQ(f.client_bytes, 2 * get.size());
    EXPECT_EQ(f.completed_per_client, std::vector<std::uint64_t>{1});
}

TEST(EmulationWire, UnansweredRequestsFailAndSeparateResponsesMatchByToken) {
    const std::vector<WireRecord> recs = {
        at_client(0.0, true, message(MessageType::Con, codes::kGet, 1, {9})),
        at_client(0.1, false, message(MessageType::Ack, codes::kEmpty, 1, {})),  // empty ACK: not the end
        at_client(0.2, true, message(MessageType::Con, codes::kGet, 2, {8})),    // never answered
        at_client(1.1, false, message(MessageType::Con, codes::kContent, 500, {9}, {}, "late")),
    };
    const auto f = analyse(recs, 1);
    EXPECT_EQ(f.started, 2u);
    EXPECT_EQ(f.completed, 1u);
    ASSERT_EQ(f.completion_s.size(), 1u);
    EXPECT_NEAR(f.completion_s[0], 1.1, 1e-9);
    ASSERT_EQ(f.exchanges.size(), 2u);
    EXPECT_LT(f.exchanges[1].completion_s, 0);  // not completed
}

TEST(EmulationWire, ABlockwiseTransferIsOneExchangeWhateverItsTokens) {
    std::vector<WireRecord> recs;
    // Three blocks of 1024 bytes, a new token for each request (as libcoap may do).
    for (std::uint32_t n = 0; n < 3; ++n) {
        const double t = n;
        const std::uint8_t tok = static_cast<std::uint8_t>(10 + n);
        std::vector<coap::OwnedOption> req_opts;
        if (n > 0) req_opts.push_back(block2(n, false));
        recs.push_back(at_client(t, true, message(MessageType::Con, codes::kGet, static_cast<std::uint16_t>(100 + n), {tok}, req_opts)));
        recs.push_back(at_client(t + 0.5, false,
                                 message(MessageType::Ack, codes::kContent, static_cast<std::uint16_t>(100 + n), {tok},
                                         {block2(n, n < 2)}, std::string(n < 2 ? 1024 : 10, 'x'))));
    }
    // Then a new GET (no Block2): a second exchange.
    recs.push_back(at_client(5.0, true, message(MessageType::Con, codes::kGet, 200, {1})));
    recs.push_back(at_client(5.25, false, message(MessageType::Ack, codes::kContent, 200, {1}, {}, "x")));
    const auto f = analyse(recs, 1);
    EXPECT_EQ(f.started, 2u);
    EXPECT_EQ(f.completed, 2u);
    ASSERT_EQ(f.completion_s.size(), 2u);
    EXPECT_NEAR(f.completion_s[0], 2.5, 1e-9);
    EXPECT_NEAR(f.completion_s[1], 0.25, 1e-9);
    EXPECT_EQ(f.response_payload_bytes, 1024u * 2 + 10 + 1);
    EXPECT_EQ(f.exchanges.at(0).messages, 3u);
}

TEST(EmulationWire, EmptyTokensMatchThePiggybackedAckByMessageId) {
    const std::vector<WireRecord> recs = {
        at_client(0.0, true, message(MessageType::Con, codes::kGet, 1, {})),
        at_client(0.1, true, message(MessageType::Con, codes::kGet, 2, {})),
        at_client(0.3, false, message(MessageType::Ack, codes::kContent, 2, {})),
        at_client(0.6, false, message(MessageType::Ack, codes::kContent, 1, {})),
    };
    const auto f = analyse(recs, 1);
    ASSERT_EQ(f.completion_s.size(), 2u);
    EXPECT_NEAR(f.completion_s[0], 0.2, 1e-9);  // MID 2
    EXPECT_NEAR(f.completion_s[1], 0.6, 1e-9);  // MID 1
}

TEST(EmulationWire, ClientsAndPortsAreKeptApartAndResetsEndExchanges) {
    const auto get = message(MessageType::Con, codes::kGet, 5, {1});
    const std::vector<WireRecord> recs = {
        at_client(0.0, true, get, 0, 40000),
        at_client(0.0, true, get, 1, 40000),  // another client, same MID and token: not a copy
        at_client(0.1, true, get, 0, 40001),  // another port of client 0: not a copy either
        at_client(0.2, false, message(MessageType::Rst, codes::kEmpty, 5, {}), 1, 40000),
        at_client(0.4, false, message(MessageType::Ack, codes::kContent, 5, {1}), 0, 40001),
    };
    const auto f = analyse(recs, 2);
    EXPECT_EQ(f.started, 3u);
    EXPECT_EQ(f.client_retransmissions, 0u);
    EXPECT_EQ(f.reset, 1u);
    EXPECT_EQ(f.completed, 1u);
    EXPECT_NEAR(f.completion_s.at(0), 0.3, 1e-9);
    EXPECT_EQ(f.completed_per_client, (std::vector<std::uint64_t>{1, 0}));
}

TEST(EmulationWire, ServerConCopiesAndGarbageAreCounted) {
    WireRecord s;
    s.tap = -1;
    s.outbound = true;
    s.remote_addr = 0x0a040002;
    s.remote_port = 40000;
    s.local_port = 5683;
    s.payload = message(MessageType::Con, codes::kContent, 77, {3}, {}, "n");
    WireRecord junk = at_client(0.5, false, {0xff, 0x00});
    const auto f = analyse({s, s, junk}, 1);
    EXPECT_EQ(f.server_retransmissions, 1u);
    EXPECT_EQ(f.server_bytes, 2 * s.payload.size());
    EXPECT_EQ(f.not_coap, 1u);
    EXPECT_EQ(f.started, 0u);
}

TEST(EmulationWire, UdpInEthernetFramesOnlyWhole) {
    // Ethernet II + IPv4 (20 bytes) + UDP (8) + 3 payload bytes.
    std::vector<std::uint8_t> frame(14 + 20 + 8 + 3, 0);
    frame[12] = 0x08;
    frame[13] = 0x00;
    std::uint8_t* ip = frame.data() + 14;
    ip[0] = 0x45;
    ip[3] = 20 + 8 + 3;
    ip[9] = 17;
    ip[12] = 10, ip[13] = 4, ip[14] = 0, ip[15] = 2;
    ip[16] = 10, ip[17] = 3, ip[18] = 0, ip[19] = 2;
    std::uint8_t* udp = ip + 20;
    udp[0] = 0x9c, udp[1] = 0x40;  // 40000
    udp[2] = 0x16, udp[3] = 0x33;  // 5683
    udp[5] = 8 + 3;
    udp[8] = 'a';
    coapbed::emu::UdpFrame f;
    ASSERT_TRUE(coapbed::emu::parse_udp_frame(frame.data(), frame.size(), f));
    EXPECT_EQ(f.src, 0x0a040002u);
    EXPECT_EQ(f.dst, kServer);
    EXPECT_EQ(f.sport, 40000);
    EXPECT_EQ(f.dport, 5683);
    EXPECT_EQ(f.length, 3u);
    EXPECT_EQ(f.payload[0], 'a');
    EXPECT_FALSE(coapbed::emu::parse_udp_frame(frame.data(), frame.size() - 1, f));  // cut short
    auto frag = frame;
    frag[14 + 6] = 0x20;  // More Fragments
    EXPECT_FALSE(coapbed::emu::parse_udp_frame(frag.data(), frag.size(), f));
    auto arp = frame;
    arp[13] = 0x06;
    EXPECT_FALSE(coapbed::emu::parse_udp_frame(arp.data(), arp.size(), f));
    auto tcp = frame;
    tcp[14 + 9] = 6;
    EXPECT_FALSE(coapbed::emu::parse_udp_frame(tcp.data(), tcp.size(), f));
}

TEST(EmulationCommand, PlaceholdersAreReplacedAndOthersKept) {
    const std::vector<std::pair<std::string, std::string>> values = {
        {"addr", "10.4.1.2"}, {"server", "10.3.0.2"}, {"port", "5683"}, {"index", "1"}, {"seq", "7"},
        {"coapbed", "/bin/coapbed"}};
    EXPECT_EQ(coapbed::sim::expand_command("{coapbed} get coap://{server}:{port}/x?c={index}&n={seq} -b {addr} {other} {addr",
                                           values),
              "/bin/coapbed get coap://10.3.0.2:5683/x?c=1&n=7 -b 10.4.1.2 {other} {addr");
    EXPECT_EQ(coapbed::sim::expand_command("awk '{print $1}' {{seq}}", values), "awk '{print $1}' {7}");
}

const char* kEmulated = R"(
name = "e"
seeds = [1, 2]
[topology]
delay = "50ms"
[emulation]
program = ["coapbed", "libcoap"]
server.coapbed = "{coapbed} serve --bind {addr}"
server.libcoap = "coap-server-notls -A {addr}"
client = "{coapbed} get coap://{server}/large"
repeat = 5
interval = "200ms"
lag_limit = "30ms"
)";

TEST(EmulationScenario, CommandsByProgramAreResolvedPerRunAndRecordedAsParameters) {
    const auto sc = coapbed::sim::parse_scenario(kEmulated, "e.toml");
    ASSERT_EQ(sc.runs.size(), 4u);
    EXPECT_EQ(sc.runs[0].id, "program-coapbed_seed-1");
    const auto& e0 = sc.runs[0].config.emulation;
    EXPECT_TRUE(e0.enabled);
    EXPECT_EQ(e0.server, "{coapbed} serve --bind {addr}");
    EXPECT_EQ(sc.runs[2].config.emulation.server, "coap-server-notls -A {addr}");
    EXPECT_EQ(sc.runs[2].config.emulation.client, "{coapbed} get coap://{server}/large");
    EXPECT_EQ(e0.repeat, 5);
    EXPECT_DOUBLE_EQ(e0.interval_s, 0.2);
    EXPECT_DOUBLE_EQ(e0.lag_limit_s, 0.03);
    bool server_param = false;
    for (const auto& [k, v] : sc.runs[2].params) {
        if (k == "emulation.server") server_param = std::get<std::string>(v) == "coap-server-notls -A {addr}";
    }
    EXPECT_TRUE(server_param);  // a changed command makes an old result stale
}

TEST(EmulationScenario, FilesWithoutTheTableKeepTheirParameters) {
    const auto sc = coapbed::sim::parse_scenario("name = \"x\"\nseeds = [1]\n", "x.toml");
    EXPECT_FALSE(sc.runs[0].config.emulation.enabled);
    for (const auto& [k, v] : sc.runs[0].params) EXPECT_NE(k.rfind("emulation.", 0), 0u) << k;
}

TEST(EmulationScenario, ErrorsNameTheKey) {
    auto error_of = [](const std::string& text) {
        try {
            (void)coapbed::sim::parse_scenario(text, "e.toml");
        } catch (const coapbed::sim::ScenarioError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string head = "name = \"e\"\nseeds = [1]\n";
    EXPECT_EQ(error_of(head + "[emulation]\nclient = \"x\"\n"),
              "e.toml: emulation.server: missing (the command to run; see `coapbed emulate --help`)");
    EXPECT_EQ(error_of(head + "[emulation]\nprogram = \"other\"\nserver.a = \"s\"\nclient = \"c\"\n"),
              "e.toml: emulation.server: has no command for program \"other\"");
    EXPECT_EQ(error_of(head + "[emulation]\nserver = \"  \"\nclient = \"c\"\n"), "e.toml: emulation.server: an empty command");
    EXPECT_EQ(error_of(head + "[emulation]\nserver = \"s\"\nclient = \"c\"\nclients = 0\n"),
              "e.toml: emulation.clients: 0 is out of range (must be between 1 and 50)");
    EXPECT_EQ(error_of(head + "[emulation]\nserver = \"s\"\nclient = \"c\"\nprogram = \"a b\"\n"),
              "e.toml: emulation.program: \"a b\" is not a label (1 to 40 letters, digits, '-', '.', '_')");
    EXPECT_EQ(error_of(head + "[emulation]\nserver = \"s\"\nclient = \"c\"\ntypo = 1\n"), "e.toml: emulation.typo: unknown key");
    EXPECT_EQ(error_of(head + "[topology]\nkind = \"sixlowpan\"\n[emulation]\nserver = \"s\"\nclient = \"c\"\n"),
              "e.toml: topology.kind: emulation runs on the dumbbell topology");
}

}  // namespace
