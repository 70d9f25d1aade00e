// Time as a value (STYLE §2): the engine never reads a clock. Drivers pass `now` in:
// the ns-3 driver from Simulator::Now(), the UDP runtime from the monotonic clock, tests
// from a virtual clock. Nanosecond resolution in 64 bits (about 292 years).
#pragma once

#include <cstdint>
#include <type_traits>

namespace coap {

class Duration {
public:
    constexpr Duration() noexcept = default;
    [[nodiscard]] static constexpr Duration nanoseconds(std::int64_t ns) noexcept { return Duration(ns); }
    [[nodiscard]] static constexpr Duration microseconds(std::int64_t us) noexcept { return Duration(us * 1000); }
    [[nodiscard]] static constexpr Duration milliseconds(std::int64_t ms) noexcept { return Duration(ms * 1000000); }
    [[nodiscard]] static constexpr Duration seconds(std::int64_t s) noexcept { return Duration(s * 1000000000); }
    /// Rounded to the nearest nanosecond.
    [[nodiscard]] static constexpr Duration from_seconds(double s) noexcept {
        return Duration(static_cast<std::int64_t>(s * 1e9 + (s >= 0 ? 0.5 : -0.5)));
    }
    [[nodiscard]] static constexpr Duration zero() noexcept { return Duration(0); }
    [[nodiscard]] static constexpr Duration max() noexcept { return Duration(INT64_MAX); }

    [[nodiscard]] constexpr std::int64_t ns() const noexcept { return ns_; }
    [[nodiscard]] constexpr double seconds_f() const noexcept { return static_cast<double>(ns_) / 1e9; }
    [[nodiscard]] constexpr std::int64_t milliseconds_count() const noexcept { return ns_ / 1000000; }

    constexpr Duration& operator+=(Duration d) noexcept { ns_ += d.ns_; return *this; }
    constexpr Duration& operator-=(Duration d) noexcept { ns_ -= d.ns_; return *this; }
    friend constexpr Duration operator+(Duration a, Duration b) noexcept { return Duration(a.ns_ + b.ns_); }
    friend constexpr Duration operator-(Duration a, Duration b) noexcept { return Duration(a.ns_ - b.ns_); }
    template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
    friend constexpr Duration operator*(Duration a, I k) noexcept {
        return Duration(a.ns_ * static_cast<std::int64_t>(k));
    }
    template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
    friend constexpr Duration operator*(I k, Duration a) noexcept {
        return Duration(a.ns_ * static_cast<std::int64_t>(k));
    }
    /// Scales by a real factor, rounded to the nearest nanosecond.
    friend constexpr Duration operator*(Duration a, double k) noexcept {
        return from_seconds(a.seconds_f() * k);
    }
    template <typename I, std::enable_if_t<std::is_integral_v<I>, int> = 0>
    friend constexpr Duration operator/(Duration a, I k) noexcept {
        return Duration(a.ns_ / static_cast<std::int64_t>(k));
    }
    friend constexpr bool operator==(Duration a, Duration b) noexcept { return a.ns_ == b.ns_; }
    friend constexpr bool operator!=(Duration a, Duration b) noexcept { return a.ns_ != b.ns_; }
    friend constexpr bool operator<(Duration a, Duration b) noexcept { return a.ns_ < b.ns_; }
    friend constexpr bool operator<=(Duration a, Duration b) noexcept { return a.ns_ <= b.ns_; }
    friend constexpr bool operator>(Duration a, Duration b) noexcept { return a.ns_ > b.ns_; }
    friend constexpr bool operator>=(Duration a, Duration b) noexcept { return a.ns_ >= b.ns_; }

private:
    explicit constexpr Duration(std::int64_t ns) noexcept : ns_(ns) {}
    std::int64_t ns_ = 0;
};

/// A point on the driver's clock. Only differences and order mean anything.
class TimePoint {
public:
    constexpr TimePoint() noexcept = default;
    [[nodiscard]] static constexpr TimePoint from_ns(std::int64_t ns) noexcept { return TimePoint(ns); }
    [[nodiscard]] static constexpr TimePoint origin() noexcept { return TimePoint(0); }
    [[nodiscard]] constexpr std::int64_t ns() const noexcept { return ns_; }
    [[nodiscard]] constexpr double seconds_f() const noexcept { return static_cast<double>(ns_) / 1e9; }

    constexpr TimePoint& operator+=(Duration d) noexcept { ns_ += d.ns(); return *this; }
    friend constexpr TimePoint operator+(TimePoint t, Duration d) noexcept { return TimePoint(t.ns_ + d.ns()); }
    friend constexpr TimePoint operator-(TimePoint t, Duration d) noexcept { return TimePoint(t.ns_ - d.ns()); }
    friend constexpr Duration operator-(TimePoint a, TimePoint b) noexcept { return Duration::nanoseconds(a.ns_ - b.ns_); }
    friend constexpr bool operator==(TimePoint a, TimePoint b) noexcept { return a.ns_ == b.ns_; }
    friend constexpr bool operator!=(TimePoint a, TimePoint b) noexcept { return a.ns_ != b.ns_; }
    friend constexpr bool operator<(TimePoint a, TimePoint b) noexcept { return a.ns_ < b.ns_; }
    friend constexpr bool operator<=(TimePoint a, TimePoint b) noexcept { return a.ns_ <= b.ns_; }
    friend constexpr bool operator>(TimePoint a, TimePoint b) noexcept { return a.ns_ > b.ns_; }
    friend constexpr bool operator>=(TimePoint a, TimePoint b) noexcept { return a.ns_ >= b.ns_; }

private:
    explicit constexpr TimePoint(std::int64_t ns) noexcept : ns_(ns) {}
    std::int64_t ns_ = 0;
};

}  // namespace coap
