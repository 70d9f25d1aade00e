#include "coap-server.h"

#include "ns3/log.h"
#include "ns3/string.h"
#include "ns3/uinteger.h"

#include "coap/codec/code.h"

namespace ns3 {

NS_LOG_COMPONENT_DEFINE("CoapServer");
NS_OBJECT_ENSURE_REGISTERED(CoapServer);

TypeId CoapServer::GetTypeId() {
    static TypeId tid =
        TypeId("ns3::CoapServer")
            .SetParent<CoapApplication>()
            .SetGroupName("Applications")
            .AddConstructor<CoapServer>()
            .AddAttribute("Path", "Uri-Path of the served resource (no leading /).", StringValue("data"),
                          MakeStringAccessor(&CoapServer::m_path), MakeStringChecker())
            .AddAttribute("ResponseSize", "Response body bytes.", UintegerValue(64),
                          MakeUintegerAccessor(&CoapServer::m_responseSize), MakeUintegerChecker<uint32_t>());
    return tid;
}

CoapServer::CoapServer() = default;

uint16_t CoapServer::DefaultPort() const { return 5683; }  // RFC 7252 §6.1

CoapServer::~CoapServer() = default;

void CoapServer::OnEngineCreated(coap::Endpoint& endpoint) {
    coap::ResourceConfig rc;
    rc.methods = coap::methods::kAll;
    rc.handler = [this](const coap::IncomingRequest& req) -> coap::HandlerResult {
        ++m_served;
        coap::Response r;
        const auto detail = req.method.detail();
        // RFC 7252 §5.8: 2.05 for GET/FETCH, 2.04 for POST/PUT, 2.02 for DELETE.
        r.code = detail == 4 ? coap::Code::make(2, 2) : (detail == 2 || detail == 3) ? coap::Code::make(2, 4)
                                                                                      : coap::Code::make(2, 5);
        r.payload.resize(m_responseSize);
        for (uint32_t i = 0; i < m_responseSize; ++i) r.payload[i] = static_cast<std::uint8_t>('A' + i % 26);
        r.content_format = 42;  // application/octet-stream
        return r;
    };
    const auto err = endpoint.add_resource(m_path, std::move(rc));
    NS_ABORT_MSG_IF(err != coap::ApiError::Ok, "CoapServer: cannot add resource " << m_path);
}

}  // namespace ns3
