#include "coap/codec/message.h"

#include <algorithm>

namespace coap {

namespace {
std::vector<OwnedOption> sorted(std::vector<OwnedOption> v) {
    std::stable_sort(v.begin(), v.end(),
                     [](const OwnedOption& a, const OwnedOption& b) { return a.number < b.number; });
    return v;
}
}  // namespace

bool operator==(const Message& a, const Message& b) {
    return a.type == b.type && a.code == b.code && a.message_id == b.message_id &&
           a.token == b.token && a.payload == b.payload && sorted(a.options) == sorted(b.options);
}

Message to_message(const MessageView& view) {
    Message m;
    m.type = view.type();
    m.code = view.code();
    m.message_id = view.message_id();
    m.token.assign(view.token().begin(), view.token().end());
    m.options.reserve(view.option_count());
    for (Option o : view) m.options.push_back(OwnedOption{o.number, {o.value.begin(), o.value.end()}});
    m.payload.assign(view.payload().begin(), view.payload().end());
    return m;
}

void to_message(const MessageView& view, Message& out) {
    to_message_without_payload(view, out);
    out.payload.assign(view.payload().begin(), view.payload().end());
}

void to_message_without_payload(const MessageView& view, Message& out) {
    out.type = view.type();
    out.code = view.code();
    out.message_id = view.message_id();
    out.token.assign(view.token().begin(), view.token().end());
    out.options.resize(view.option_count());
    std::size_t i = 0;
    for (Option o : view) {
        out.options[i].number = o.number;
        out.options[i].value.assign(o.value.begin(), o.value.end());
        ++i;
    }
    out.payload.clear();
}

BuildResult build(const Message& m, MutableBytes out) noexcept {
    MessageBuilder b(m.type, m.code, m.message_id);
    if (auto e = b.set_token(Bytes(m.token.data(), m.token.size())); e != BuildError::Ok) return {e, 0};
    for (const auto& o : m.options) {
        if (auto e = b.add_option(o.number, Bytes(o.value.data(), o.value.size())); e != BuildError::Ok) {
            return {e, 0};
        }
    }
    b.set_payload(Bytes(m.payload.data(), m.payload.size()));
    return b.build(out);
}

std::size_t size_bound(const std::vector<OwnedOption>& options, std::size_t token, std::size_t payload) noexcept {
    std::size_t bound = 4 + token + 1 + payload;
    for (const auto& o : options) bound += 5 + o.value.size();
    return bound;
}

std::vector<std::uint8_t> encode(const Message& m, BuildError* error) {
    std::vector<std::uint8_t> out(size_bound(m.options, m.token.size(), m.payload.size()));
    const BuildResult r = build(m, MutableBytes(out.data(), out.size()));
    if (error != nullptr) *error = r.error;
    out.resize(r.ok() ? r.size : 0);
    return out;
}

}  // namespace coap
