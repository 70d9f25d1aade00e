#include "net/dtls_sim.h"

#include <gnutls/gnutls.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <thread>

// GnuTLS's clock hook (exported as GNUTLS_PRIVATE_3_4; its own tests use it): every
// gnutls_gettime() of the library, DTLS timers included, asks it.
extern "C" void _gnutls_global_set_gettime_function(void (*)(struct timespec*));

namespace coapbed::net {

namespace {

// 2026-01-01T00:00:00Z: what the simulated wall clock starts from.
constexpr std::int64_t kEpoch = 1767225600;

std::atomic<bool> g_active{false};
std::mutex g_mutex;  // the stream below
std::uint64_t g_state = 0;
std::function<coap::TimePoint()> g_now;

// SplitMix64 (Steele, Lea, Flood 2014): a seeded stream of 64-bit words.
std::uint64_t next_word() {
    std::uint64_t z = (g_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void sim_gettime(struct timespec* t) {
    const std::int64_t ns = g_now ? g_now().ns() : 0;
    t->tv_sec = static_cast<time_t>(kEpoch + ns / 1000000000);
    t->tv_nsec = static_cast<long>(ns % 1000000000);
}

time_t sim_time(time_t* out) {
    const std::int64_t ns = g_now ? g_now().ns() : 0;
    const auto t = static_cast<time_t>(kEpoch + ns / 1000000000);
    if (out != nullptr) *out = t;
    return t;
}

void real_gettime(struct timespec* t) { clock_gettime(CLOCK_REALTIME, t); }

}  // namespace

SimulatedDtls::SimulatedDtls(std::uint64_t seed, std::function<coap::TimePoint()> now) {
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        g_state = seed ^ 0x636f61706265642dULL;  // "coapbed-"
        g_now = std::move(now);
    }
    _gnutls_global_set_gettime_function(sim_gettime);
    gnutls_global_set_time_function(sim_time);
    g_active = true;
}

SimulatedDtls::~SimulatedDtls() {
    g_active = false;
    _gnutls_global_set_gettime_function(real_gettime);
    gnutls_global_set_time_function(::time);
    std::lock_guard<std::mutex> lock(g_mutex);
    g_now = nullptr;
}

void run_in_fresh_thread(const std::function<void()>& f) {
    std::exception_ptr error;
    std::thread t([&] {
        try {
            f();
        } catch (...) {
            error = std::current_exception();
        }
    });
    t.join();
    if (error) std::rethrow_exception(error);
}

bool simulated_entropy(void* buf, std::size_t n) {
    if (!g_active) return false;
    std::lock_guard<std::mutex> lock(g_mutex);
    auto* b = static_cast<unsigned char*>(buf);
    while (n > 0) {
        const std::uint64_t w = next_word();
        const std::size_t k = n < 8 ? n : 8;
        std::memcpy(b, &w, k);
        b += k;
        n -= k;
    }
    return true;
}

}  // namespace coapbed::net

// The C library's getrandom(2) wrapper, replaced: the simulated stream while a
// SimulatedDtls exists, the kernel's otherwise.
extern "C" ssize_t getrandom(void* buf, size_t n, unsigned int flags) {
    if (coapbed::net::simulated_entropy(buf, n)) return static_cast<ssize_t>(n);
    return syscall(SYS_getrandom, buf, n, flags);
}
