// CoapAttacker: an off-path attacker that spoofs the victim's address. It builds each
// datagram with its own IPv4 and UDP headers and sends it through a raw socket with
// IP_HDRINCL (ns-3's Ipv4RawSocket "IpHeaderInclude"), so the victim's address is what
// goes on the wire (visible in a pcap). Reflectors are ordinary CoapServers.
//
// Vectors (RFC 7252 §11.3, §11.4):
//   large-get        GET /large, a representation of up to one block (no block-wise)
//   well-known-core  GET /.well-known/core (RFC 6690 link format)
//   block            GET /large with Block2 (NUM cycling, SZX 6: 1024-byte blocks)
//   observe          GET /obs with Observe: 0 (new token each time): notifications follow
//   multicast        NON GET /.well-known/core to All-CoAP-Nodes (224.0.1.187), m servers answer
//   multicast-observe  NON GET /obs with Observe: 0 to the group
//   dns              real DNS queries (and NTP, SSDP, SNMP packets) sent to the CoAP port
//   spoofed-rst      RSTs "from" the server to a client's port with guessed Message IDs
//   spoofed-ack      piggybacked 2.05 "from" the server with guessed Message ID and token
#ifndef COAPBED_COAP_ATTACKER_H
#define COAPBED_COAP_ATTACKER_H

#include <cstdint>
#include <string>
#include <vector>

#include "ns3/application.h"
#include "ns3/event-id.h"
#include "ns3/ipv4-address.h"
#include "ns3/nstime.h"
#include "ns3/random-variable-stream.h"
#include "ns3/socket.h"

namespace ns3 {

class CoapAttacker : public Application {
public:
    static TypeId GetTypeId();
    CoapAttacker();
    ~CoapAttacker() override;

    /// A reflector (or, for spoofed-rst/ack, the server whose address is forged).
    void AddTarget(Ipv4Address address, uint16_t port);
    int64_t AssignStreams(int64_t stream);

    uint64_t GetPackets() const { return m_packets; }
    uint64_t GetIpBytes() const { return m_ipBytes; }
    uint64_t GetCoapBytes() const { return m_coapBytes; }

protected:
    void DoDispose() override;

private:
    void StartApplication() override;
    void StopApplication() override;
    void SendOne();
    std::vector<uint8_t> MakeDatagram(uint16_t& dstPort, Ipv4Address& src, Ipv4Address& dst);

    // attributes
    std::string m_vector;
    double m_rate;
    Ipv4Address m_victim;
    uint16_t m_victimPort;
    uint32_t m_victimPortCount = 1;
    uint32_t m_blocks;
    uint32_t m_tokenGuessLength;
    uint32_t m_forgedMaxAge;
    std::string m_proxyTarget;
    bool m_midSequential;
    double m_midGuessRate;
    Time m_started;

    std::vector<std::pair<Ipv4Address, uint16_t>> m_targets;
    Ptr<Socket> m_socket;
    EventId m_event;
    Ptr<UniformRandomVariable> m_rng;
    uint64_t m_sent = 0;
    uint64_t m_packets = 0, m_ipBytes = 0, m_coapBytes = 0;
};

}  // namespace ns3

#endif
