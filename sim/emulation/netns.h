// Linux network namespaces, TAP devices and processes for `coapbed emulate`. No ns-3 here.
//
// Every namespace this makes is named PREFIX-<pid>-<role> ("coapbed-emu-4711-c0"), so
// leftovers of a process that died (SIGKILL, a crash) are found and removed by the next
// run (`remove_stale`). Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), /dev/net/tun and
// iproute2's `ip`.
#pragma once

#include <sys/types.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace coapbed::emu {

class EmulationError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The prefix of every namespace `coapbed emulate` makes.
inline constexpr const char* kNamespacePrefix = "coapbed-emu";

/// Why emulation cannot run here ("" when it can): not root, no /dev/net/tun, no `ip`.
[[nodiscard]] std::string missing_privileges();

/// Runs `argv` (no shell) and waits; returns its output, or throws EmulationError with it
/// when the command fails.
std::string run_checked(const std::vector<std::string>& argv);

/// A network namespace with one TAP device (`tap0`) whose file descriptor this process
/// holds: frames written to the fd enter the namespace, frames the namespace sends are read
/// from it. Destroying the object closes the fd (the TAP goes) and deletes the namespace.
class TapNamespace {
public:
    /// Creates namespace `name`, disables IPv6 in it, opens tap0 there, gives it
    /// `address`/`prefix` and a default route via `gateway`. Throws EmulationError.
    TapNamespace(std::string name, const std::string& address, int prefix, const std::string& gateway);
    ~TapNamespace();
    TapNamespace(const TapNamespace&) = delete;
    TapNamespace& operator=(const TapNamespace&) = delete;

    [[nodiscard]] const std::string& name() const noexcept { return name_; }
    [[nodiscard]] int fd() const noexcept { return fd_; }

private:
    std::string name_;
    int fd_ = -1;
};

/// Deletes namespaces named kNamespacePrefix-<pid>-* whose process is gone, killing the
/// programs still running in them; returns how many.
int remove_stale_namespaces();
/// The namespaces of kNamespacePrefix that exist now (for tests and checks).
[[nodiscard]] std::vector<std::string> emulation_namespaces();

/// A command (`sh -c`) started in a namespace, in a session of its own (so the whole
/// process tree can be signalled), with normal scheduling, its output appended to a log.
class Process {
public:
    Process(const std::string& ns, const std::string& command, const std::string& log);
    ~Process();  ///< stops it if still running
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    /// Whether it has ended; sets `status` (waitpid's) when it has.
    bool poll(int& status);
    /// SIGTERM to its process group, SIGKILL after `grace_s`; reaps it.
    void stop(double grace_s = 1.0);
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }

private:
    pid_t pid_ = -1;
    bool reaped_ = false;
};

}  // namespace coapbed::emu
