#include "coap-proxy.h"

#include <memory>

#include "net/hmac.h"

#include "ns3/boolean.h"
#include "ns3/double.h"
#include "ns3/inet-socket-address.h"
#include "ns3/ipv4-address.h"
#include "ns3/log.h"
#include "ns3/simulator.h"
#include "ns3/string.h"
#include "ns3/udp-socket-factory.h"
#include "ns3/uinteger.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("CoapProxy");
NS_OBJECT_ENSURE_REGISTERED(CoapProxy);

TypeId CoapProxy::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::CoapProxy")
            .SetParent<Application>()
            .SetGroupName("Applications")
            .AddConstructor<CoapProxy>()
            .AddAttribute("Port", "UDP port the clients send their proxy requests to.", UintegerValue(5683),
                          MakeUintegerAccessor(&CoapProxy::m_port), MakeUintegerChecker<uint16_t>())
            .AddAttribute("UpstreamPort", "UDP port toward the origins (0: ephemeral).", UintegerValue(0),
                          MakeUintegerAccessor(&CoapProxy::m_upstreamPort), MakeUintegerChecker<uint16_t>())
            .AddAttribute("PerExchangePorts", "Every upstream exchange from a random port of its own in "
                          "[FirstPort, FirstPort + PortCount) instead of UpstreamPort (RFC 6056).", BooleanValue(false),
                          MakeBooleanAccessor(&CoapProxy::m_perExchangePorts), MakeBooleanChecker())
            .AddAttribute("FirstPort", "First per-exchange upstream port.", UintegerValue(49152),
                          MakeUintegerAccessor(&CoapProxy::m_firstPort), MakeUintegerChecker<uint16_t>(1))
            .AddAttribute("PortCount", "Per-exchange upstream ports to choose from.", UintegerValue(16384),
                          MakeUintegerAccessor(&CoapProxy::m_portCount), MakeUintegerChecker<uint32_t>(1, 65535))
            .AddAttribute("RandomMid", "Start the Message IDs toward each origin at a random value (RFC 7252 §4.4); "
                          "false: from 0.", BooleanValue(true), MakeBooleanAccessor(&CoapProxy::m_randomMid),
                          MakeBooleanChecker())
            .AddAttribute("PassThroughBlocks", "Forward each Block2 request 1:1 and cache blocks one by one "
                          "(RFC 7959 §2.10) instead of store-and-forward.", BooleanValue(false),
                          MakeBooleanAccessor(&CoapProxy::m_passThroughBlocks), MakeBooleanChecker())
            .AddAttribute("LocalAddress", "The proxy's own address as text (a target equal to it is not forwarded).",
                          StringValue("0.0.0.0"), MakeStringAccessor(&CoapProxy::m_localAddress), MakeStringChecker())
            .AddAttribute("Identifier", "This proxy's name in 5.08 diagnostics (RFC 8768).", StringValue("coapbed-proxy"),
                          MakeStringAccessor(&CoapProxy::m_identifier), MakeStringChecker())
            .AddAttribute("NextHopHost", "Targets with this host go to NextHop, a proxy, with Proxy-Uri (\"\": none).",
                          StringValue(""), MakeStringAccessor(&CoapProxy::m_nextHopHost), MakeStringChecker())
            .AddAttribute("NextHop", "The next-hop proxy's address (port 5683).", Ipv4AddressValue(),
                          MakeIpv4AddressAccessor(&CoapProxy::m_nextHop), MakeIpv4AddressChecker())
            .AddAttribute("HonourHopLimit", "false: an RFC 8768-unaware proxy (Hop-Limit neither inserted, checked "
                          "nor decremented).", BooleanValue(true), MakeBooleanAccessor(&CoapProxy::m_honourHopLimit),
                          MakeBooleanChecker())
            .AddAttribute("Echo", "Defence on the clients' side: 4.01 + Echo instead of large answers to unverified "
                          "addresses (RFC 9175 §2.4).", BooleanValue(false), MakeBooleanAccessor(&CoapProxy::m_echo),
                          MakeBooleanChecker())
            .AddAttribute("AmplificationLimit", "Defence on the clients' side: bytes to an unverified address per byte "
                          "from it (0: none).", DoubleValue(0), MakeDoubleAccessor(&CoapProxy::m_amplificationLimit),
                          MakeDoubleChecker<double>(0))
            .AddAttribute("EchoKeySeed", "Seed of the Echo HMAC key.", UintegerValue(1),
                          MakeUintegerAccessor(&CoapProxy::m_echoKeySeed), MakeUintegerChecker<uint64_t>())
            .AddAttribute("Cache", "Keep responses (RFC 7252 §5.6).", BooleanValue(true),
                          MakeBooleanAccessor(&CoapProxy::m_cache), MakeBooleanChecker())
            .AddAttribute("MaxEntries", "Cached responses at most.", UintegerValue(256),
                          MakeUintegerAccessor(&CoapProxy::m_maxEntries), MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("MaxBytes", "Bytes of cached responses at most.", UintegerValue(1 << 20),
                          MakeUintegerAccessor(&CoapProxy::m_maxBytes), MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("MaxFreshness", "Ceiling on a cached response's Max-Age.", TimeValue(Seconds(3600)),
                          MakeTimeAccessor(&CoapProxy::m_maxFreshness), MakeTimeChecker())
            .AddAttribute("UpstreamTokenLength", "Token bytes of upstream requests.", UintegerValue(8),
                          MakeUintegerAccessor(&CoapProxy::m_upstreamTokenLength), MakeUintegerChecker<uint32_t>(0, 8))
            .AddAttribute("Coalesce", "Concurrent misses for one key share an upstream exchange.", BooleanValue(true),
                          MakeBooleanAccessor(&CoapProxy::m_coalesce), MakeBooleanChecker())
            .AddAttribute("HopLimit", "Hop-Limit inserted when a request has none (RFC 8768).", UintegerValue(16),
                          MakeUintegerAccessor(&CoapProxy::m_hopLimit), MakeUintegerChecker<uint32_t>(1, 255))
            .AddAttribute("AckDelay", "How long a miss may take before the client gets an empty ACK (RFC 7252 §5.2.2).",
                          TimeValue(Seconds(1)), MakeTimeAccessor(&CoapProxy::m_ackDelay), MakeTimeChecker())
            .AddAttribute("AckTimeout", "ACK_TIMEOUT on both sides (RFC 7252 §4.8).", TimeValue(Seconds(2)),
                          MakeTimeAccessor(&CoapProxy::m_ackTimeout), MakeTimeChecker())
            .AddAttribute("CocoaVbfPerStep", "CoCoA's back-off factor chosen at every retransmission.",
                          BooleanValue(false), MakeBooleanAccessor(&CoapProxy::m_cocoaVbfPerStep), MakeBooleanChecker())
            .AddAttribute("AckRandomFactor", "ACK_RANDOM_FACTOR.", DoubleValue(1.5),
                          MakeDoubleAccessor(&CoapProxy::m_ackRandomFactor), MakeDoubleChecker<double>(1.0))
            .AddAttribute("MaxRetransmit", "MAX_RETRANSMIT.", UintegerValue(4),
                          MakeUintegerAccessor(&CoapProxy::m_maxRetransmit), MakeUintegerChecker<uint32_t>(0, 20))
            .AddAttribute("Nstart", "NSTART toward each origin.", UintegerValue(1),
                          MakeUintegerAccessor(&CoapProxy::m_nstart), MakeUintegerChecker<uint32_t>(1))
            .AddAttribute("BlockSize", "Largest block, 16..1024 (RFC 7959).", UintegerValue(1024),
                          MakeUintegerAccessor(&CoapProxy::m_blockSize), MakeUintegerChecker<uint32_t>(16, 1024))
            .AddTraceSource("Request", "A client's request answered from the cache (true) or sent upstream or joined "
                            "to an upstream exchange in flight (false).",
                            MakeTraceSourceAccessor(&CoapProxy::m_requestTrace), "ns3::TracedValueCallback::Bool")
            .AddTraceSource("UpstreamDone", "An upstream exchange ended: its seconds in flight, and whether it was "
                            "answered (false: timed out, reset or rejected).",
                            MakeTraceSourceAccessor(&CoapProxy::m_upstreamTrace), "ns3::CoapProxy::UpstreamCallback")
            .AddTraceSource("Tx", "A datagram sent: toward the origins (true) or the clients.",
                            MakeTraceSourceAccessor(&CoapProxy::m_txTrace), "ns3::CoapProxy::PacketCallback")
            .AddTraceSource("Rx", "A datagram received: from the origins' side (true) or the clients'.",
                            MakeTraceSourceAccessor(&CoapProxy::m_rxTrace), "ns3::CoapProxy::PacketCallback");
    return tid;
}

CoapProxy::CoapProxy() = default;
CoapProxy::~CoapProxy() = default;

const coap::proxy::ProxyStats& CoapProxy::GetProxyStats() const {
    static const coap::proxy::ProxyStats kEmpty{};
    return m_proxy ? m_proxy->stats() : kEmpty;
}
const coap::proxy::CacheStats& CoapProxy::GetCacheStats() const {
    static const coap::proxy::CacheStats kEmpty{};
    return m_proxy ? m_proxy->cache().stats() : kEmpty;
}
const coap::EndpointStats& CoapProxy::GetDownstreamStats() const {
    static const coap::EndpointStats kEmpty{};
    return m_proxy ? m_proxy->downstream_stats() : kEmpty;
}
const coap::EndpointStats& CoapProxy::GetUpstreamStats() const {
    static const coap::EndpointStats kEmpty{};
    return m_proxy ? m_proxy->upstream_stats() : kEmpty;
}

const coap::proxy::UpstreamPortStats& CoapProxy::GetPortStats() const {
    static const coap::proxy::UpstreamPortStats kEmpty{};
    return m_proxy ? m_proxy->ports().stats() : kEmpty;
}

int64_t CoapProxy::AssignStreams(int64_t stream) {
    m_downRandom.stream->SetStream(stream);
    m_upRandom.stream->SetStream(stream + 1);
    return 2;
}

void CoapProxy::DoDispose() {
    m_down = nullptr;
    m_up = nullptr;
    m_exchangeSockets.clear();
    m_exchangePortOf.clear();
    m_proxy.reset();
    Application::DoDispose();
}

void CoapProxy::StartApplication() {
    coap::EndpointConfig cfg;
    cfg.params.ack_timeout = coap::Duration::nanoseconds(m_ackTimeout.GetNanoSeconds());
    cfg.params.ack_random_factor = m_ackRandomFactor;
    cfg.params.cocoa_vbf_per_step = m_cocoaVbfPerStep;
    cfg.params.max_retransmit = m_maxRetransmit;
    cfg.params.nstart = m_nstart;
    cfg.params.processing_delay = cfg.params.ack_timeout;
    std::uint8_t szx = 0;
    while ((16u << (szx + 1)) <= m_blockSize && szx < 6) ++szx;
    cfg.block_szx = szx;
    coap::EndpointConfig down = cfg, up = cfg;
    down.separate_ack_delay = coap::Duration::nanoseconds(m_ackDelay.GetNanoSeconds());
    down.defences.echo = m_echo;
    if (m_echo) {
        std::vector<std::uint8_t> key(32);
        coap::Xoshiro256 rng(m_echoKeySeed);
        rng.fill(key.data(), key.size());
        down.defences.echo_key = std::make_shared<coapbed::net::HmacSha256>(std::move(key));
    }
    down.defences.amplification_limit = m_amplificationLimit;
    up.token_length = m_upstreamTokenLength;
    up.random_initial_mid = m_randomMid;
    up.allow_short_tokens = true;  // the experiment asks for it (PROXY.md §3.1)
    coap::proxy::ProxyConfig pc;
    pc.cache = m_cache;
    pc.cache_config.max_entries = m_maxEntries;
    pc.cache_config.max_total_bytes = m_maxBytes;
    pc.cache_config.max_entry_bytes = std::min<std::size_t>(pc.cache_config.max_entry_bytes, m_maxBytes);
    pc.cache_config.max_freshness = coap::Duration::nanoseconds(m_maxFreshness.GetNanoSeconds());
    pc.coalesce = m_coalesce;
    pc.initial_hop_limit = static_cast<std::uint8_t>(m_hopLimit);
    pc.local_host = m_localAddress;
    pc.identifier = m_identifier;
    pc.honour_hop_limit = m_honourHopLimit;
    if (!m_nextHopHost.empty()) {
        const coap::Peer next = CoapApplication::ToPeer(InetSocketAddress(m_nextHop, 5683));
        pc.next_hop = [host = m_nextHopHost, next](const coap::proxy::Target& t) -> std::optional<coap::Peer> {
            if (t.host == host) return next;
            return std::nullopt;
        };
    }
    pc.local_port = m_port;
    pc.ports.per_exchange = m_perExchangePorts;
    if (m_passThroughBlocks) pc.blockwise = coap::proxy::ProxyConfig::Blockwise::PassThrough;
    pc.ports.first = m_firstPort;
    pc.ports.count = m_portCount;
    m_proxy = std::make_unique<coap::proxy::ForwardProxy>(down, up, pc, m_downRandom, m_upRandom);
    m_down = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
    m_up = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
    // Bound to the address the clients send to, so that the answers come from it (the
    // clients match ACKs and responses by address) whichever interface they leave by.
    const Ipv4Address local(m_localAddress.c_str());
    NS_ABORT_MSG_IF(m_down->Bind(InetSocketAddress(local, m_port)) != 0, "CoapProxy: cannot bind");
    NS_ABORT_MSG_IF(m_up->Bind(InetSocketAddress(Ipv4Address::GetAny(), m_upstreamPort)) != 0, "CoapProxy: cannot bind");
    m_proxy->set_upstream_observer([this](const coap::Event& e) {
        m_liveSeconds += e.in_flight.seconds_f();
        m_upstreamTrace(e.in_flight.seconds_f(), e.kind == coap::EventKind::Response);
        static const std::string kForged = "forged";
        if (e.kind == coap::EventKind::Response &&
            std::equal(e.message.payload.begin(), e.message.payload.end(), kForged.begin(), kForged.end())) {
            ++m_forgedAccepted;
        }
    });
    m_proxy->set_request_observer([this](const coap::IncomingRequest& req, bool hit) {
        m_requestTrace(hit);
        if (req.message == nullptr) return;
        const coap::Bytes t = req.message->token();
        m_notes.push_back(RequestNote{req.peer.port, std::vector<std::uint8_t>(t.begin(), t.end()), hit});
    });
    m_down->SetRecvCallback(MakeCallback(&CoapProxy::HandleRead, this));
    m_up->SetRecvCallback(MakeCallback(&CoapProxy::HandleRead, this));
    Drive();
}

void CoapProxy::StopApplication() {
    Simulator::Cancel(m_timer);
    std::vector<Ptr<Socket>> sockets{m_down, m_up};
    for (const auto& [port, s] : m_exchangeSockets) sockets.push_back(s);
    for (const auto& s : sockets) {
        if (s) {
            s->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
            s->Close();
        }
    }
}

void CoapProxy::HandleRead(Ptr<Socket> socket) {
    using Side = coap::proxy::ForwardProxy::Side;
    const Side side = socket == m_down ? Side::Down : Side::Up;
    Address from;
    std::vector<std::uint8_t> bytes;
    while (Ptr<Packet> packet = socket->RecvFrom(from)) {
        if (!m_proxy) continue;
        CoapApplication::LedgerRx(m_ledger, packet);
        m_rxTrace(packet, side == Side::Up);
        bytes.resize(packet->GetSize());
        packet->CopyData(bytes.data(), bytes.size());
        const coap::Bytes d(bytes.data(), bytes.size());
        if (side == Side::Down) {
            m_proxy->handle_datagram(CoapApplication::EngineNow(), side, CoapApplication::ToPeer(from), d);
        } else {
            const auto p = m_exchangePortOf.find(socket);
            m_proxy->handle_upstream_datagram(CoapApplication::EngineNow(), p == m_exchangePortOf.end() ? 0 : p->second,
                                              CoapApplication::ToPeer(from), d);
        }
        Drive();
    }
}

Ptr<Socket> CoapProxy::UpstreamSocket(uint16_t port) {
    if (const auto it = m_exchangeSockets.find(port); it != m_exchangeSockets.end()) return it->second;
    Ptr<Socket> s = Socket::CreateSocket(GetNode(), UdpSocketFactory::GetTypeId());
    NS_ABORT_MSG_IF(s->Bind(InetSocketAddress(Ipv4Address::GetAny(), port)) != 0, "CoapProxy: cannot bind " << port);
    s->SetRecvCallback(MakeCallback(&CoapProxy::HandleRead, this));
    m_exchangeSockets.emplace(port, s);
    m_exchangePortOf.emplace(s, port);
    return s;
}

void CoapProxy::Drive() {
    if (!m_proxy) return;
    coap::proxy::ForwardProxy::Side side;
    coap::Transmit t;
    uint16_t port = 0;
    while (m_proxy->poll_transmit(side, port, t)) {
        Ptr<Packet> p = Create<Packet>(t.bytes.data(), t.bytes.size());
        const Address to = CoapApplication::ToAddress(t.peer);
        // The two sides are two senders: each has its own Message IDs.
        const bool down = side == coap::proxy::ForwardProxy::Side::Down;
        CoapApplication::LedgerTx(m_ledger, down ? static_cast<const void*>(this) : PeekPointer(m_up), to, p);
        m_txTrace(p, !down);
        (down ? m_down : port == 0 ? m_up : UpstreamSocket(port))->SendTo(p, 0, to);
        if (!m_nextHopHost.empty() && InetSocketAddress::ConvertFrom(to).GetIpv4() == m_nextHop) ++m_sentToNextHop;
    }
    // Per-exchange ports whose exchange ended: their sockets close (a late datagram to
    // one finds no socket, as on a real host).
    while (m_proxy->poll_closed_port(port)) {
        const auto it = m_exchangeSockets.find(port);
        if (it == m_exchangeSockets.end()) continue;
        it->second->SetRecvCallback(MakeNullCallback<void, Ptr<Socket>>());
        it->second->Close();
        m_exchangePortOf.erase(it->second);
        m_exchangeSockets.erase(it);
    }
    Simulator::Cancel(m_timer);
    if (const auto at = m_proxy->poll_timeout()) {
        const Time delay = std::max(NanoSeconds(at->ns()) - Simulator::Now(), Time(0));
        m_timer = Simulator::Schedule(delay, [this] {
            if (!m_proxy) return;
            m_proxy->handle_timeout(CoapApplication::EngineNow());
            Drive();
        });
    }
}

}  // namespace ns3
