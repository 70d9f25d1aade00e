// Storage for the engine's tables (STYLE §17): sized by the configuration, reused
// forever, no allocation per message once warm.
//
// - FlatMap: an open-addressing hash map (linear probing, backward-shift deletion) from a
//   small key to a small value (usually a slot number). It grows by doubling while it is
//   filling up; it never shrinks. The callers bound how many entries it holds.
// - SlotPool: numbered slots with stable addresses (fixed chunks) and a free list. A released
//   slot keeps its buffers, so the next user of the slot reuses their capacity.
// - RingQueue: a FIFO over a vector (a power of two in size) that grows to the largest
//   size it ever held.
//
// None of them is thread-safe; none throws except std::bad_alloc while growing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "coap/common/peer.h"

namespace coap {

/// A fast hash of a peer and up to 64 more bits (a Message ID, a token, an id).
[[nodiscard]] inline std::uint64_t hash_peer(const Peer& p, std::uint64_t extra = 0) noexcept {
    // The peer as three words (Peer has no padding), the way operator== reads it: a key
    // read in pieces here and as words there would be built in pieces on the stack.
    std::uint64_t w[3];
    std::memcpy(w, &p, sizeof w);
    const std::uint64_t a = w[0], b = w[1];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const auto port = static_cast<std::uint16_t>(w[2]);
    const auto family = static_cast<std::uint8_t>(w[2] >> 16);
    const auto scope = static_cast<std::uint32_t>(w[2] >> 32);
#else
    const std::uint16_t port = p.port;
    const std::uint8_t family = p.family;
    const std::uint32_t scope = p.scope;
#endif
    const std::uint64_t c = (std::uint64_t{port} << 32) ^ scope ^ (std::uint64_t{family} << 56);
    // A multiply-xorshift over the words, then murmur3's 64-bit finalizer.
    std::uint64_t h = a * 0x9e3779b97f4a7c15ULL;
    h = (h ^ (h >> 29) ^ b) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 32) ^ c) * 0x94d049bb133111ebULL;
    h ^= extra * 0xd6e8feb86659fd93ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    return h ^ (h >> 33);
}

/// A key of a peer and a Message ID (de-duplication, Confirmable messages, notifications).
struct PeerMid {
    Peer peer;
    std::uint16_t mid = 0;
    friend bool operator==(const PeerMid& a, const PeerMid& b) noexcept { return a.mid == b.mid && a.peer == b.peer; }
};
struct PeerMidHash {
    std::uint64_t operator()(const PeerMid& k) const noexcept { return hash_peer(k.peer, k.mid); }
};
struct PeerHashOf {
    std::uint64_t operator()(const Peer& p) const noexcept { return hash_peer(p); }
};
/// For the engine's sequential ids (Fibonacci hashing).
struct IdHash {
    std::uint64_t operator()(std::uint64_t id) const noexcept { return id * 0x9e3779b97f4a7c15ULL; }
};

template <class Key, class Value, class Hash>
class FlatMap {
public:
    FlatMap() = default;

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

    /// The value for `key`, or nullptr. Valid until the next insert or erase.
    [[nodiscard]] Value* find(const Key& key) noexcept {
        if (size_ == 0) return nullptr;
        const std::uint64_t h = Hash{}(key);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            Cell& c = cells_[i];
            if (!c.used) return nullptr;
            if (c.hash == h && c.key == key) return &c.value;
        }
    }
    [[nodiscard]] const Value* find(const Key& key) const noexcept { return const_cast<FlatMap*>(this)->find(key); }

    /// Inserts or overwrites.
    Value& put(const Key& key, Value value) {
        auto [v, inserted] = try_put(key, std::move(value));
        if (!inserted) *v = std::move(value);
        return *v;
    }

    /// Inserts `key` with `value` unless it is there (then `value` is left as it was);
    /// returns the entry's value and whether it was inserted. One probe for both.
    std::pair<Value*, bool> try_put(const Key& key, Value&& value) {
        if ((size_ + 1) * 2 > cells_.size()) grow();
        const std::uint64_t h = Hash{}(key);
        for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
            Cell& c = cells_[i];
            if (!c.used) {
                c.used = true;
                c.hash = h;
                c.key = key;
                c.value = std::move(value);
                ++size_;
                return {&c.value, true};
            }
            if (c.hash == h && c.key == key) return {&c.value, false};
        }
    }

    /// Removes `key`; returns whether it was there.
    bool erase(const Key& key) noexcept {
        Value* v = find(key);
        if (v == nullptr) return false;
        erase_found(v);
        return true;
    }

    /// Removes the entry whose value find() returned (no second probe). `v` and every
    /// other pointer into the map are invalid afterwards.
    void erase_found(Value* v) noexcept {
        static_assert(std::is_standard_layout_v<Cell>, "a Cell's address is its value's");
        std::size_t i = static_cast<std::size_t>(reinterpret_cast<Cell*>(v) - cells_.data());
        // Backward-shift deletion: move later members of the probe run into the hole.
        for (std::size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
            Cell& c = cells_[j];
            if (!c.used) break;
            const std::size_t home = c.hash & mask_;
            // c may move to i when its home is not within (i, j] cyclically.
            const bool between = i <= j ? (home > i && home <= j) : (home > i || home <= j);
            if (!between) {
                cells_[i] = std::move(c);
                i = j;
            }
        }
        cells_[i].used = false;
        --size_;
    }

    /// Calls f(key, value) for every entry, in no particular order. f must not insert or erase.
    template <class F>
    void for_each(F&& f) const {
        for (const Cell& c : cells_) {
            if (c.used) f(c.key, c.value);
        }
    }

private:
    struct Cell {
        Value value{};  ///< first: erase_found() finds the cell from its value's address
        std::uint64_t hash = 0;
        Key key{};
        bool used = false;
    };
    void grow() {
        std::vector<Cell> old = std::move(cells_);
        const std::size_t n = old.empty() ? 16 : old.size() * 2;
        cells_.assign(n, Cell{});
        mask_ = n - 1;
        size_ = 0;
        for (Cell& c : old) {
            if (!c.used) continue;
            for (std::size_t i = c.hash & mask_;; i = (i + 1) & mask_) {
                if (!cells_[i].used) {
                    cells_[i] = std::move(c);
                    ++size_;
                    break;
                }
            }
        }
    }

    std::vector<Cell> cells_;
    std::size_t mask_ = 0;
    std::size_t size_ = 0;
};

template <class T>
class SlotPool {
public:
    /// A free slot's number (a new slot when none is free). The slot holds whatever its
    /// last user left in it: the caller resets what it needs.
    std::uint32_t acquire() {
        if (!free_.empty()) {
            const std::uint32_t i = free_.back();
            free_.pop_back();
            return i;
        }
        if (count_ == chunks_.size() * kChunk) chunks_.push_back(std::make_unique<T[]>(kChunk));
        // Room for every slot in the free list, so that release() never allocates; grown
        // by doubling (reserving one more each time would copy the list per new slot).
        if (free_.capacity() < count_ + 1) free_.reserve(std::max<std::size_t>(2 * free_.capacity(), kChunk));
        return static_cast<std::uint32_t>(count_++);
    }
    void release(std::uint32_t i) { free_.push_back(i); }
    [[nodiscard]] T& operator[](std::uint32_t i) noexcept { return chunks_[i / kChunk][i % kChunk]; }
    [[nodiscard]] const T& operator[](std::uint32_t i) const noexcept { return chunks_[i / kChunk][i % kChunk]; }
    [[nodiscard]] std::size_t live() const noexcept { return count_ - free_.size(); }

private:
    static constexpr std::size_t kChunk = 32;  ///< slots per chunk (a power of two: shifts, no division)
    std::vector<std::unique_ptr<T[]>> chunks_;  ///< chunks never move, so slots keep their addresses
    std::size_t count_ = 0;                     ///< slots handed out so far
    std::vector<std::uint32_t> free_;
};

template <class T>
class RingQueue {
public:
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] T& front() noexcept { return items_[head_]; }
    [[nodiscard]] const T& front() const noexcept { return items_[head_]; }
    [[nodiscard]] T& operator[](std::size_t k) noexcept { return items_[(head_ + k) & mask_]; }
    [[nodiscard]] const T& operator[](std::size_t k) const noexcept { return items_[(head_ + k) & mask_]; }

    /// The slot behind the last item, made part of the queue. It holds whatever its last
    /// user left in it (so buffers are reused): the caller assigns every field it needs.
    T& push_slot() {
        if (size_ == items_.size()) grow();
        T& slot = items_[(head_ + size_) & mask_];
        ++size_;
        return slot;
    }
    void push_back(T v) { push_slot() = std::move(v); }
    /// Drops the first item (its slot keeps its buffers for a later push_slot).
    void pop_front() noexcept {
        head_ = (head_ + 1) & mask_;
        --size_;
    }
    /// Removes item k, keeping the order of the others.
    void erase_at(std::size_t k) {
        for (; k + 1 < size_; ++k) std::swap((*this)[k], (*this)[k + 1]);
        --size_;
    }
    void clear() noexcept {
        head_ = 0;
        size_ = 0;
    }

private:
    void grow() {
        std::vector<T> bigger(items_.empty() ? 4 : items_.size() * 2);  // a power of two
        for (std::size_t k = 0; k < size_; ++k) bigger[k] = std::move((*this)[k]);
        items_ = std::move(bigger);
        mask_ = items_.size() - 1;
        head_ = 0;
    }
    std::vector<T> items_;
    std::size_t mask_ = 0;  ///< items_.size() - 1 (a power of two minus one)
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace coap
