#include "coap-helper.h"

#include "ns3/node.h"
#include "ns3/uinteger.h"

#include "../model/coap-client.h"
#include "../model/coap-proxy.h"
#include "../model/coap-server.h"

namespace ns3 {

CoapHelperBase::CoapHelperBase(const std::string& typeId) { m_factory.SetTypeId(typeId); }

void CoapHelperBase::SetAttribute(std::string name, const AttributeValue& value) { m_factory.Set(name, value); }

ApplicationContainer CoapHelperBase::Install(Ptr<Node> node) const {
    Ptr<Application> app = m_factory.Create<Application>();
    node->AddApplication(app);
    return ApplicationContainer(app);
}

ApplicationContainer CoapHelperBase::Install(NodeContainer nodes) const {
    ApplicationContainer apps;
    for (auto it = nodes.Begin(); it != nodes.End(); ++it) apps.Add(Install(*it));
    return apps;
}

int64_t CoapHelperBase::AssignStreams(ApplicationContainer apps, int64_t stream) {
    int64_t used = 0;
    for (auto it = apps.Begin(); it != apps.End(); ++it) {
        if (auto app = DynamicCast<CoapApplication>(*it)) used += app->AssignStreams(stream + used);
        if (auto proxy = DynamicCast<CoapProxy>(*it)) used += proxy->AssignStreams(stream + used);
    }
    return used;
}

CoapServerHelper::CoapServerHelper(uint16_t port) : CoapHelperBase("ns3::CoapServer") {
    if (port != 5683) SetAttribute("Port", UintegerValue(port));
}

CoapProxyHelper::CoapProxyHelper(uint16_t port) : CoapHelperBase("ns3::CoapProxy") {
    if (port != 5683) SetAttribute("Port", UintegerValue(port));
}

CoapClientHelper::CoapClientHelper(const Address& remote) : CoapHelperBase("ns3::CoapClient") {
    SetAttribute("RemoteAddress", AddressValue(remote));
}

}  // namespace ns3
