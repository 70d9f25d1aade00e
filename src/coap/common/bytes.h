// Non-owning byte views used across the engine.
//
// The engine is C++17 (ns-3 3.37's headers do not compile as C++20 with g++ 12,
// and sim/ includes engine headers), so it carries its own minimal span types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace coap {

/// A read-only view of bytes owned by someone else. Valid as long as the owner keeps
/// the bytes alive and unchanged.
class Bytes {
public:
    constexpr Bytes() noexcept = default;
    constexpr Bytes(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}
    /// Views the characters of a string as bytes (no copy).
    explicit Bytes(std::string_view s) noexcept
        : data_(reinterpret_cast<const std::uint8_t*>(s.data())), size_(s.size()) {}

    [[nodiscard]] constexpr const std::uint8_t* data() const noexcept { return data_; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }
    [[nodiscard]] constexpr bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] constexpr const std::uint8_t* begin() const noexcept { return data_; }
    [[nodiscard]] constexpr const std::uint8_t* end() const noexcept { return data_ + size_; }
    /// Unchecked element access: callers check `i < size()` first.
    [[nodiscard]] constexpr std::uint8_t operator[](std::size_t i) const noexcept { return data_[i]; }
    /// Sub-view; `offset + count` must not exceed `size()` (API misuse otherwise).
    [[nodiscard]] constexpr Bytes sub(std::size_t offset, std::size_t count) const noexcept {
        return Bytes(data_ + offset, count);
    }
    /// The bytes as characters (string options, URIs).
    [[nodiscard]] std::string_view as_chars() const noexcept {
        return std::string_view(reinterpret_cast<const char*>(data_), size_);
    }

    friend bool operator==(Bytes a, Bytes b) noexcept {
        return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
    }
    friend bool operator!=(Bytes a, Bytes b) noexcept { return !(a == b); }

private:
    const std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

/// A writable view of a caller-owned buffer.
class MutableBytes {
public:
    constexpr MutableBytes() noexcept = default;
    constexpr MutableBytes(std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

    [[nodiscard]] constexpr std::uint8_t* data() const noexcept { return data_; }
    [[nodiscard]] constexpr std::size_t size() const noexcept { return size_; }

private:
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
};

/// memcpy for the short runs of bytes messages are made of (option values, payloads,
/// URIs): fixed-size (inlined) moves, overlapping at the ends (the same bytes written
/// twice; `src` and `dst` must not overlap), never reading or writing outside [0, n).
inline void copy_bytes(std::uint8_t* dst, const std::uint8_t* src, std::size_t n) noexcept {
    if (n == 0) return;
    if (n < 4) {
        // 1-3 bytes: first, middle and last (the same byte when n is 1).
        dst[0] = src[0];
        dst[n / 2] = src[n / 2];
        dst[n - 1] = src[n - 1];
    } else if (n < 8) {
        std::memcpy(dst, src, 4);
        std::memcpy(dst + n - 4, src + n - 4, 4);
    } else if (n < 16) {
        std::memcpy(dst, src, 8);
        std::memcpy(dst + n - 8, src + n - 8, 8);
    } else if (n <= 32) {
        std::memcpy(dst, src, 16);
        std::memcpy(dst + n - 16, src + n - 16, 16);
    } else if (n <= 64) {
        std::memcpy(dst, src, 32);
        std::memcpy(dst + n - 32, src + n - 32, 32);
    } else {
        std::memcpy(dst, src, n);
    }
}

}  // namespace coap
