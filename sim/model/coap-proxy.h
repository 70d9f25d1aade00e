// CoapProxy: the engine's forward proxy (coap/proxy/forward_proxy.h) on an ns-3 node, with
// a downstream socket (the clients send Proxy-Uri requests to Port) and an upstream socket
// (an ephemeral port toward the origins). Glue only, like CoapApplication: datagrams in,
// transmits out on the side the proxy names, one timer at poll_timeout().
#ifndef COAPBED_COAP_PROXY_H
#define COAPBED_COAP_PROXY_H

#include <map>
#include <memory>

#include "ns3/application.h"
#include "ns3/packet.h"
#include "ns3/traced-callback.h"
#include "ns3/event-id.h"
#include "ns3/nstime.h"
#include "ns3/socket.h"
#include "ns3/ipv4-address.h"

#include "coap-application.h"
#include "coap/proxy/forward_proxy.h"

namespace ns3 {

class CoapProxy : public Application {
public:
    /// Trace signatures: "UpstreamDone" (seconds in flight, answered) and "Tx"/"Rx" (the
    /// datagram, whether on the origins' side).
    typedef void (*UpstreamCallback)(double seconds, bool answered);
    typedef void (*PacketCallback)(Ptr<const Packet> packet, bool upstream);
    static TypeId GetTypeId();
    CoapProxy();
    ~CoapProxy() override;

    /// Valid once the application started.
    const coap::proxy::ProxyStats& GetProxyStats() const;
    const coap::proxy::CacheStats& GetCacheStats() const;
    const coap::EndpointStats& GetDownstreamStats() const;
    const coap::EndpointStats& GetUpstreamStats() const;
    int64_t AssignStreams(int64_t stream);
    /// The run's MessageLedger (see CoapApplication::SetLedger).
    void SetLedger(coapbed::sim::MessageLedger* ledger) { m_ledger = ledger; }
    /// Upstream responses accepted whose payload is "forged" (what CoapAttacker's
    /// spoofed-separate vector sends): poisoned answers the proxy took for the origin's.
    uint64_t GetForgedAccepted() const { return m_forgedAccepted; }
    /// Seconds upstream tokens were live, summed over every upstream exchange (from its
    /// first transmission to its end): the window a token-guessing attacker aims at.
    double GetUpstreamLiveSeconds() const { return m_liveSeconds; }
    /// Datagrams sent (either side) to the NextHop proxy's address: a forwarding loop's traffic.
    uint64_t GetSentToNextHop() const { return m_sentToNextHop; }
    /// The upstream ports' counters (per-exchange ports; zeros with the fixed port).
    const coap::proxy::UpstreamPortStats& GetPortStats() const;
    /// Every request the proxy answered from its cache (hit) or sent upstream (miss), by
    /// the client's port and token: joined with the clients' records for the latency of
    /// hits and misses.
    struct RequestNote {
        uint16_t port = 0;
        std::vector<std::uint8_t> token;
        bool hit = false;
    };
    const std::vector<RequestNote>& GetRequestNotes() const { return m_notes; }

protected:
    void DoDispose() override;
    void StartApplication() override;
    void StopApplication() override;

private:
    void HandleRead(Ptr<Socket> socket);
    void Drive();

    /// The socket of a per-exchange upstream port, opened when its first datagram leaves.
    Ptr<Socket> UpstreamSocket(uint16_t port);

    uint16_t m_port;
    uint16_t m_upstreamPort;
    bool m_perExchangePorts = false;
    bool m_passThroughBlocks = false;
    bool m_randomMid = true;
    uint64_t m_sentToNextHop = 0;
    TracedCallback<bool> m_requestTrace;                  ///< "Request": answered from the cache (true) or not
    TracedCallback<double, bool> m_upstreamTrace;         ///< "UpstreamDone": seconds in flight, answered
    TracedCallback<Ptr<const Packet>, bool> m_txTrace;    ///< "Tx": a datagram sent, upstream or not
    TracedCallback<Ptr<const Packet>, bool> m_rxTrace;    ///< "Rx": a datagram received, upstream or not
    uint16_t m_firstPort = 49152;
    uint32_t m_portCount = 16384;
    std::map<uint16_t, Ptr<Socket>> m_exchangeSockets;  ///< per-exchange upstream ports open
    std::map<Ptr<Socket>, uint16_t> m_exchangePortOf;
    uint64_t m_forgedAccepted = 0;
    double m_liveSeconds = 0;
    std::vector<RequestNote> m_notes;
    bool m_cache;
    uint32_t m_maxEntries;
    uint32_t m_maxBytes;
    Time m_maxFreshness;
    uint32_t m_upstreamTokenLength;
    bool m_coalesce;
    uint32_t m_hopLimit;
    Time m_ackDelay;
    Time m_ackTimeout;
    double m_ackRandomFactor;
    bool m_cocoaVbfPerStep = false;
    uint32_t m_maxRetransmit;
    uint32_t m_nstart;
    uint32_t m_blockSize;
    std::string m_localAddress;
    std::string m_identifier;
    std::string m_nextHopHost;   ///< targets with this host go to m_nextHop (a proxy), not the origin
    Ipv4Address m_nextHop;
    bool m_honourHopLimit;
    bool m_echo;                 ///< the clients' side: RFC 9175 Echo for large answers to unverified addresses
    double m_amplificationLimit;
    uint64_t m_echoKeySeed;

    CoapStreamRandom m_downRandom, m_upRandom;
    std::unique_ptr<coap::proxy::ForwardProxy> m_proxy;
    Ptr<Socket> m_down, m_up;
    coapbed::sim::MessageLedger* m_ledger = nullptr;
    EventId m_timer;
};

}  // namespace ns3

#endif
