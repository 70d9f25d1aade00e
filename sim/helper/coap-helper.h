// Helpers in the style of UdpEchoServerHelper / UdpEchoClientHelper.
//
//     CoapServerHelper server;                        // port 5683
//     server.SetAttribute("ResponseSize", UintegerValue(512));
//     ApplicationContainer s = server.Install(serverNode);
//     CoapClientHelper client(InetSocketAddress(serverAddress, 5683));
//     client.SetAttribute("Congestion", StringValue("cocoa"));
//     ApplicationContainer c = client.Install(clientNodes);
//     CoapHelperBase::AssignStreams(c, 100);
#ifndef COAPBED_COAP_HELPER_H
#define COAPBED_COAP_HELPER_H

#include <string>

#include "ns3/address.h"
#include "ns3/application-container.h"
#include "ns3/attribute.h"
#include "ns3/node-container.h"
#include "ns3/object-factory.h"

namespace ns3 {

class CoapHelperBase {
public:
    void SetAttribute(std::string name, const AttributeValue& value);
    ApplicationContainer Install(Ptr<Node> node) const;
    ApplicationContainer Install(NodeContainer nodes) const;
    /// Fixes the random streams of every CoapApplication and CoapProxy in `apps`; returns how many it used.
    static int64_t AssignStreams(ApplicationContainer apps, int64_t stream);

protected:
    explicit CoapHelperBase(const std::string& typeId);
    ObjectFactory m_factory;
};

class CoapServerHelper : public CoapHelperBase {
public:
    explicit CoapServerHelper(uint16_t port = 5683);
};

class CoapClientHelper : public CoapHelperBase {
public:
    /// `remote` is the server's InetSocketAddress or Inet6SocketAddress.
    explicit CoapClientHelper(const Address& remote);
};

/// A forward proxy with a cache (CoapProxy): clients send it requests with Proxy-Uri
/// (CoapClient's ProxyUri attribute), it forwards them to the origins.
///
///     CoapProxyHelper proxy;                          // port 5683
///     proxy.SetAttribute("LocalAddress", StringValue("10.1.0.1"));
///     ApplicationContainer p = proxy.Install(routerNode);
class CoapProxyHelper : public CoapHelperBase {
public:
    explicit CoapProxyHelper(uint16_t port = 5683);
};

}  // namespace ns3

#endif
