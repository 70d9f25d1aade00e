// Takes typed values off the front of a fuzzer input, for the stateful harnesses.
// (libFuzzer's FuzzedDataProvider ships with clang only; the harnesses also build with
// g++ against the replay main.) Reading past the end gives zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace coapbed::fuzz {

class ByteReader {
public:
    ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
    [[nodiscard]] bool empty() const { return pos_ >= size_; }
    [[nodiscard]] std::size_t remaining() const { return pos_ < size_ ? size_ - pos_ : 0; }
    std::uint8_t u8() { return pos_ < size_ ? data_[pos_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
    std::uint32_t u32() { return (static_cast<std::uint32_t>(u16()) << 16) | u16(); }
    bool flag() { return (u8() & 1) != 0; }
    /// Up to `max` bytes, the count taken from the input first.
    std::vector<std::uint8_t> bytes(std::size_t max) {
        std::size_t n = u8();
        if (max > 255) n = (n << 8 | u8());
        n = n % (max + 1);
        n = n < remaining() ? n : remaining();
        std::vector<std::uint8_t> out(data_ + pos_, data_ + pos_ + n);
        pos_ += n;
        return out;
    }

private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

}  // namespace coapbed::fuzz
