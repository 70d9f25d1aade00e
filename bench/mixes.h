// The message and URI mixes every suite runs, defined once so that coapbed and
// libcoap always do the same work on the same inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "coap/codec/message.h"

namespace coapbed::bench {

struct Mix {
    std::string name;                                 ///< the <mix> in benchmark names
    std::vector<std::vector<std::uint8_t>> datagrams; ///< wire form
    std::vector<coap::Message> messages;              ///< the same messages, parsed
    std::size_t bytes = 0;                            ///< sum of datagram sizes
    std::string error;                                ///< why the mix could not be made (the suites skip it with this)
};

/// con-get, piggybacked-content, observe-notification, block-request, empty-ack-rst,
/// sim (every datagram of a seeded in-memory run of two endpoints: GETs, a block-wise
/// download and an observation under 10 % loss) and sim-pcap (every CoAP datagram of an
/// ns-3 run's capture, bench/data/README.md).
const std::vector<Mix>& message_mixes();

struct UriMix {
    std::string name;
    std::vector<std::string> uris;
};
/// typical: URIs of the shapes coap-client users type (hosts, IPv6, ports, paths, queries,
/// percent-encoding).
const std::vector<UriMix>& uri_mixes();

}  // namespace coapbed::bench
