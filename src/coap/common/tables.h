// Storage for the engine's tables (STYLE §17): sized by the configuration, reused
// forever, no allocation per message once warm.
//
// - FlatMap: an open-addressing hash map (linear probing, backward-shift deletion) from a
//   small key to a small value (usually a slot number). It grows by doubling while it is
//   filling up; it never shrinks. The callers bound how many entries it holds.
// - SlotPool: numbered slots with stable addresses (a deque) and a free list. A released
//   slot keeps its buffers, so the next user of the slot reuses their capacity.
// - RingQueue: a FIFO over a vector that grows to the largest size it ever held.
//
// None of them is thread-safe; none throws except std::bad_alloc while growing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "coap/common/peer.h"

namespace coap {

/// A fast hash of a peer and up to 64 more bits (a Message ID, a token, an id).
[[nodiscard]] inline std::uint64_t hash_peer(const Peer& p, std::uint64_t extra = 0) noexcept {
    std::uint64_t a = 0, b = 0;
    std::memcpy(&a, p.address.data(), 8);
    std::memcpy(&b, p.address.data() + 8, 8);
    const std::uint64_t c = (std::uint64_t{p.port} << 32) ^ p.scope ^ (std::uint64_t{p.family} << 56);
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
                return c.value;
            }
            if (c.hash == h && c.key == key) {
                c.value = std::move(value);
                return c.value;
            }
        }
    }

    /// Removes `key`; returns whether it was there.
    bool erase(const Key& key) noexcept {
        if (size_ == 0) return false;
        const std::uint64_t h = Hash{}(key);
        std::size_t i = h & mask_;
        for (;; i = (i + 1) & mask_) {
            Cell& c = cells_[i];
            if (!c.used) return false;
            if (c.hash == h && c.key == key) break;
        }
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
        return true;
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
        std::uint64_t hash = 0;
        Key key{};
        Value value{};
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
        slots_.emplace_back();
        free_.reserve(slots_.size());
        return static_cast<std::uint32_t>(slots_.size() - 1);
    }
    void release(std::uint32_t i) { free_.push_back(i); }
    [[nodiscard]] T& operator[](std::uint32_t i) noexcept { return slots_[i]; }
    [[nodiscard]] const T& operator[](std::uint32_t i) const noexcept { return slots_[i]; }
    [[nodiscard]] std::size_t live() const noexcept { return slots_.size() - free_.size(); }

private:
    std::deque<T> slots_;
    std::vector<std::uint32_t> free_;
};

template <class T>
class RingQueue {
public:
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] T& front() noexcept { return items_[head_]; }
    [[nodiscard]] const T& front() const noexcept { return items_[head_]; }
    [[nodiscard]] T& operator[](std::size_t k) noexcept { return items_[(head_ + k) % items_.size()]; }
    [[nodiscard]] const T& operator[](std::size_t k) const noexcept { return items_[(head_ + k) % items_.size()]; }

    /// The slot behind the last item, made part of the queue. It holds whatever its last
    /// user left in it (so buffers are reused): the caller assigns every field it needs.
    T& push_slot() {
        if (size_ == items_.size()) grow();
        T& slot = items_[(head_ + size_) % items_.size()];
        ++size_;
        return slot;
    }
    void push_back(T v) { push_slot() = std::move(v); }
    /// Drops the first item (its slot keeps its buffers for a later push_slot).
    void pop_front() noexcept {
        head_ = (head_ + 1) % items_.size();
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
        std::vector<T> bigger(items_.empty() ? 4 : items_.size() * 2);
        for (std::size_t k = 0; k < size_; ++k) bigger[k] = std::move((*this)[k]);
        items_ = std::move(bigger);
        head_ = 0;
    }
    std::vector<T> items_;
    std::size_t head_ = 0;
    std::size_t size_ = 0;
};

}  // namespace coap
