// Fuzz target: Block1 reassembly on a server and Block2 reassembly on a client under
// arbitrary block numbers, sizes, flags, orders and ETags (RFC 7959). Checks: the
// server's handler never sees more than max_body bytes and only after a final block;
// a client body never exceeds max_body; reassembly tables stay within their bounds.
#include <cstdint>
#include <vector>

#include "byte_reader.h"
#include "check.h"
#include "coap/codec/builder.h"
#include "coap/endpoint/endpoint.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coapbed::fuzz::ByteReader in(data, size);
    coap::EndpointConfig config;
    config.max_body = 4096;
    config.max_block1_transfers = 3;
    config.max_exchanges = 4;
    coap::Xoshiro256 rng_s(1), rng_c(2);
    coap::Endpoint server(config, rng_s);
    coap::Endpoint client(config, rng_c);
    const coap::Peer server_addr = coap::Peer::ipv4(0x0a000002, 5683);
    std::size_t handled = 0;
    coap::ResourceConfig sink;
    sink.methods = coap::methods::kPost | coap::methods::kPut;
    sink.handler = [&](const coap::IncomingRequest& req) {
        FUZZ_CHECK(req.payload.size() <= config.max_body);
        ++handled;
        return coap::Response::with(coap::codes::kChanged);
    };
    (void)server.add_resource("sink", sink);
    coap::TimePoint now;
    std::vector<std::uint8_t> last_request;  // the client's newest datagram
    for (int step = 0; step < 300 && !in.empty(); ++step) {
        switch (in.u8() % 4) {
            case 0: {  // a crafted Block1 request to the server
                const coap::Peer from = coap::Peer::ipv4(0x0b000000 + in.u8() % 3, 9);
                coap::MessageBuilder b(in.flag() ? coap::MessageType::Con : coap::MessageType::Non,
                                       in.flag() ? coap::codes::kPost : coap::codes::kPut, in.u16());
                const auto token = in.bytes(8);
                (void)b.set_token(coap::Bytes(token.data(), token.size()));
                (void)b.add_option(coap::options::kUriPath, std::string_view(in.flag() ? "sink" : "other"));
                std::vector<std::uint8_t> tag;
                if (in.flag()) {
                    tag = in.bytes(8);
                    (void)b.add_option(coap::options::kRequestTag, coap::Bytes(tag.data(), tag.size()));
                }
                const coap::Block blk{in.u32() % (1u << 20), in.flag(), static_cast<std::uint8_t>(in.u8() % 7)};
                (void)b.add_uint(coap::options::kBlock1, coap::encode_block(blk));
                std::vector<std::uint8_t> payload(in.u16() % 1100, 0x5a);
                b.set_payload(coap::Bytes(payload.data(), payload.size()));
                std::vector<std::uint8_t> wire(b.encoded_size());
                const auto r = b.build(coap::MutableBytes(wire.data(), wire.size()));
                if (r.ok()) server.handle_datagram(now, from, coap::Bytes(wire.data(), r.size));
                break;
            }
            case 1: {  // the client asks for a resource
                coap::Request req;
                req.path("big");
                if (in.flag()) req.block2_szx = static_cast<std::uint8_t>(in.u8() % 7);
                (void)client.send_request(now, server_addr, std::move(req));
                break;
            }
            case 2: {  // a crafted Block2 response to the client's newest request
                if (last_request.size() < 4) break;
                coap::MessageView req;
                if (!coap::parse(coap::Bytes(last_request.data(), last_request.size()), req).ok()) break;
                const bool piggyback = in.flag();
                coap::MessageBuilder b(piggyback ? coap::MessageType::Ack : coap::MessageType::Con, coap::codes::kContent,
                                       piggyback ? req.message_id() : in.u16());
                (void)b.set_token(req.token());
                const std::uint8_t etag = in.u8() % 3;
                if (etag != 0) (void)b.add_option(coap::options::kETag, coap::Bytes(&etag, 1));
                const coap::Block blk{in.u32() % 8, in.flag(), static_cast<std::uint8_t>(in.u8() % 8)};
                (void)b.add_uint(coap::options::kBlock2, coap::encode_block(blk));
                std::vector<std::uint8_t> payload(in.u16() % 1100, 0x6b);
                b.set_payload(coap::Bytes(payload.data(), payload.size()));
                std::vector<std::uint8_t> wire(b.encoded_size());
                const auto r = b.build(coap::MutableBytes(wire.data(), wire.size()));
                if (r.ok()) client.handle_datagram(now, server_addr, coap::Bytes(wire.data(), r.size));
                break;
            }
            case 3:
                now += coap::Duration::milliseconds(in.u16()) * 50;
                server.handle_timeout(now);
                client.handle_timeout(now);
                break;
        }
        while (auto t = server.poll_transmit()) {
        }
        while (auto t = client.poll_transmit()) last_request = t->bytes;
        while (auto e = client.poll_event()) FUZZ_CHECK(e->message.payload.size() <= config.max_body);
        FUZZ_CHECK(server.block1_transfer_count() <= config.max_block1_transfers);
        FUZZ_CHECK(client.active_exchanges() <= config.max_exchanges);
    }
    return handled > 1000000 ? 1 : 0;
}
