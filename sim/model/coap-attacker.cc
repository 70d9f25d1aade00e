#include "coap-attacker.h"

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/inet-socket-address.h"
#include "ns3/ipv4-header.h"
#include "ns3/ipv4-raw-socket-factory.h"
#include "ns3/log.h"
#include "ns3/net-device.h"
#include "ns3/node.h"
#include "ns3/packet.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/udp-header.h"
#include "ns3/uinteger.h"

#include "coap/codec/builder.h"
#include "coap/codec/code.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("CoapAttacker");
NS_OBJECT_ENSURE_REGISTERED(CoapAttacker);

TypeId CoapAttacker::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::CoapAttacker")
            .SetParent<Application>()
            .SetGroupName("Applications")
            .AddConstructor<CoapAttacker>()
            .AddAttribute("Vector", "Attack vector (see coap-attacker.h).", StringValue("large-get"),
                          MakeStringAccessor(&CoapAttacker::m_vector), MakeStringChecker())
            .AddAttribute("Rate", "Datagrams per second.", DoubleValue(10.0),
                          MakeDoubleAccessor(&CoapAttacker::m_rate), MakeDoubleChecker<double>(1e-6))
            .AddAttribute("Victim", "The forged source address (reflection) or the client attacked (spoofed-rst/ack).",
                          Ipv4AddressValue(), MakeIpv4AddressAccessor(&CoapAttacker::m_victim), MakeIpv4AddressChecker())
            .AddAttribute("VictimPort", "The victim's UDP port.", UintegerValue(5683),
                          MakeUintegerAccessor(&CoapAttacker::m_victimPort), MakeUintegerChecker<uint16_t>())
            .AddAttribute("VictimPortCount", "spoofed-separate: forged responses go to a port drawn from "
                          "[VictimPort, VictimPort + VictimPortCount) (a proxy with per-exchange ports).",
                          UintegerValue(1), MakeUintegerAccessor(&CoapAttacker::m_victimPortCount),
                          MakeUintegerChecker<uint32_t>(1, 65535))
            .AddAttribute("Blocks", "block: how many 1024-byte blocks the representation has.", UintegerValue(16),
                          MakeUintegerAccessor(&CoapAttacker::m_blocks), MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("TokenGuessLength", "spoofed-ack: length of the guessed token.", UintegerValue(4),
                          MakeUintegerAccessor(&CoapAttacker::m_tokenGuessLength), MakeUintegerChecker<uint32_t>(0, 8))
            .AddAttribute("ForgedMaxAge", "spoofed-separate: the Max-Age of the forged response (seconds).",
                          UintegerValue(0xFFFFFFFFu), MakeUintegerAccessor(&CoapAttacker::m_forgedMaxAge),
                          MakeUintegerChecker<uint32_t>())
            .AddAttribute("ProxyTarget", "proxy-large-get: the Proxy-Uri of the forged requests.", StringValue(""),
                          MakeStringAccessor(&CoapAttacker::m_proxyTarget), MakeStringChecker())
            .AddAttribute("MidSequential",
                          "spoofed-rst/ack: guess Message IDs counting up from 0 (a client that starts at 0 "
                          "and counts, RFC 7252 §4.4 not followed) instead of at random.",
                          BooleanValue(false), MakeBooleanAccessor(&CoapAttacker::m_midSequential),
                          MakeBooleanChecker())
            .AddAttribute("MidGuessRate",
                          "MidSequential: the victim's expected messages per second; guesses cover a window "
                          "of 16 IDs around started-time x rate.",
                          DoubleValue(1.0), MakeDoubleAccessor(&CoapAttacker::m_midGuessRate),
                          MakeDoubleChecker<double>(0));
    return tid;
}

CoapAttacker::CoapAttacker() : m_rng(CreateObject<UniformRandomVariable>()) {}
CoapAttacker::~CoapAttacker() = default;

void CoapAttacker::AddTarget(Ipv4Address address, uint16_t port) { m_targets.emplace_back(address, port); }

int64_t CoapAttacker::AssignStreams(int64_t stream) {
    m_rng->SetStream(stream);
    return 1;
}

void CoapAttacker::DoDispose() {
    m_socket = nullptr;
    Application::DoDispose();
}

void CoapAttacker::StartApplication() {
    NS_ABORT_MSG_IF(m_targets.empty(), "CoapAttacker: no targets");
    m_socket = Socket::CreateSocket(GetNode(), Ipv4RawSocketFactory::GetTypeId());
    m_socket->SetAttribute("Protocol", UintegerValue(17));  // UDP
    m_socket->SetAttribute("IpHeaderInclude", BooleanValue(true));
    // Bound to the node's link: ns-3's raw socket otherwise looks up the interface of
    // the (forged) source address, which is not ours.
    for (uint32_t i = 0; i < GetNode()->GetNDevices(); ++i) {
        Ptr<NetDevice> d = GetNode()->GetDevice(i);
        if (d->IsPointToPoint()) {
            m_socket->BindToNetDevice(d);
            break;
        }
    }
    m_started = Simulator::Now();
    m_event = Simulator::Schedule(Seconds(m_rng->GetValue(0, 1.0 / m_rate)), &CoapAttacker::SendOne, this);
}

void CoapAttacker::StopApplication() {
    Simulator::Cancel(m_event);
    if (m_socket) m_socket->Close();
}

namespace {

std::vector<uint8_t> build(const coap::MessageBuilder& b) {
    std::vector<uint8_t> out(b.encoded_size());
    const auto r = b.build(coap::MutableBytes(out.data(), out.size()));
    out.resize(r.ok() ? r.size : 0);
    return out;
}

/// A DNS query for `name` (RFC 1035 §4.1), type A, recursion desired.
std::vector<uint8_t> dns_query(uint16_t id, const std::string& name) {
    std::vector<uint8_t> q = {static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
    std::size_t start = 0;
    while (start <= name.size()) {
        std::size_t dot = name.find('.', start);
        if (dot == std::string::npos) dot = name.size();
        q.push_back(static_cast<uint8_t>(dot - start));
        q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start), name.begin() + static_cast<std::ptrdiff_t>(dot));
        start = dot + 1;
    }
    q.push_back(0);
    q.insert(q.end(), {0, 1, 0, 1});  // QTYPE A, QCLASS IN
    return q;
}

}  // namespace

std::vector<uint8_t> CoapAttacker::MakeDatagram(uint16_t& dstPort, Ipv4Address& src, Ipv4Address& dst) {
    const auto& target = m_targets[m_sent % m_targets.size()];
    const uint64_t n = m_sent / m_targets.size();
    const auto rand16 = [&] { return static_cast<uint16_t>(m_rng->GetInteger(0, 65535)); };
    std::vector<uint8_t> token(4);
    for (auto& t : token) t = static_cast<uint8_t>(m_rng->GetInteger(0, 255));
    src = m_victim;
    dst = target.first;
    dstPort = target.second;
    // The builder keeps views of option values until build(): segments are literals.
    // RFC 7252 §8.1: requests to a group are NON.
    const bool group = dst.IsMulticast();
    auto request = [&](std::initializer_list<std::string_view> segments) {
        coap::MessageBuilder b(group ? coap::MessageType::Non : coap::MessageType::Con, coap::codes::kGet, rand16());
        (void)b.set_token(coap::Bytes(token.data(), token.size()));
        for (std::string_view seg : segments) (void)b.add_option(coap::options::kUriPath, coap::Bytes(seg));
        return b;
    };
    if (m_vector == "large-get") return build(request({"large"}));
    if (m_vector == "proxy-large-get") {
        // Through a forward proxy (RFC 7252 §5.7): the victim's address, a Proxy-Uri naming
        // a large resource; the origin only ever sees the proxy (RFC 9175 §2.4).
        coap::MessageBuilder b(coap::MessageType::Con, coap::codes::kGet, rand16());
        (void)b.set_token(coap::Bytes(token.data(), token.size()));
        (void)b.add_option(coap::options::kProxyUri, coap::Bytes(std::string_view(m_proxyTarget)));
        return build(b);
    }
    if (m_vector == "well-known-core" || m_vector == "multicast") return build(request({".well-known", "core"}));
    if (m_vector == "block") {
        auto b = request({"large"});
        (void)b.add_uint(coap::options::kBlock2,
                         coap::encode_block(coap::Block{static_cast<uint32_t>(n % m_blocks), false, 6}));
        return build(b);
    }
    if (m_vector == "observe" || m_vector == "multicast-observe") {
        auto b = request({"obs"});
        (void)b.add_uint(coap::options::kObserve, 0);
        return build(b);
    }
    if (m_vector == "dns") {
        // Real packets of other UDP protocols, as scanners and misdirected traffic send them.
        switch (n % 4) {
            case 0: return dns_query(rand16(), "example.com");
            case 1: return dns_query(rand16(), "_coap._udp.local");
            case 2: {  // NTP v3 client request (RFC 1305), 48 bytes
                std::vector<uint8_t> ntp(48, 0);
                ntp[0] = 0x1b;
                return ntp;
            }
            default: {  // SSDP discovery (UPnP)
                const std::string s =
                    "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";
                return std::vector<uint8_t>(s.begin(), s.end());
            }
        }
    }
    // Against a client: forged "from" the server (target), to the victim client.
    src = target.first;
    dst = m_victim;
    dstPort = m_victimPort;
    // A predictable client (MIDs from 0, one per message) is attacked around where its
    // counter should be by now; a randomized one only by blind guesses.
    const double expected = (Simulator::Now() - m_started).GetSeconds() * m_midGuessRate;
    const uint16_t mid = m_midSequential ? static_cast<uint16_t>(static_cast<int64_t>(expected) + static_cast<int64_t>(n % 16) - 8)
                                         : rand16();
    if (m_vector == "spoofed-rst") {
        return build(coap::MessageBuilder(coap::MessageType::Rst, coap::codes::kEmpty, mid));
    }
    if (m_vector == "spoofed-separate" || m_vector == "spoofed-piggybacked") {
        // PROXY.md §3.1: a forged separate response (NON, any MID) with a guessed token,
        // a long Max-Age and the payload "forged", "from" the origin to a proxy's upstream
        // port: accepted if the token is that of an upstream exchange in flight. As a
        // piggybacked response (an ACK) it must also name the Message ID of the proxy's
        // CON awaiting its ACK (RFC 7252 §4.2, §5.2.1): a random one.
        if (m_victimPortCount > 1) {
            dstPort = static_cast<uint16_t>(m_victimPort + m_rng->GetInteger(0, m_victimPortCount - 1));
        }
        const bool ack = m_vector == "spoofed-piggybacked";
        // Against a proxy whose MIDs count up from 0, a MID below what it can have used by
        // now (MidGuessRate: its most upstream messages a second); else any MID.
        uint16_t forged_mid = 0;
        if (ack && m_midSequential) {
            const double used = std::max(16.0, (Simulator::Now() - m_started).GetSeconds() * m_midGuessRate);
            forged_mid = static_cast<uint16_t>(m_rng->GetInteger(0, static_cast<uint32_t>(std::min(used, 65535.0))));
        } else {
            forged_mid = rand16();  // (a separate response's MID matters to nobody)
        }
        coap::MessageBuilder b(ack ? coap::MessageType::Ack : coap::MessageType::Non, coap::codes::kContent, forged_mid);
        std::vector<uint8_t> guess(m_tokenGuessLength);
        for (auto& t : guess) t = static_cast<uint8_t>(m_rng->GetInteger(0, 255));
        (void)b.set_token(coap::Bytes(guess.data(), guess.size()));
        (void)b.add_uint(coap::options::kMaxAge, m_forgedMaxAge);
        b.set_payload(coap::Bytes(std::string_view("forged")));
        return build(b);
    }
    // spoofed-ack: a forged piggybacked response with a guessed token.
    coap::MessageBuilder b(coap::MessageType::Ack, coap::codes::kContent, mid);
    std::vector<uint8_t> guess(m_tokenGuessLength);
    for (auto& t : guess) t = static_cast<uint8_t>(m_rng->GetInteger(0, 255));
    (void)b.set_token(coap::Bytes(guess.data(), guess.size()));
    b.set_payload(coap::Bytes(std::string_view("forged")));
    return build(b);
}

void CoapAttacker::SendOne() {
    uint16_t port = 0;
    Ipv4Address src, dst;
    std::vector<uint8_t> payload = MakeDatagram(port, src, dst);
    ++m_sent;
    Ptr<Packet> p = Create<Packet>(payload.data(), payload.size());
    UdpHeader udp;
    udp.SetSourcePort(m_victimPort);
    udp.SetDestinationPort(port);
    udp.EnableChecksums();
    udp.InitializeChecksum(src, dst, 17);
    if (m_vector == "spoofed-rst" || m_vector == "spoofed-ack" || m_vector == "spoofed-separate" ||
        m_vector == "spoofed-piggybacked") {
        udp.SetSourcePort(m_targets[0].second);
    }
    p->AddHeader(udp);
    Ipv4Header ip;
    ip.SetSource(src);  // the forged address
    ip.SetDestination(dst);
    ip.SetProtocol(17);
    ip.SetPayloadSize(p->GetSize());
    ip.SetTtl(64);
    ip.EnableChecksum();
    p->AddHeader(ip);
    m_packets += 1;
    m_ipBytes += p->GetSize();
    m_coapBytes += payload.size();
    m_socket->SendTo(p, 0, InetSocketAddress(dst, 0));
    m_event = Simulator::Schedule(Seconds(1.0 / m_rate), &CoapAttacker::SendOne, this);
}

}  // namespace ns3
