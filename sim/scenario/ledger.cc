#include "sim/scenario/ledger.h"

namespace coapbed::sim {

MessageLedger::Copy MessageLedger::sent(std::uint64_t sender, std::uint64_t peer, std::uint8_t type,
                                        std::uint16_t mid, double now_s) {
    expire(now_s);
    ++totals_.datagrams;
    const Key key{sender, peer, static_cast<std::uint32_t>(type) << 16 | mid};
    auto it = by_key_.find(key);
    if (it == by_key_.end()) {
        const std::uint64_t id = ++next_id_;
        by_key_.emplace(key, id);
        Entry e;
        e.key = key;
        e.first_s = now_s;
        e.copies = 1;
        by_id_.emplace(id, e);
        order_.push_back(id);
        ++totals_.messages;
        return {id, 0};
    }
    Entry& e = by_id_.at(it->second);
    if (type == 0) ++totals_.con_retransmissions;  // CON (RFC 7252 §3: Type 0)
    return {it->second, e.copies++};
}

void MessageLedger::delivered(std::uint64_t id, std::uint32_t copy) {
    auto it = by_id_.find(id);
    if (it != by_id_.end() && copy < it->second.first_delivered) it->second.first_delivered = copy;
}

void MessageLedger::on_bottleneck(std::uint64_t id, std::uint32_t copy, std::uint64_t bytes) {
    if (copy != 0) return;
    auto it = by_id_.find(id);
    if (it != by_id_.end()) it->second.first_bottleneck_bytes += bytes;
}

void MessageLedger::settle(const Entry& e) {
    if (e.first_delivered == kNone) return;  // every copy lost: each retransmission was needed
    ++totals_.delivered;
    totals_.useful_bottleneck_bytes += e.first_bottleneck_bytes;
    const std::uint32_t after = e.copies - 1 - e.first_delivered;  // copies sent after the one that got through
    totals_.spurious += after;
    if ((e.key.type_mid >> 16) == 0) totals_.spurious_retransmissions += after;
}

void MessageLedger::expire(double now_s) {
    while (!order_.empty()) {
        auto it = by_id_.find(order_.front());
        if (it->second.first_s + horizon_s_ > now_s) break;
        settle(it->second);
        by_key_.erase(it->second.key);
        by_id_.erase(it);
        order_.pop_front();
    }
}

MessageLedger::Totals MessageLedger::finish() {
    for (const auto id : order_) settle(by_id_.at(id));
    order_.clear();
    by_id_.clear();
    by_key_.clear();
    return totals_;
}

}  // namespace coapbed::sim
