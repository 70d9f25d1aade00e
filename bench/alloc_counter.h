// Counts heap allocations in the benchmark binary (malloc, calloc, realloc and,
// through them, operator new), so every benchmark can report allocations per item.
#pragma once

#include <cstdint>

namespace coapbed::bench {

/// Allocations made so far by this process (all threads).
std::uint64_t allocations() noexcept;

}  // namespace coapbed::bench
