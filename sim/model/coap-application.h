// CoapApplication: one engine Endpoint on an ns-3 node, driven by a UDP socket's
// receive callback and one timer scheduled at poll_timeout() (STYLE §9). The engine's
// clock is Simulator::Now(); its random source draws from an ns-3 RandomVariableStream
// (AssignStreams), so a run is reproducible from RngSeed/RngRun.
//
// With the Security attribute (psk, rpk, certificate) every datagram goes through DTLS 1.2
// (net/dtls.h, the GnuTLS stack, as on real sockets) with the provisioned simulation keys
// (dtls-keys.h); records are sized by the node's IP MTU. For a reproducible run the
// simulation runs under net::SimulatedDtls (simulated time, seeded entropy).
//
// CoapClient and CoapServer derive from it; the glue here holds no protocol logic.
#ifndef COAPBED_COAP_APPLICATION_H
#define COAPBED_COAP_APPLICATION_H

#include <memory>
#include <optional>
#include <string>

#include "ns3/address.h"
#include "ns3/application.h"
#include "ns3/event-id.h"
#include "ns3/nstime.h"
#include "ns3/ptr.h"
#include "ns3/random-variable-stream.h"
#include "ns3/socket.h"
#include "ns3/traced-callback.h"

#include "coap/common/random.h"
#include "coap/endpoint/endpoint.h"
#include "net/dtls.h"

namespace ns3 {

/// The engine's Random over an ns-3 stream: 64 bits from two 32-bit draws.
class CoapStreamRandom : public coap::Random {
public:
    CoapStreamRandom();
    std::uint64_t next_u64() override;
    Ptr<UniformRandomVariable> stream;
};

}  // namespace ns3

namespace coapbed::sim {
class MessageLedger;
}

namespace ns3 {

class CoapApplication : public Application {
public:
    static TypeId GetTypeId();
    CoapApplication();
    ~CoapApplication() override;

    /// The engine's counters (valid after the application started).
    const coap::EndpointStats& GetEngineStats() const;
    /// DTLS's counters (zero under NoSec).
    const coapbed::net::DtlsStats& GetDtlsStats() const;
    /// The UDP port this application's socket is bound to (0 before it started).
    uint16_t GetLocalPort() const;
    /// Why the last DTLS handshake failed ("" if none did).
    std::string GetDtlsError() const { return m_dtls ? m_dtls->last_error() : std::string(); }
    /// Streams used: one for the engine and one for the subclass's workload.
    int64_t AssignStreams(int64_t stream);

    /// Converts between ns-3 socket addresses and the engine's Peer.
    static coap::Peer ToPeer(const Address& address);
    static Address ToAddress(const coap::Peer& peer);
    static coap::TimePoint EngineNow();

    /// The run's MessageLedger (null: none). Every datagram this application sends is
    /// tagged with its message and copy number, and every one it receives reported.
    void SetLedger(coapbed::sim::MessageLedger* ledger) { m_ledger = ledger; }
    /// The ledger side of sending datagram `p` (its first bytes a CoAP header) from
    /// `sender` to `to`, and of receiving one; for applications with their own sockets.
    static void LedgerTx(coapbed::sim::MessageLedger* ledger, const void* sender, const Address& to, Ptr<Packet> p);
    static void LedgerRx(coapbed::sim::MessageLedger* ledger, Ptr<const Packet> p);
    /// The message id and copy number a datagram was tagged with; false if untagged.
    static bool LedgerTagOf(Ptr<const Packet> p, uint64_t& id, uint32_t& copy);

    /// Fired for every CON retransmission the engine sends (count since the last call).
    typedef void (*RetransmissionCallback)(uint32_t count);
    /// Fired when the RTO toward the tracked peer changes (old, new).
    typedef void (*RtoCallback)(Time oldRto, Time newRto);
    typedef void (*RtoStateCallback)(Time rto, const std::string& state);

protected:
    void DoDispose() override;
    void StartApplication() override;
    void StopApplication() override;

    /// The endpoint, created at start from the attributes.
    coap::Endpoint& Engine();
    bool HasEngine() const { return static_cast<bool>(m_endpoint); }
    /// Called before the endpoint is made (servers set their defences here).
    virtual void ConfigureEngine(coap::EndpointConfig& config);
    /// Called once the endpoint exists (servers add resources here).
    virtual void OnEngineCreated(coap::Endpoint& endpoint);
    /// Called for every engine event (valid during the call only; it must not call Drive).
    virtual void OnEngineEvent(const coap::Event& event);
    /// Drains transmits and events and re-arms the timer. Call after every engine input.
    void Drive();
    /// The peer whose RTO is traced (the client's server).
    void TrackRto(const coap::Peer& peer) { m_trackedPeer = peer; }

    /// The port bound when the Port attribute is 0 (0: an ephemeral port).
    virtual uint16_t DefaultPort() const;
    /// The DTLS server side (answers handshakes) rather than the client side.
    virtual bool IsDtlsServer() const { return false; }

    Ptr<UniformRandomVariable> m_workloadStream;  ///< for the subclass's own randomness

private:
    void HandleRead(Ptr<Socket> socket);
    void HandleTimer();
    void StartDtls();
    void SendDatagram(const coap::Peer& to, const std::uint8_t* data, std::size_t size);

    // attributes
    uint16_t m_port;
    std::string m_congestion;
    Time m_ackTimeout;
    double m_ackRandomFactor;
    bool m_cocoaVbfPerStep = false;
    uint32_t m_maxRetransmit;
    uint32_t m_nstart;
    Time m_defaultLeisure;
    double m_probingRate;
    Time m_maxLatency;
    uint32_t m_blockSize;
    uint32_t m_tokenLength;
    bool m_randomInitialMid;
    std::string m_security;
    uint16_t m_localPort = 0;
    bool m_helloVerify = true;

    Ptr<Socket> m_socket;
    coapbed::sim::MessageLedger* m_ledger = nullptr;
    EventId m_timer;
    CoapStreamRandom m_random;
    std::unique_ptr<coap::Endpoint> m_endpoint;
    coap::Transmit m_transmit;  ///< Drive polls into these (OnEngineEvent must not call Drive)
    coap::Event m_event;
    std::unique_ptr<coapbed::net::DtlsLayer> m_dtls;
    coapbed::net::DtlsLayer::Send m_dtlsSend;
    uint64_t m_lastRetransmissions = 0;
    std::optional<coap::Peer> m_trackedPeer;
    Time m_lastRto;

    TracedCallback<uint32_t> m_retransmissionTrace;
    TracedCallback<Time, Time> m_rtoTrace;
    TracedCallback<Time, const std::string&> m_rtoStateTrace;
    std::string m_lastState;
    TracedCallback<Ptr<const Packet>> m_txTrace;
    TracedCallback<Ptr<const Packet>> m_rxTrace;
};

}  // namespace ns3

#endif
