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
    void OnEngineCreated(coap::Endpoint& endpoint) override;
    uint16_t DefaultPort() const override;

private:
    std::string m_path;
    uint32_t m_responseSize;
    uint64_t m_served = 0;
};

}  // namespace ns3

#endif
