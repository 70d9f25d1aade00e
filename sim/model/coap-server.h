// CoapServer: one engine Endpoint serving a resource whose responses have a
// configurable size (sent block-wise, RFC 7959, when larger than a block).
#ifndef COAPBED_COAP_SERVER_H
#define COAPBED_COAP_SERVER_H

#include <string>

#include "coap-application.h"

namespace ns3 {

class CoapServer : public CoapApplication {
public:
    static TypeId GetTypeId();
    CoapServer();
    ~CoapServer() override;

    uint64_t GetRequestsServed() const { return m_served; }

protected:
    void ConfigureEngine(coap::EndpointConfig& config) override;
    void OnEngineCreated(coap::Endpoint& endpoint) override;
    uint16_t DefaultPort() const override;
    bool IsDtlsServer() const override { return true; }
    void StopApplication() override;

private:
    void Notify();

    std::string m_path;
    uint32_t m_responseSize;
    uint32_t m_resources = 0;  ///< also serve Path/0 .. Path/(N-1)
    int64_t m_maxAge = -1;     ///< Max-Age of those responses (-1: none, i.e. 60 s)
    uint32_t m_largeSize;
    uint32_t m_wellKnownSize;
    uint32_t m_observeSize;
    bool m_observeEtag = false;
    Time m_notifyInterval;
    bool m_echo;
    double m_amplificationLimit;
    double m_rateLimit;
    bool m_observeVerifiedOnly;
    bool m_multicast;
    uint32_t m_maxObservers;
    uint32_t m_dedupCapacity = 0;
    uint64_t m_echoKeySeed;
    uint64_t m_served = 0;
    uint32_t m_obsValue = 0;
    EventId m_notifyEvent;
};

}  // namespace ns3

#endif
