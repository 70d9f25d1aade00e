#include "coap/server/response.h"

#include <algorithm>

#include "coap/codec/writer.h"
#include "coap/options/registry.h"

namespace coap {

namespace {
// A reply of a header and a token alone (error codes).
void header_only(std::vector<std::uint8_t>& out, MessageType type, Code code, std::uint16_t mid, Bytes token) {
    out.resize(4 + 8);
    MessageWriter w(MutableBytes(out.data(), out.size()), type, code, mid, token);
    const BuildResult r = w.finish();
    out.resize(r.ok() ? r.size : 0);
}
}  // namespace

void build_response(std::vector<std::uint8_t>& out, std::uint8_t max_szx, MessageType type, std::uint16_t mid,
                    Bytes token, const Response& r, const ResponseShape& shape) {
    Bytes payload(r.payload.data(), r.payload.size());
    // RFC 7959 §2.4: serve the block asked for, or the first block of a body larger
    // than our block size, with the smaller of the two sizes.
    std::uint8_t szx = max_szx;
    std::uint64_t offset = 0;
    if (shape.request_block2) {
        offset = shape.request_block2->offset();
        szx = std::min(szx, shape.request_block2->szx);
    }
    const std::size_t size = std::size_t{16} << szx;
    // The whole body, or (body_size) the handler's slice of it at `offset`.
    const std::uint64_t total = r.body_size.value_or(r.payload.size());
    const bool block2 = r.block2 || (r.code.is_success() && (shape.request_block2 || total > size));
    std::uint32_t block2_value = 0;
    if (r.block2) {
        block2_value = encode_block(*r.block2);  // the handler's own block, as it is
    } else if (block2) {
        if (offset > total || (offset == total && offset != 0)) {
            return header_only(out, type, codes::kBadOption, mid, token);  // RFC 7959 §2.4: no such block
        }
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(size, total - offset));
        block2_value = encode_block(Block{static_cast<std::uint32_t>(offset / size), offset + n < total, szx});
        payload = r.body_size ? Bytes(r.payload.data(), std::min(n, r.payload.size()))
                              : Bytes(r.payload.data() + offset, n);
    }
    // Into a buffer sized for this block, not the whole body.
    out.resize(message_bound(r.options, 6, 0, payload.size()));
    MessageWriter w(MutableBytes(out.data(), out.size()), type, r.code, mid, token);
    for (const OwnedOption& o : r.options) (void)w.add_option(o.number, Bytes(o.value.data(), o.value.size()));
    if (r.content_format) (void)w.add_uint(options::kContentFormat, *r.content_format);
    if (r.max_age) (void)w.add_uint(options::kMaxAge, *r.max_age);
    if (shape.observe_seq) (void)w.add_uint(options::kObserve, *shape.observe_seq);
    if (shape.block1_echo) (void)w.add_uint(options::kBlock1, encode_block(*shape.block1_echo));
    if (block2) {
        (void)w.add_uint(options::kBlock2, block2_value);
        if (offset == 0 && !r.block2) (void)w.add_uint(options::kSize2, total);  // RFC 7959 §4
    }
    const BuildResult built = w.finish(payload);  // errors are sticky
    out.resize(built.ok() ? built.size : 0);
    if (out.empty()) header_only(out, type, codes::kInternalServerError, mid, token);
}

}  // namespace coap
