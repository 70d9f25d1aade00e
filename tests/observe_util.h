// Helpers of the observe tests (observe_test.cc, observe_blockwise_test.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "test_network.h"

namespace coapbed::test {

// Sends a GET with Observe 0 for `path` and runs the network for a second.
inline std::uint64_t observe_path(TestNetwork& net, TestNetwork::Node& client, const coap::Peer& server, const char* path) {
    coap::Request r;
    r.path(path);
    r.observe = true;
    const coap::SendResult s = client.endpoint->send_request(net.now(), server, std::move(r));
    EXPECT_TRUE(s.ok());
    net.flush_all();
    net.drive(net.now() + coap::Duration::seconds(1));
    return s.id;
}

// The event's payload as text.
inline std::string text(const coap::Event& e) { return std::string(e.message.payload.begin(), e.message.payload.end()); }

// The Observe value among `m`'s options, if any.
inline std::optional<std::uint64_t> observe_value(const coap::Message& m) {
    for (const auto& o : m.options) {
        if (o.number == coap::options::kObserve) return coap::decode_uint(coap::Bytes(o.value.data(), o.value.size()));
    }
    return std::nullopt;
}

}  // namespace coapbed::test
