// `coapbed serve`: the engine's server on a real UDP socket (src/net/), NoSec or DTLS 1.2
// (coaps://), with the built-in test resources and the files under --root.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cli/commands.h"
#include "coap/congestion/congestion.h"
#include "coap/endpoint/endpoint.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "net/udp_runtime.h"

namespace coapbed::cli {

namespace {

constexpr std::string_view kServeUsage =
    "usage: coapbed serve [--port P] [--bind ADDR] [--root DIR] [--congestion NAME]\n"
    "                     [--psk-identity ID --psk-key KEY]  (coaps://, DTLS 1.2 PSK, port 5684)\n"
    "                     [--cert FILE --key FILE [--ca FILE] [--pin NI]...]  (coaps://, certificates)\n"
    "                     [--rpk FILE [--pin NI]...]  (coaps://, raw public key, RFC 7250; GnuTLS)\n"
    "                     [--dtls openssl|gnutls]\n"
    "                     [--echo] [--amplification-limit R] [--rate-limit N]\n"
    "                     [--observe-verified-only] [--max-observations N]\n"
    "\n"
    "Serves over UDP (NoSec) until interrupted: the files under DIR (GET), and\n"
    "  /.well-known/core   link format (RFC 6690) of every resource\n"
    "  /large              70000 bytes of text, for block-wise transfers\n"
    "  /counter            observable, increments every second (RFC 7641);\n"
    "                      /counter?pad=N: the same in N bytes (block-wise notifications)\n"
    "  /echo               POST/PUT: answers 2.04 with the request payload; GET: the last one;\n"
    "                      DELETE: forgets it (2.02)\n"
    "  /sink               POST/PUT: accepts any payload (Block1 uploads), answers 2.04\n"
    "  /slow               answers with a separate response after one second\n"
    "--port 0 picks a free port; the line `coapbed: serving on PORT` goes to stderr.\n"
    "\n"
    "Defences against reflection (RFC 7252 §11.3, RFC 9175 §2.4), off by default:\n"
    "  --echo                   4.01 + Echo instead of responses larger than an\n"
    "                           unverified address's allowance (3x what it sent)\n"
    "  --amplification-limit R  that allowance as R x the bytes received (drop if over)\n"
    "  --rate-limit N           at most N requests per second per IP address (any port)\n"
    "  --observe-verified-only  observe registrations only from verified addresses\n"
    "  --max-observations N     observations per IP address\n";

/// What the built-in resources keep between requests, and the separate responses due.
struct ServeState {
    std::uint64_t counter = 0;                                         ///< /counter
    std::vector<std::uint8_t> echoed;                                  ///< /echo
    std::uint64_t sunk = 0;                                            ///< /sink: the last upload's size
    std::vector<std::pair<coap::TimePoint, std::uint64_t>> pending;  ///< /slow: (when, exchange)
};

/// Adds resources to the endpoint and keeps their link-format entries (RFC 6690).
class Resources {
public:
    explicit Resources(coap::Endpoint& endpoint) : endpoint_(endpoint) {}
    void add(const std::string& path, coap::ResourceConfig rc, const std::string& attrs) {
        if (endpoint_.add_resource(path, std::move(rc)) == coap::ApiError::Ok) links_.push_back("</" + path + ">" + attrs);
    }
    [[nodiscard]] std::string link_format() const {
        std::string s;
        for (const auto& l : links_) s += (s.empty() ? "" : ",") + l;
        return s;
    }

private:
    coap::Endpoint& endpoint_;
    std::vector<std::string> links_;
};

coap::ResourceConfig large_resource() {
    std::string large;
    for (int line = 0; large.size() < 70000; ++line) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "coapbed large resource line %05d\n", line);
        large += buf;
    }
    large.resize(70000);
    coap::ResourceConfig large_rc;
    large_rc.handler = [large](const coap::IncomingRequest&) {
        coap::Response r = coap::Response::with(coap::codes::kContent, large);
        r.content_format = 0;
        return r;
    };
    return large_rc;
}

coap::ResourceConfig counter_resource(const std::uint64_t& counter) {
    coap::ResourceConfig counter_rc;
    counter_rc.observable = true;
    counter_rc.handler = [&counter](const coap::IncomingRequest& in) {
        coap::Response r = coap::Response::with(coap::codes::kContent, std::to_string(counter));
        // ?pad=N: 17-byte lines "counter 00000042" to N bytes (at most 70000), each block
        // naming the value, with the value as ETag: a representation larger than a block
        // (RFC 7959 §2.6).
        for (const std::string& q : in.query) {
            if (q.rfind("pad=", 0) != 0) continue;
            const std::size_t n = std::min<std::size_t>(std::strtoul(q.c_str() + 4, nullptr, 10), 70000);
            char line[32];
            std::snprintf(line, sizeof line, "counter %08llu\n", static_cast<unsigned long long>(counter % 100000000));
            std::string body;
            while (body.size() < n) body += line;
            body.resize(n);
            r.payload.assign(body.begin(), body.end());
            r.options.push_back(coap::OwnedOption{coap::options::kETag, coap::encode_uint(counter)});
        }
        r.content_format = 0;
        r.max_age = 2;
        return r;
    };
    return counter_rc;
}

coap::ResourceConfig echo_resource(std::vector<std::uint8_t>& echoed) {
    // A 4-byte ETag of what /echo holds (FNV-1a), for GET and for If-Match on PUT/POST
    // (RFC 7252 §5.10.6, §5.10.8.1).
    const auto etag_of = [](const std::vector<std::uint8_t>& v) {
        std::uint32_t h = 2166136261u;
        for (std::uint8_t b : v) h = (h ^ b) * 16777619u;
        return std::vector<std::uint8_t>{static_cast<std::uint8_t>(h >> 24), static_cast<std::uint8_t>(h >> 16),
                                         static_cast<std::uint8_t>(h >> 8), static_cast<std::uint8_t>(h)};
    };
    coap::ResourceConfig echo_rc;
    echo_rc.methods = coap::methods::kGet | coap::methods::kPost | coap::methods::kPut | coap::methods::kDelete;
    echo_rc.current_etag = [&echoed, etag_of] { return etag_of(echoed); };
    echo_rc.handler = [&echoed, etag_of](const coap::IncomingRequest& in) {
        coap::Response r;
        if (in.method == coap::codes::kGet) {
            r.payload = echoed;
            r.options.push_back(coap::OwnedOption{coap::options::kETag, etag_of(echoed)});
        } else if (in.method == coap::codes::kDelete) {
            echoed.clear();
            r.code = coap::codes::kDeleted;  // RFC 7252 §5.9.1.2
        } else {
            echoed = in.payload;
            r.code = coap::codes::kChanged;
            r.payload = in.payload;
        }
        r.content_format = in.content_format;
        return r;
    };
    return echo_rc;
}

/// /large, /counter, /echo, /sink and /slow, on the state they keep in `s`.
void add_builtin(Resources& resources, ServeState& s) {
    resources.add("large", large_resource(), ";title=\"70000 bytes\";sz=70000");
    resources.add("counter", counter_resource(s.counter), ";obs;title=\"counter\"");
    resources.add("echo", echo_resource(s.echoed), "");
    coap::ResourceConfig sink_rc;
    sink_rc.methods = coap::methods::kGet | coap::methods::kPost | coap::methods::kPut;
    sink_rc.handler = [&sunk = s.sunk](const coap::IncomingRequest& in) {
        if (in.method == coap::codes::kGet) return coap::Response::with(coap::codes::kContent, std::to_string(sunk));
        sunk = in.payload.size();
        return coap::Response::with(coap::codes::kChanged);
    };
    resources.add("sink", sink_rc, "");
    coap::ResourceConfig slow_rc;
    slow_rc.handler = [&pending = s.pending](const coap::IncomingRequest& in) {
        pending.emplace_back(in.now + coap::Duration::seconds(1), in.exchange_id);
        return coap::HandlerResult::defer();
    };
    resources.add("slow", slow_rc, ";title=\"separate response\"");
}

using InsideRoot = std::function<bool(const std::string&)>;

/// The file at `full`, served a block at a time.
coap::ResourceConfig file_resource(const std::string& full, const InsideRoot& inside_root) {
    coap::ResourceConfig file_rc;
    file_rc.handler = [full, inside_root](const coap::IncomingRequest& in) {
        // Only the block this request is served (Response::body_size): memory
        // and time per request stay at a block, whatever the file's size.
        coap::Response r;
        const int fd = inside_root(full) ? ::open(full.c_str(), O_RDONLY | O_CLOEXEC) : -1;
        struct stat fst {};
        if (fd < 0 || fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
            if (fd >= 0) ::close(fd);
            r.code = coap::codes::kNotFound;
            return r;
        }
        const auto size = static_cast<std::uint64_t>(fst.st_size);
        const std::uint64_t offset = in.block2.offset();
        if (offset < size) {
            r.payload.resize(static_cast<std::size_t>(std::min<std::uint64_t>(in.block2.size(), size - offset)));
            const ssize_t got = pread(fd, r.payload.data(), r.payload.size(), static_cast<off_t>(offset));
            r.payload.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
        }
        ::close(fd);
        r.body_size = size;
        return r;
    };
    return file_rc;
}

/// Files directly and in subdirectories of the root, bounded in number: only what
/// resolves inside the root (a symlink out of it is not followed), each directory
/// once (a symlink loop ends), and checked again on every request (a link changed
/// after startup must not lead out either). False (and a message) if the root cannot be opened.
bool add_root_files(const std::string& root, Resources& resources, std::ostream& err) {
    char resolved[PATH_MAX];
    if (realpath(root.c_str(), resolved) == nullptr) {
        err << "error: cannot open --root " << root << ": " << std::strerror(errno) << "\n";
        return false;
    }
    const std::string real_root = resolved;
    const InsideRoot inside_root = [real_root](const std::string& path) -> bool {
        char r[PATH_MAX];
        if (realpath(path.c_str(), r) == nullptr) return false;
        const std::string p = r;
        return p == real_root || (p.size() > real_root.size() && p.compare(0, real_root.size(), real_root) == 0 &&
                                  p[real_root.size()] == '/');
    };
    std::set<std::pair<dev_t, ino_t>> seen_dirs;
    std::vector<std::string> stack = {""};
    std::size_t files = 0;
    while (!stack.empty() && files < 1000) {
        const std::string rel = stack.back();
        stack.pop_back();
        const std::string dir = root + "/" + rel;
        struct stat dst {};
        if (stat(dir.c_str(), &dst) != 0 || !seen_dirs.insert({dst.st_dev, dst.st_ino}).second) continue;
        DIR* d = opendir(dir.c_str());
        if (d == nullptr) continue;
        while (dirent* ent = readdir(d)) {
            const std::string name = ent->d_name;
            if (name == "." || name == "..") continue;
            const std::string path = rel.empty() ? name : rel + "/" + name;
            const std::string full = root + "/" + path;
            struct stat st {};
            if (stat(full.c_str(), &st) != 0 || !inside_root(full)) continue;
            if (S_ISDIR(st.st_mode)) {
                stack.push_back(path);
            } else if (S_ISREG(st.st_mode) && files < 1000) {
                resources.add(path, file_resource(full, inside_root), "");
                ++files;
            }
        }
        closedir(d);
    }
    return true;
}

}  // namespace

int cmd_serve(const Args& args, std::ostream& out, std::ostream& err) {
    std::uint64_t port = 5683;
    bool port_given = false;
    net::DtlsConfig dtls_config;
    dtls_config.server = true;
    std::string bind_host;
    std::string root;
    coap::EndpointConfig config;
    std::string flag_error;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const bool has = i + 1 < args.size();
        if (a == "--help" || a == "-h") {
            out << kServeUsage;
            return kExitOk;
        } else if (a == "--port" && has) {
            if (!parse_uint(args[++i], port) || port > 65535) return usage_error(err, "--port needs 0..65535", kServeUsage);
            port_given = true;
        } else if (a == "--bind" && has) {
            bind_host = args[++i];
        } else if (a == "--root" && has) {
            root = args[++i];
        } else if (a == "--congestion" && has) {
            config.congestion = args[++i];
            if (coap::find_congestion_strategy(config.congestion) == nullptr) {
                return usage_error(err, "unknown congestion strategy", kServeUsage);
            }
        } else if (const int d = parse_defence_flag(args, i, config, flag_error); d != 0) {
            if (d < 0) return usage_error(err, flag_error, kServeUsage);
        } else if (const int t = parse_dtls_flag(args, i, dtls_config, flag_error); t != 0) {
            if (t < 0) return usage_error(err, flag_error, kServeUsage);
        } else {
            return usage_error(err, "unknown argument " + a, kServeUsage);
        }
    }
    if (dtls_wanted(dtls_config) && !port_given) port = 5684;  // RFC 7252 §6.2: the default coaps port
    net::OpenSslRandom rng;
    coap::Endpoint endpoint(config, rng);
    ServeState state;
    Resources resources(endpoint);
    add_builtin(resources, state);
    if (!root.empty() && !add_root_files(root, resources, err)) return kExitUsage;
    coap::ResourceConfig core_rc;
    core_rc.handler = [link_format = resources.link_format()](const coap::IncomingRequest&) {
        coap::Response r = coap::Response::with(coap::codes::kContent, link_format);
        r.content_format = 40;  // application/link-format (RFC 6690)
        return r;
    };
    (void)endpoint.add_resource(".well-known/core", core_rc);

    net::UdpRuntime runtime;
    std::string error;
    if (!runtime.open(bind_host, static_cast<std::uint16_t>(port), error)) {
        err << "error: " << error << "\n";
        return kExitTransport;
    }
    net::UdpRuntime::stop_on_signals();
    net::DtlsLayer dtls;
    if (dtls_wanted(dtls_config)) {
        if (!dtls.init(dtls_config, error)) {
            err << "error: " << error << "\n";
            return kExitTransport;
        }
        runtime.use_dtls(&dtls);  // coaps only on this port (HelloVerifyRequest cookies)
        err << "coapbed: DTLS 1.2 through " << dtls.stack_name() << "\n";
    }
    // An observer whose address answers with ICMP unreachable is gone (RFC 7641 §4.5).
    runtime.on_unreachable([&](const coap::Peer& p) { endpoint.handle_unreachable(net::monotonic_now(), p); });
    err << "coapbed: serving on " << runtime.local_port() << "\n" << std::flush;
    coap::TimePoint next_count = net::monotonic_now() + coap::Duration::seconds(1);
    auto tick = [&](coap::TimePoint now) {
        if (now >= next_count) {
            ++state.counter;
            endpoint.notify(now, "counter");
            next_count = now + coap::Duration::seconds(1);
        }
        for (auto it = state.pending.begin(); it != state.pending.end();) {
            if (it->first <= now) {
                (void)endpoint.respond(now, it->second, coap::Response::with(coap::codes::kContent, "separate response"));
                it = state.pending.erase(it);
            } else {
                ++it;
            }
        }
    };
    auto next = [&]() -> std::optional<coap::TimePoint> {
        coap::TimePoint t = next_count;
        for (const auto& p : state.pending) t = p.first < t ? p.first : t;
        return t;
    };
    runtime.run(endpoint, [](coap::Event&) {}, [] { return false; }, std::nullopt, tick, next);
    err << "coapbed: stopped\n";
    return kExitOk;
}

}  // namespace coapbed::cli
