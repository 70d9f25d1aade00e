#include "coap-application.h"

#include "sim/scenario/ledger.h"
#include "sim/model/dtls-keys.h"

#include <vector>

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/inet-socket-address.h"
#include "ns3/inet6-socket-address.h"
#include "ns3/ipv4-address.h"
#include "ns3/ipv4.h"
#include "ns3/ipv4-packet-info-tag.h"
#include "ns3/ipv6.h"
#include "ns3/node.h"
#include "ns3/ipv6-address.h"
#include "ns3/log.h"
#include "ns3/packet.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/tag.h"
#include "ns3/uinteger.h"
#include "ns3/udp-socket-factory.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("CoapApplication");
NS_OBJECT_ENSURE_REGISTERED(CoapApplication);

CoapStreamRandom::CoapStreamRandom() : stream(CreateObject<UniformRandomVariable>()) {}

std::uint64_t CoapStreamRandom::next_u64() {
    const std::uint64_t hi = stream->GetInteger(0, 0xffffffffu);
    const std::uint64_t lo = stream->GetInteger(0, 0xffffffffu);
    return (hi << 32) | lo;
}

TypeId CoapApplication::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::CoapApplication")
            .SetParent<Application>()
            .SetGroupName("Applications")
            .AddAttribute("Port", "UDP port to bind (0: the role's default, 5683 for servers, ephemeral for clients).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapApplication::m_port), MakeUintegerChecker<uint16_t>())
            .AddAttribute("Congestion", "Congestion-control strategy (a name from the engine's registry).",
                          StringValue("default"), MakeStringAccessor(&CoapApplication::m_congestion),
                          MakeStringChecker())
            .AddAttribute("CocoaVbfPerStep", "CoCoA's back-off factor chosen at every retransmission (see "
                          "coap::TransmissionParams::cocoa_vbf_per_step).", BooleanValue(false),
                          MakeBooleanAccessor(&CoapApplication::m_cocoaVbfPerStep), MakeBooleanChecker())
            .AddAttribute("AckTimeout", "ACK_TIMEOUT (RFC 7252 §4.8).", TimeValue(Seconds(2)),
                          MakeTimeAccessor(&CoapApplication::m_ackTimeout), MakeTimeChecker())
            .AddAttribute("AckRandomFactor", "ACK_RANDOM_FACTOR (RFC 7252 §4.8).", DoubleValue(1.5),
                          MakeDoubleAccessor(&CoapApplication::m_ackRandomFactor), MakeDoubleChecker<double>(1.0))
            .AddAttribute("MaxRetransmit", "MAX_RETRANSMIT (RFC 7252 §4.8).", UintegerValue(4),
                          MakeUintegerAccessor(&CoapApplication::m_maxRetransmit), MakeUintegerChecker<uint32_t>(0, 20))
            .AddAttribute("Nstart", "NSTART (RFC 7252 §4.7).", UintegerValue(1),
                          MakeUintegerAccessor(&CoapApplication::m_nstart), MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("DefaultLeisure", "DEFAULT_LEISURE (RFC 7252 §8.2).", TimeValue(Seconds(5)),
                          MakeTimeAccessor(&CoapApplication::m_defaultLeisure), MakeTimeChecker())
            .AddAttribute("ProbingRate", "PROBING_RATE in bytes/s (RFC 7252 §4.7).", DoubleValue(1.0),
                          MakeDoubleAccessor(&CoapApplication::m_probingRate), MakeDoubleChecker<double>(0.0))
            .AddAttribute("MaxLatency", "MAX_LATENCY (RFC 7252 §4.8.2).", TimeValue(Seconds(100)),
                          MakeTimeAccessor(&CoapApplication::m_maxLatency), MakeTimeChecker())
            .AddAttribute("BlockSize", "Largest block sent or served, 16..1024 (RFC 7959).", UintegerValue(1024),
                          MakeUintegerAccessor(&CoapApplication::m_blockSize), MakeUintegerChecker<uint32_t>(16, 1024))
            .AddAttribute("TokenLength", "Token length in bytes (RFC 7252 §5.3.1).", UintegerValue(4),
                          MakeUintegerAccessor(&CoapApplication::m_tokenLength), MakeUintegerChecker<uint32_t>(0, 8))
            .AddAttribute("RandomInitialMid", "Start Message IDs at a random value (RFC 7252 §4.4).",
                          BooleanValue(true), MakeBooleanAccessor(&CoapApplication::m_randomInitialMid),
                          MakeBooleanChecker())
            .AddAttribute("Security",
                          "nosec, or DTLS 1.2 in psk, rpk (RFC 7250 raw public keys) or certificate mode "
                          "(RFC 7252 §9), with the simulation's keys.",
                          StringValue("nosec"), MakeStringAccessor(&CoapApplication::m_security), MakeStringChecker())
            .AddAttribute("HelloVerify", "DTLS servers answer a ClientHello with a HelloVerifyRequest first (RFC 6347 §4.2.1).",
                          BooleanValue(true), MakeBooleanAccessor(&CoapApplication::m_helloVerify), MakeBooleanChecker())
            .AddTraceSource("Retransmission", "CON retransmissions sent by the engine.",
                            MakeTraceSourceAccessor(&CoapApplication::m_retransmissionTrace),
                            "ns3::CoapApplication::RetransmissionCallback")
            .AddTraceSource("RtoUpdate", "The RTO toward the tracked peer changed.",
                            MakeTraceSourceAccessor(&CoapApplication::m_rtoTrace), "ns3::CoapApplication::RtoCallback")
            .AddTraceSource("RtoTrace",
                            "The RTO or the strategy's state (FASOR) toward the tracked peer changed: the new RTO "
                            "and state name (empty for strategies without states).",
                            MakeTraceSourceAccessor(&CoapApplication::m_rtoStateTrace),
                            "ns3::CoapApplication::RtoStateCallback")
            .AddTraceSource("Tx", "A CoAP datagram was sent.", MakeTraceSourceAccessor(&CoapApplication::m_txTrace),
                            "ns3::Packet::TracedCallback")
            .AddTraceSource("Rx", "A CoAP datagram was received.", MakeTraceSourceAccessor(&CoapApplication::m_rxTrace),
                            "ns3::Packet::TracedCallback");
    return tid;
}

CoapApplication::CoapApplication() : m_workloadStream(CreateObject<UniformRandomVariable>()) {}

CoapApplication::~CoapApplication() = default;

const coap::EndpointStats& CoapApplication::GetEngineStats() const {
    static const coap::EndpointStats kEmpty{};
    return m_endpoint ? m_endpoint->stats() : kEmpty;
}

int64_t CoapApplication::AssignStreams(int64_t stream) {
    m_random.stream->SetStream(stream);
    m_workloadStream->SetStream(stream + 1);
    return 2;
}

coap::Peer CoapApplication::ToPeer(const Address& address) {
    if (InetSocketAddress::IsMatchingType(address)) {
        const auto a = InetSocketAddress::ConvertFrom(address);
        return coap::Peer::ipv4(a.GetIpv4().Get(), a.GetPort());
    }
    const auto a = Inet6SocketAddress::ConvertFrom(address);
    std::uint8_t bytes[16];
    a.GetIpv6().GetBytes(bytes);
    return coap::Peer::ipv6(bytes, a.GetPort());
}

Address CoapApplication::ToAddress(const coap::Peer& peer) {
    if (peer.family == 4) {
        const std::uint32_t host = (std::uint32_t{peer.address[0]} << 24) | (std::uint32_t{peer.address[1]} << 16) |
                                   (std::uint32_t{peer.address[2]} << 8) | std::uint32_t{peer.address[3]};
        return InetSocketAddress(Ipv4Address(host), peer.port);
    }
    std::uint8_t bytes[16];
    for (int i = 0; i < 16; ++i) bytes[i] = peer.address[i];
    return Inet6SocketAddress(Ipv6Address(bytes), peer.port);
}

coap::TimePoint CoapApplication::EngineNow() {
    return coap::TimePoint::from_ns(Simulator::Now().GetNanoSeconds());
}

uint16_t CoapApplication::GetLocalPort() const { return m_localPort; }

const coapbed::net::DtlsStats& CoapApplication::GetDtlsStats() const {
    static const coapbed::net::DtlsStats kEmpty{};
    return m_dtls ? m_dtls->stats() : kEmpty;
}

void CoapApplication::DoDispose() {
    m_socket = nullptr;
    m_endpoint.reset();
    m_dtls.reset();
    Application::DoDispose();
}

coap::Endpoint& CoapApplication::Engine() {
    NS_ASSERT(m_endpoint);
    return *m_endpoint;
}

void CoapApplication::ConfigureEngine(coap::EndpointConfig&) {}

void CoapApplication::OnEngineCreated(coap::Endpoint&) {}

uint16_t CoapApplication::DefaultPort() const { return 0; }

void CoapApplication::OnEngineEvent(const coap::Event&) {}

void CoapApplication::StartApplication() {
    NS_LOG_FUNCTION(this);
    coap::EndpointConfig cfg;
    cfg.congestion = m_congestion;
    cfg.params.ack_timeout = coap::Duration::nanoseconds(m_ackTimeout.GetNanoSeconds());
    cfg.params.ack_random_factor = m_ackRandomFactor;
    cfg.params.cocoa_vbf_per_step = m_cocoaVbfPerStep;
    cfg.params.max_retransmit = m_maxRetransmit;
    cfg.params.nstart = m_nstart;
    cfg.params.default_leisure = coap::Duration::nanoseconds(m_defaultLeisure.GetNanoSeconds());
    cfg.params.probing_rate = m_probingRate;
    cfg.params.max_latency = coap::Duration::nanoseconds(m_maxLatency.GetNanoSeconds());
    cfg.params.processing_delay = cfg.params.ack_timeout;  // RFC 7252 §4.8.2
    cfg.token_length = m_tokenLength;
    cfg.allow_short_tokens = true;  // the TokenLength attribute is what the experiment asked for
    cfg.random_initial_mid = m_randomInitialMid;
    std::uint8_t szx = 0;
    while ((16u << (szx + 1)) <= m_blockSize && szx < 6) ++szx;
    cfg.block_szx = szx;
    ConfigureEngine(cfg);
    m_endpoint = std::make_unique<coap::Endpoint>(cfg, m_random);
    NS_ABORT_MSG_IF(m_endpoint->congestion_name() != m_congestion, "unknown congestion strategy " << m_congestion);

    if (!m_socket) {
        m_socket = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
        // One socket for IPv4 or IPv6, whichever the node has.
        int rc = -1;
        const uint16_t port = m_port != 0 ? m_port : DefaultPort();
        if (GetNode()->GetObject<Ipv4>() == nullptr) {
            rc = m_socket->Bind(Inet6SocketAddress(Ipv6Address::GetAny(), port));
        } else {
            rc = m_socket->Bind(InetSocketAddress(Ipv4Address::GetAny(), port));
        }
        NS_ABORT_MSG_IF(rc != 0, "CoapApplication: cannot bind UDP port " << port);
        m_socket->SetRecvCallback(MakeCallback(&CoapApplication::HandleRead, this));
        m_socket->SetRecvPktInfo(true);  // to tell datagrams sent to a multicast group
        Address bound;
        if (m_socket->GetSockName(bound) == 0) {
            m_localPort = InetSocketAddress::IsMatchingType(bound) ? InetSocketAddress::ConvertFrom(bound).GetPort()
                                                                   : Inet6SocketAddress::ConvertFrom(bound).GetPort();
        }
    }
    if (m_security != "nosec") StartDtls();
    OnEngineCreated(*m_endpoint);
    Drive();
}

void CoapApplication::StartDtls() {
    namespace keys = coapbed::sim::keys;
    coapbed::net::DtlsConfig c;
    c.server = IsDtlsServer();
    c.stack = coapbed::net::DtlsStack::GnuTls;  // OpenSSL's DTLS timer reads the wall clock
    c.verify_cookies = m_helloVerify;
    c.max_sessions = 4096;  // a server's clients; nothing here floods it
    c.max_handshakes = 4096;
    if (m_security == "psk") {
        c.psk_identity = keys::kPskIdentity;
        c.psk_key = keys::kPskKey;
    } else if (m_security == "rpk" || m_security == "certificate") {
        // Mutual authentication by pinned keys (RFC 7252 §9.1.3.2.1); in certificate mode
        // the same keys in self-signed certificates (§9.1.3.3).
        c.key_pem = c.server ? keys::kServerKey : keys::kClientKey;
        if (m_security == "certificate") c.cert_pem = c.server ? keys::kServerCertificate : keys::kClientCertificate;
        c.pins = {c.server ? keys::kClientKeyName : keys::kServerKeyName};
    } else {
        NS_ABORT_MSG("unknown Security mode " << m_security);
    }
    // Records no larger than the node's IP MTU allows a UDP payload (6LoWPAN: 1280 - 48).
    uint32_t mtu = 0;
    if (Ptr<Ipv4> ip = GetNode()->GetObject<Ipv4>()) {
        for (uint32_t i = 1; i < ip->GetNInterfaces(); ++i) mtu = mtu == 0 ? ip->GetMtu(i) : std::min<uint32_t>(mtu, ip->GetMtu(i));
        mtu = mtu > 28 ? mtu - 28 : 0;
    } else if (Ptr<Ipv6> ip6 = GetNode()->GetObject<Ipv6>()) {
        for (uint32_t i = 1; i < ip6->GetNInterfaces(); ++i) mtu = mtu == 0 ? ip6->GetMtu(i) : std::min<uint32_t>(mtu, ip6->GetMtu(i));
        mtu = mtu > 48 ? mtu - 48 : 0;
    }
    c.mtu = std::max<std::size_t>(mtu, coapbed::net::DtlsLayer::kMinMtu);
    m_dtls = std::make_unique<coapbed::net::DtlsLayer>();
    std::string error;
    NS_ABORT_MSG_IF(!m_dtls->init(c, error), "DTLS: " << error);
    m_dtlsSend = [this](const coap::Peer& to, const std::uint8_t* data, std::size_t size) { SendDatagram(to, data, size); };
}

void CoapApplication::SendDatagram(const coap::Peer& to, const std::uint8_t* data, std::size_t size) {
    Ptr<Packet> p = Create<Packet>(data, size);
    m_txTrace(p);
    m_socket->SendTo(p, 0, ToAddress(to));
}

void CoapApplication::StopApplication() {
    NS_LOG_FUNCTION(this);
    Simulator::Cancel(m_timer);
    if (m_socket) {
        m_socket->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
        m_socket->Close();
    }
}

namespace {

/// A datagram's message (MessageLedger id) and copy number. A byte tag: it stays on the
/// UDP payload through every link, 6LoWPAN fragmentation and reassembly included.
class LedgerTag : public Tag {
public:
    static TypeId GetTypeId() {
        static TypeId tid = TypeId("ns3::CoapLedgerTag").SetParent<Tag>().AddConstructor<LedgerTag>();
        return tid;
    }
    TypeId GetInstanceTypeId() const override { return GetTypeId(); }
    uint32_t GetSerializedSize() const override { return 12; }
    void Serialize(TagBuffer b) const override {
        b.WriteU64(id);
        b.WriteU32(copy);
    }
    void Deserialize(TagBuffer b) override {
        id = b.ReadU64();
        copy = b.ReadU32();
    }
    void Print(std::ostream& os) const override { os << "message=" << id << " copy=" << copy; }
    uint64_t id = 0;
    uint32_t copy = 0;
};

uint64_t hash_address(const Address& a) {
    uint8_t buf[Address::MAX_SIZE + 2];
    const uint32_t n = a.CopyAllTo(buf, sizeof buf);
    uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
    for (uint32_t i = 0; i < n; ++i) h = (h ^ buf[i]) * 0x100000001b3ULL;
    return h;
}

}  // namespace

void CoapApplication::LedgerTx(coapbed::sim::MessageLedger* ledger, const void* sender, const Address& to,
                               Ptr<Packet> p) {
    uint8_t h[4];
    if (!ledger || p->CopyData(h, 4) != 4 || (h[0] >> 6) != 1) return;  // RFC 7252 §3: Ver 1
    const auto c = ledger->sent(reinterpret_cast<uintptr_t>(sender), hash_address(to), (h[0] >> 4) & 3,
                                static_cast<uint16_t>(h[2] << 8 | h[3]), Simulator::Now().GetSeconds());
    LedgerTag tag;
    tag.id = c.id;
    tag.copy = c.copy;
    p->AddByteTag(tag);
}

void CoapApplication::LedgerRx(coapbed::sim::MessageLedger* ledger, Ptr<const Packet> p) {
    uint64_t id = 0;
    uint32_t copy = 0;
    if (ledger && LedgerTagOf(p, id, copy)) ledger->delivered(id, copy);
}

bool CoapApplication::LedgerTagOf(Ptr<const Packet> p, uint64_t& id, uint32_t& copy) {
    LedgerTag tag;
    if (!p->FindFirstMatchingByteTag(tag)) return false;
    id = tag.id;
    copy = tag.copy;
    return true;
}

void CoapApplication::HandleRead(Ptr<Socket> socket) {
    Address from;
    while (Ptr<Packet> packet = socket->RecvFrom(from)) {
        if (!m_endpoint) continue;
        LedgerRx(m_ledger, packet);
        m_rxTrace(packet);
        std::vector<std::uint8_t> bytes(packet->GetSize());
        packet->CopyData(bytes.data(), bytes.size());
        Ipv4PacketInfoTag info;
        if (m_dtls) {
            // DTLS records in, the CoAP datagrams they carried up (handshake replies go out).
            std::vector<std::vector<std::uint8_t>> plain;
            const coap::Peer peer = ToPeer(from);
            m_dtls->receive(EngineNow(), peer, coap::Bytes(bytes.data(), bytes.size()), m_dtlsSend, plain);
            for (const auto& d : plain) m_endpoint->handle_datagram(EngineNow(), peer, coap::Bytes(d.data(), d.size()));
        } else if (packet->PeekPacketTag(info) && info.GetAddress().IsMulticast()) {
            m_endpoint->handle_multicast_datagram(EngineNow(), ToPeer(from), coap::Bytes(bytes.data(), bytes.size()));
        } else {
            m_endpoint->handle_datagram(EngineNow(), ToPeer(from), coap::Bytes(bytes.data(), bytes.size()));
        }
        Drive();
    }
}

void CoapApplication::HandleTimer() {
    if (!m_endpoint) return;
    m_endpoint->handle_timeout(EngineNow());
    if (m_dtls) m_dtls->handle_timeouts(EngineNow(), m_dtlsSend);
    Drive();
}

void CoapApplication::Drive() {
    if (!m_endpoint) return;
    // Polled into kept buffers (the engine takes the old ones back): no allocation per
    // datagram or event once warm.
    coap::Transmit& t = m_transmit;
    while (m_endpoint->poll_transmit(t)) {
        if (m_dtls) {
            m_dtls->write(EngineNow(), t.peer, coap::Bytes(t.bytes.data(), t.bytes.size()), m_dtlsSend);
            continue;
        }
        Ptr<Packet> p = Create<Packet>(t.bytes.data(), t.bytes.size());
        const Address to = ToAddress(t.peer);
        LedgerTx(m_ledger, this, to, p);
        m_txTrace(p);
        m_socket->SendTo(p, 0, to);
    }
    const uint64_t rtx = m_endpoint->stats().retransmissions;
    if (rtx != m_lastRetransmissions) {
        m_retransmissionTrace(static_cast<uint32_t>(rtx - m_lastRetransmissions));
        m_lastRetransmissions = rtx;
    }
    if (m_trackedPeer) {
        if (auto rto = m_endpoint->current_rto(EngineNow(), *m_trackedPeer)) {
            const Time now_rto = NanoSeconds(rto->ns());
            const std::string_view state = m_endpoint->congestion_state(*m_trackedPeer);
            if (now_rto != m_lastRto || state != m_lastState) {
                if (now_rto != m_lastRto) m_rtoTrace(m_lastRto, now_rto);
                m_lastRto = now_rto;
                m_lastState.assign(state);
                m_rtoStateTrace(now_rto, m_lastState);
            }
        }
    }
    while (m_endpoint->poll_event(m_event)) {
        OnEngineEvent(m_event);
        if (!m_endpoint) return;
    }
    // Events may have caused new input (a closed-loop client sends its next request).
    if (m_endpoint->queued_transmits() > 0) {
        Drive();
        return;
    }
    Simulator::Cancel(m_timer);
    std::optional<coap::TimePoint> deadline = m_endpoint->poll_timeout();
    if (m_dtls) {
        if (const auto d = m_dtls->next_timeout(EngineNow()); d && (!deadline || *d < *deadline)) deadline = d;
    }
    if (deadline) {
        const Time at = NanoSeconds(deadline->ns());
        const Time delay = at > Simulator::Now() ? at - Simulator::Now() : Time(0);
        m_timer = Simulator::Schedule(delay, &CoapApplication::HandleTimer, this);
    }
}

}  // namespace ns3
