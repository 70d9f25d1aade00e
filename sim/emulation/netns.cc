#include "sim/emulation/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

extern char** environ;

namespace coapbed::emu {

namespace {

std::vector<char*> c_argv(std::vector<std::string>& args) {
    std::vector<char*> v;
    for (auto& a : args) v.push_back(a.data());
    v.push_back(nullptr);
    return v;
}

bool on_path(const std::string& prog) {
    const char* path = std::getenv("PATH");
    std::string p = path ? path : "/usr/sbin:/usr/bin:/sbin:/bin";
    std::size_t start = 0;
    while (start <= p.size()) {
        const std::size_t end = p.find(':', start);
        const std::string dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
        if (!dir.empty() && access((dir + "/" + prog).c_str(), X_OK) == 0) return true;
        if (end == std::string::npos) break;
        start = end + 1;
    }
    return false;
}

std::string joined(const std::vector<std::string>& argv) {
    std::string s;
    for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
    return s;
}

/// Writes `text` to a file that must exist (a sysctl); false on failure.
bool write_file(const char* path, const char* text) {
    const int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const auto n = static_cast<ssize_t>(std::strlen(text));
    const bool ok = write(fd, text, static_cast<std::size_t>(n)) == n;
    close(fd);
    return ok;
}

}  // namespace

std::string missing_privileges() {
    if (geteuid() != 0) return "coapbed emulate needs root (network namespaces and TAP devices)";
    if (access("/dev/net/tun", R_OK | W_OK) != 0) return "coapbed emulate needs /dev/net/tun (TAP devices)";
    if (!on_path("ip")) return "coapbed emulate needs iproute2's `ip` (apt-get install iproute2)";
    return {};
}

std::string run_checked(const std::vector<std::string>& argv) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) throw EmulationError("pipe: " + std::string(std::strerror(errno)));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], STDERR_FILENO);
    std::vector<std::string> args = argv;
    auto cargv = c_argv(args);
    pid_t pid = -1;
    const int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    std::string output;
    if (rc == 0) {
        char buf[512];
        ssize_t n;
        while ((n = read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
            if (n > 0) output.append(buf, static_cast<std::size_t>(n));
        }
    }
    close(pipefd[0]);
    if (rc != 0) throw EmulationError("cannot run `" + joined(argv) + "`: " + std::strerror(rc));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        while (!output.empty() && output.back() == '\n') output.pop_back();
        throw EmulationError("`" + joined(argv) + "` failed: " + output);
    }
    return output;
}

TapNamespace::TapNamespace(std::string name, const std::string& address, int prefix, const std::string& gateway)
    : name_(std::move(name)) {
    run_checked({"ip", "netns", "add", name_});
    try {
        // setns(2) changes the calling thread only: do it in a thread of its own.
        std::string error;
        int fd = -1;
        std::thread([&] {
            const int ns = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
            if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
                error = "cannot enter namespace " + name_ + ": " + std::strerror(errno);
                if (ns >= 0) close(ns);
                return;
            }
            close(ns);
            // /proc/sys/net is the opening thread's namespace's: no IPv6 chatter on tap0.
            (void)write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
            (void)write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
            fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
            if (fd < 0) {
                error = std::string("cannot open /dev/net/tun: ") + std::strerror(errno);
                return;
            }
            ifreq ifr{};
            ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
            std::strncpy(ifr.ifr_name, "tap0", IFNAMSIZ - 1);
            if (ioctl(fd, TUNSETIFF, &ifr) != 0) {
                error = std::string("cannot create tap0 (TUNSETIFF): ") + std::strerror(errno);
                close(fd);
                fd = -1;
            }
        }).join();
        if (fd < 0) throw EmulationError(error);
        fd_ = fd;
        run_checked({"ip", "-n", name_, "link", "set", "lo", "up"});
        run_checked({"ip", "-n", name_, "addr", "add", address + "/" + std::to_string(prefix), "dev", "tap0"});
        run_checked({"ip", "-n", name_, "link", "set", "tap0", "up"});
        run_checked({"ip", "-n", name_, "route", "add", "default", "via", gateway});
    } catch (...) {
        if (fd_ >= 0) close(fd_);
        try {
            run_checked({"ip", "netns", "del", name_});
        } catch (const EmulationError&) {
        }
        throw;
    }
}

TapNamespace::~TapNamespace() {
    if (fd_ >= 0) close(fd_);
    try {
        run_checked({"ip", "netns", "del", name_});
    } catch (const EmulationError&) {
        // Already gone; nothing else to do in a destructor.
    }
}

std::vector<std::string> emulation_namespaces() {
    std::vector<std::string> names;
    DIR* d = opendir("/run/netns");
    if (d == nullptr) return names;
    const std::string prefix = std::string(kNamespacePrefix) + "-";
    while (dirent* e = readdir(d)) {
        const std::string n = e->d_name;
        if (n.rfind(prefix, 0) == 0) names.push_back(n);
    }
    closedir(d);
    return names;
}

int remove_stale_namespaces() {
    int removed = 0;
    const std::size_t skip = std::strlen(kNamespacePrefix) + 1;
    for (const auto& n : emulation_namespaces()) {
        const long pid = std::strtol(n.c_str() + skip, nullptr, 10);
        if (pid <= 0 || (kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
            try {
                // The programs an emulator left running when it was killed go first.
                const std::string pids = run_checked({"ip", "netns", "pids", n});
                std::size_t pos = 0;
                while (pos < pids.size()) {
                    const long p = std::strtol(pids.c_str() + pos, nullptr, 10);
                    if (p > 1) kill(static_cast<pid_t>(p), SIGKILL);
                    const std::size_t nl = pids.find('\n', pos);
                    if (nl == std::string::npos) break;
                    pos = nl + 1;
                }
                run_checked({"ip", "netns", "del", n});
                ++removed;
            } catch (const EmulationError&) {
            }
        }
    }
    return removed;
}

Process::Process(const std::string& ns, const std::string& command, const std::string& log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    // The emulator may run SCHED_FIFO; the programs under test must not inherit it.
    sched_param sp{};
    sp.sched_priority = 0;
    posix_spawnattr_setschedpolicy(&attr, SCHED_OTHER);
    posix_spawnattr_setschedparam(&attr, &sp);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSCHEDULER);
    std::vector<std::string> args = {"ip", "netns", "exec", ns, "sh", "-c", command};
    auto cargv = c_argv(args);
    const int rc = posix_spawnp(&pid_, "ip", &fa, &attr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) throw EmulationError("cannot start `" + command + "`: " + std::strerror(rc));
}

Process::~Process() {
    if (!reaped_) stop(0.2);
    // Whatever the command left behind in its session goes too.
    if (pid_ > 0) kill(-pid_, SIGKILL);
}

bool Process::poll(int& status) {
    if (reaped_) return true;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) reaped_ = true;
    return reaped_;
}

void Process::stop(double grace_s) {
    if (reaped_) return;
    kill(-pid_, SIGTERM);
    int status = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(grace_s);
    while (std::chrono::steady_clock::now() < until) {
        if (poll(status)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    kill(-pid_, SIGKILL);
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
}

}  // namespace coapbed::emu
