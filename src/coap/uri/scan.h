// The character scan behind decompose_uri's one pass: sixteen bytes of a URI at a time,
// one bit for each byte that is a lower-case letter, a digit, "-" or "." (the bytes most
// host names, path segments and query arguments are made of). The other bytes are where
// something happens: a delimiter, an upper-case letter to lower-case in a host, a
// percent-encoding, a sub-delim, or a byte the URI may not hold.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace coap::uri_scan {

/// True for the bytes the scan passes over: a-z, 0-9, "-", ".".
[[nodiscard]] constexpr bool is_quiet(std::uint8_t c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

/// Copies the 16 bytes at `src` to `dst` and returns a mask with bit i set when src[i]
/// is quiet. `dst` must not overlap `src`.
[[nodiscard]] inline std::uint32_t copy16(const std::uint8_t* src, std::uint8_t* dst) noexcept {
#if defined(__SSE2__)
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), x);
    // A byte range [lo, hi] as one signed compare: x - lo - 0x80 < hi - lo + 1 - 0x80.
    auto in_range = [x](int lo, int hi) {
        const __m128i shifted = _mm_add_epi8(x, _mm_set1_epi8(static_cast<char>(0x80 - lo)));
        return _mm_cmplt_epi8(shifted, _mm_set1_epi8(static_cast<char>(hi - lo + 1 - 0x80)));
    };
    // "-", ".", "/" and 0-9 are one range; the "/" is taken out.
    const __m128i digits = _mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('/')), in_range('-', '9'));
    return static_cast<std::uint32_t>(_mm_movemask_epi8(_mm_or_si128(in_range('a', 'z'), digits)));
#else
    std::memcpy(dst, src, 16);
    std::uint32_t mask = 0;
    for (int i = 0; i < 16; ++i) mask |= static_cast<std::uint32_t>(is_quiet(src[i])) << i;
    return mask;
#endif
}

}  // namespace coap::uri_scan
