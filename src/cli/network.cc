// `coapbed get|post|put|delete|fetch|observe URI` and `coapbed serve`: the engine on
// real UDP sockets (src/net/), NoSec or DTLS 1.2 (coaps://) with a pre-shared key
// or certificates (CA chain + host name, or a pinned RFC 6920 key name).
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
#include <set>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/commands.h"
#include "cli/json.h"
#include "cli/options_json.h"
#include "coap/codec/message.h"
#include "coap/congestion/congestion.h"
#include "coap/options/registry.h"
#include "coap/options/values.h"
#include "coap/uri/uri.h"
#include "net/hmac.h"
#include "net/udp_runtime.h"

namespace coapbed::cli {

namespace {

constexpr int kExitPeerError = 3;  // 4.xx / 5.xx
constexpr int kExitTransport = 4;  // timeout or transport failure

constexpr std::string_view kClientUsage =
    "usage: coapbed get|post|put|delete|fetch|observe URI [options]\n"
    "\n"
    "Sends one request over UDP (coap://) and writes the response payload to stdout\n"
    "(all blocks of a block-wise transfer, concatenated); diagnostics go to stderr.\n"
    "  --payload TEXT          request payload\n"
    "  --payload-file FILE     request payload from a file\n"
    "  --content-format N      Content-Format of the payload\n"
    "  --block-size BYTES      block size for Block1/Block2, 16..1024 (power of two)\n"
    "  --non                   send a Non-confirmable request\n"
    "  --option NUM:VALUE      add an option (repeatable); VALUE is a number for uint\n"
    "                          options, 0xHEX for opaque bytes, else text\n"
    "  --timeout SECONDS       give up after this long (default 90)\n"
    "  --congestion NAME       default, cocoa, cocoa-strong, fasor, linux-rto, peakhopper-rto\n"
    "  --count N               observe: exit after N notifications (after the first response)\n"
    "  --json                  print each response as the `coapbed decode` JSON\n"
    "  --psk-identity ID       coaps://: DTLS 1.2 PreSharedKey identity (RFC 7252 §9.1.3.1)\n"
    "  --psk-key KEY           coaps://: the pre-shared key, as text\n"
    "  --ca FILE               coaps://: trusted CA certificates (PEM); the server's\n"
    "                          certificate must also name the URI's host (RFC 7252 §9.1.3.3)\n"
    "  --pin NI                coaps://: trust the server key with this RFC 6920 name\n"
    "                          (see `coapbed key-id`), self-signed or not; repeatable\n"
    "  --cert FILE --key FILE  coaps://: our certificate and private key (PEM)\n"
    "  --rpk FILE              coaps://: RawPublicKey mode (RFC 7252 §9.1.3.2, RFC 7250):\n"
    "                          our P-256 key (PEM, as libcoap's -M); needs --pin NI of the\n"
    "                          server's key; anything but a pinned raw key is refused\n"
    "  --dtls openssl|gnutls   the DTLS library (default: OpenSSL for PSK and certificates,\n"
    "                          GnuTLS for raw public keys, which OpenSSL 3.0 cannot do)\n"
    "  --proxy URI             send the request to this forward proxy (coap://host:port)\n"
    "                          with the target URI as Proxy-Uri (RFC 7252 §5.7)\n"
    "Exit status: 0 on 2.xx, 3 on 4.xx/5.xx, 4 on timeout or transport failure, 2 on a\n"
    "bad command line.\n";

/// "DTLS 1.2 <suite>" and, after it, the library and what the peer authenticated with.
std::string dtls_summary(const net::DtlsLayer& dtls, const coap::Peer& peer) {
    const std::string credential = dtls.peer_credential(peer);
    const std::string what = credential == "rawpk" ? "raw public key" : credential == "x509" ? "certificate" : credential;
    return "DTLS 1.2 " + dtls.cipher(peer) + " (" + dtls.stack_name() + (what.empty() ? "" : ", " + what) + ")";
}

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

int usage(std::ostream& err, const std::string& message, std::string_view text) {
    err << "error: " << message << "\n" << text;
    return kExitUsage;
}

bool read_file(const std::string& path, std::vector<std::uint8_t>& out) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return false;
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    return true;
}

void print_response(const coap::Message& m, bool json, std::ostream& out) {
    if (json) {
        const std::vector<std::uint8_t> wire = coap::encode(m);
        coap::MessageView v;
        if (coap::parse(coap::Bytes(wire.data(), wire.size()), v).ok()) out << message_json(v);
    } else {
        out.write(reinterpret_cast<const char*>(m.payload.data()), static_cast<std::streamsize>(m.payload.size()));
    }
    out.flush();
}

}  // namespace

int cmd_client(const std::string& method, const Args& args, std::ostream& out, std::ostream& err) {
    for (const auto& a : args) {
        if (a == "--help" || a == "-h") {
            out << kClientUsage;
            return kExitOk;
        }
    }
    std::string uri;
    coap::Request req;
    coap::EndpointConfig config;
    net::DtlsConfig dtls_config;
    double timeout = 90;
    std::uint64_t count = 0;
    bool json = false;
    bool have_payload = false;
    std::string proxy_uri;
    req.method = method == "post" ? coap::codes::kPost
                 : method == "put" ? coap::codes::kPut
                 : method == "delete" ? coap::codes::kDelete
                 : method == "fetch" ? coap::codes::kFetch
                                     : coap::codes::kGet;
    req.observe = method == "observe";
    std::vector<coap::OwnedOption> extra;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](std::string& v) {
            if (i + 1 >= args.size()) return false;
            v = args[++i];
            return true;
        };
        std::string v;
        if (a == "--json") {
            json = true;
        } else if (a == "--non") {
            req.confirmable = false;
        } else if (a == "--payload") {
            if (!value(v)) return usage(err, "--payload needs TEXT", kClientUsage);
            req.payload.assign(v.begin(), v.end());
            have_payload = true;
        } else if (a == "--payload-file") {
            if (!value(v)) return usage(err, "--payload-file needs FILE", kClientUsage);
            if (!read_file(v, req.payload)) return usage(err, "cannot read " + v, kClientUsage);
            have_payload = true;
        } else if (a == "--content-format") {
            std::uint64_t n = 0;
            if (!value(v) || !parse_uint(v, n) || n > 65535) return usage(err, "--content-format needs 0..65535", kClientUsage);
            extra.push_back(coap::OwnedOption{coap::options::kContentFormat, coap::encode_uint(n)});
        } else if (a == "--block-size") {
            std::uint64_t n = 0;
            const auto szx = value(v) && parse_uint(v, n) && n <= 1024
                                 ? coap::szx_for_size(static_cast<std::uint32_t>(n))
                                 : std::nullopt;
            if (!szx) return usage(err, "--block-size needs 16, 32, ..., 1024", kClientUsage);
            req.block2_szx = *szx;
            config.block_szx = *szx;
        } else if (a == "--option") {
            const std::size_t colon = value(v) ? v.find(':') : std::string::npos;
            std::uint64_t number = 0;
            if (colon == std::string::npos || !parse_uint(v.substr(0, colon), number) || number > 65535) {
                return usage(err, "--option needs NUM:VALUE", kClientUsage);
            }
            const std::string text = v.substr(colon + 1);
            coap::OwnedOption o{static_cast<std::uint16_t>(number), {}};
            std::uint64_t n = 0;
            std::string raw;
            if (text.rfind("0x", 0) == 0 && parse_hex(text.substr(2), raw)) {
                o.value.assign(raw.begin(), raw.end());
            } else if (parse_uint(text, n)) {
                o.value = coap::encode_uint(n);
            } else {
                o.value.assign(text.begin(), text.end());
            }
            extra.push_back(std::move(o));
        } else if (a == "--timeout") {
            std::istringstream s(value(v) ? v : "");
            if (!(s >> timeout) || timeout <= 0) return usage(err, "--timeout needs seconds > 0", kClientUsage);
        } else if (a == "--congestion") {
            if (!value(v) || coap::find_congestion_strategy(v) == nullptr) {
                return usage(err, "--congestion needs a strategy name", kClientUsage);
            }
            config.congestion = v;
        } else if (a == "--count") {
            if (!value(v) || !parse_uint(v, count)) return usage(err, "--count needs N", kClientUsage);
        } else if (a == "--proxy") {
            if (!value(v) || v.empty()) return usage(err, "--proxy needs a coap:// URI", kClientUsage);
            proxy_uri = v;
        } else if (const int d = parse_dtls_flag(args, i, dtls_config, v); d != 0) {
            if (d < 0) return usage(err, v, kClientUsage);
        } else if (!a.empty() && a[0] == '-') {
            return usage(err, "unknown option " + a, kClientUsage);
        } else if (uri.empty()) {
            uri = a;
        } else {
            return usage(err, "one URI only", kClientUsage);
        }
    }
    if (uri.empty()) return usage(err, method + " needs a URI", kClientUsage);
    (void)have_payload;
    coap::UriOptions parts;
    if (const coap::UriResult r = coap::decompose_uri(uri, parts); !r.ok()) {
        err << "error: " << coap::to_string(r.error) << " at byte " << r.offset << "\n";
        return kExitUsage;
    }
    if (!proxy_uri.empty()) {
        // RFC 7252 §5.7: the request goes to the proxy, the target travels as Proxy-Uri.
        req.options.push_back(coap::OwnedOption{coap::options::kProxyUri, {uri.begin(), uri.end()}});
        if (const coap::UriResult r = coap::decompose_uri(proxy_uri, parts); !r.ok()) {
            err << "error: --proxy: " << coap::to_string(r.error) << " at byte " << r.offset << "\n";
            return kExitUsage;
        }
    }
    const bool secure = parts.scheme() == coap::Scheme::Coaps;
    if (secure && dtls_config.psk_key.empty() && dtls_config.ca_file.empty() && dtls_config.pins.empty()) {
        return usage(err,
                     "coaps:// needs --psk-key (and --psk-identity), or --ca FILE or --pin NI to check the server "
                     "(with --rpk: --pin NI, the server's raw key)",
                     kClientUsage);
    }
    dtls_config.hostname = std::string(parts.host());
    std::string error;
    const std::vector<coap::Peer> addresses = net::resolve_all(std::string(parts.host()), parts.port(), error);
    if (addresses.empty()) {
        err << "error: " << error << "\n";
        return kExitTransport;
    }
    for (std::size_t i = 0; i < parts.size() && proxy_uri.empty(); ++i) {
        req.options.push_back(coap::OwnedOption{parts[i].number, {parts[i].value.begin(), parts[i].value.end()}});
    }
    req.options.insert(req.options.end(), extra.begin(), extra.end());

    net::UdpRuntime runtime;
    if (!runtime.open("", 0, error)) {
        err << "error: " << error << "\n";
        return kExitTransport;
    }
    net::UdpRuntime::stop_on_signals();
    net::DtlsLayer dtls;
    if (secure) {
        if (!dtls.init(dtls_config, error)) {
            err << "error: " << error << "\n";
            return kExitTransport;
        }
        runtime.use_dtls(&dtls);
        config.secured = true;  // RFC 7252 §9.1: tokens need not carry the randomness now
    }
    net::OpenSslRandom rng;
    coap::Endpoint endpoint(config, rng);

    // Every address of the host, in getaddrinfo's order (RFC 8305's idea for UDP): the
    // next one is tried when the current one is unreachable (ICMP) or has not answered
    // within kAttemptDelay; the earlier attempts stay open, and the first answer wins.
    const coap::Duration kAttemptDelay = coap::Duration::milliseconds(250);
    struct Attempt {
        coap::Peer peer;
        std::uint64_t id = 0;
        bool failed = false;
    };
    std::vector<Attempt> attempts;
    std::optional<std::size_t> winner;
    coap::TimePoint next_attempt;
    auto start_attempt = [&](coap::TimePoint now) -> bool {
        if (attempts.size() >= addresses.size()) return false;
        const coap::SendResult r = endpoint.send_request(now, addresses[attempts.size()], req);
        if (!r.ok()) {
            err << "error: " << coap::to_string(r.error) << "\n";
            return false;
        }
        attempts.push_back(Attempt{addresses[attempts.size()], r.id, false});
        next_attempt = now + kAttemptDelay;
        return true;
    };
    if (!start_attempt(net::monotonic_now())) return kExitTransport;
    auto more_to_try = [&] { return !winner && attempts.size() < addresses.size(); };
    runtime.on_unreachable([&](const coap::Peer& p) {
        if (more_to_try() && attempts.back().peer == p) start_attempt(net::monotonic_now());
    });

    int exit_code = -1;
    std::uint64_t notifications = 0;
    bool observing = false;
    auto on_event = [&](coap::Event& e) {
        if (exit_code >= 0) return;  // done: nothing more is printed (observe --count N)
        std::size_t k = 0;
        while (k < attempts.size() && attempts[k].id != e.id) ++k;
        if (k == attempts.size() || (winner && *winner != k)) return;
        if (!winner && e.kind == coap::EventKind::RequestFailed) {
            // One address failed: another may still answer.
            attempts[k].failed = true;
            const bool others = more_to_try() || std::any_of(attempts.begin(), attempts.end(),
                                                             [](const Attempt& a) { return !a.failed; });
            if (others) {
                if (more_to_try() && k + 1 == attempts.size()) start_attempt(net::monotonic_now());
                return;
            }
        }
        if (!winner) {
            winner = k;
            for (const Attempt& a : attempts) {
                if (a.id != e.id) (void)endpoint.cancel(net::monotonic_now(), a.id, false);
            }
            if (addresses.size() > 1 && e.kind != coap::EventKind::RequestFailed) {
                err << "coapbed: answered by " << attempts[k].peer.host_string() << "\n";
            }
        }
        switch (e.kind) {
            case coap::EventKind::Response:
            case coap::EventKind::Notification: {
                print_response(e.message, json, out);
                if (!json && method == "observe") out << "\n" << std::flush;
                const bool success = e.message.code.cls() == 2;
                if (!success) {
                    char code[4];
                    coap::format_code(e.message.code, code);
                    err << "coapbed: " << std::string(code, 4) << " "
                        << coap::code_name(e.message.code).value_or("") << "\n";
                }
                bool has_observe = false;
                for (const auto& o : e.message.options) has_observe |= o.number == coap::options::kObserve;
                if (e.kind == coap::EventKind::Notification) ++notifications;
                observing = method == "observe" && success && has_observe;
                if (!observing || (count > 0 && notifications >= count)) exit_code = success ? kExitOk : kExitPeerError;
                break;
            }
            case coap::EventKind::RequestFailed:
                err << "coapbed: request failed: " << coap::to_string(e.reason);
                if (e.reason == coap::FailReason::ResponseRejected) {
                    err << " (the response carried a critical option this client does not implement, "
                           "RFC 7252 §5.4.1)";
                }
                err << "\n";
                exit_code = kExitTransport;
                break;
            case coap::EventKind::ObservationEnded: {
                // RFC 7641 §3.2: the server ended it (an error, or a response without
                // Observe); there is nothing left to deregister.
                observing = false;
                const bool success = e.message.code.cls() == 2 || e.message.code.raw == 0;
                if (e.reason != coap::FailReason::Cancelled) {
                    char code[4];
                    coap::format_code(e.message.code, code);
                    err << "coapbed: the server ended the observation: " << std::string(code, 4) << " "
                        << coap::code_name(e.message.code).value_or("")
                        << (success ? " without Observe" : "") << "\n";
                }
                exit_code = success ? kExitOk : kExitPeerError;
                break;
            }
            default:
                break;
        }
    };
    const auto deadline = net::monotonic_now() + coap::Duration::from_seconds(timeout);
    // A handshake the server refused (an alert, a certificate that does not verify) would
    // be refused again on every retransmission: give up at once instead of at the timeout.
    const auto refused = [&] {
        if (!secure) return false;
        return std::all_of(attempts.begin(), attempts.end(), [&](const Attempt& a) { return dtls.refused_by(a.peer); }) &&
               !more_to_try();
    };
    auto tick = [&](coap::TimePoint now) {
        if (more_to_try() && now >= next_attempt) start_attempt(now);
    };
    auto next_tick = [&]() -> std::optional<coap::TimePoint> {
        if (more_to_try()) return next_attempt;
        return std::nullopt;
    };
    const auto stop = runtime.run(endpoint, on_event, [&] { return exit_code >= 0 || refused(); },
                                  method == "observe" && count == 0 ? std::nullopt : std::optional(deadline), tick,
                                  next_tick);
    const coap::Peer peer = attempts[winner.value_or(attempts.size() - 1)].peer;
    if (secure && dtls.established(peer)) err << "coapbed: " << dtls_summary(dtls, peer) << "\n";
    if (observing) {
        // RFC 7641 §3.6: leave politely, with a GET carrying Observe: 1.
        const std::uint64_t id = attempts[winner.value_or(0)].id;
        (void)endpoint.cancel(net::monotonic_now(), id, true);
        bool left = false;
        runtime.run(endpoint, [&](coap::Event& e) { left = left || e.id == id; }, [&] { return left; },
                    net::monotonic_now() + coap::Duration::seconds(2));
    }
    if (exit_code >= 0) return exit_code;
    if (refused()) {
        err << "coapbed: " << dtls.last_error() << "\n";
        return kExitTransport;
    }
    if (stop == net::UdpRuntime::Stop::Interrupted) return observing ? kExitOk : kExitTransport;
    if (secure && !dtls.last_error().empty()) err << "coapbed: " << dtls.last_error() << "\n";
    err << "coapbed: timeout after " << timeout << " s\n";
    return kExitTransport;
}

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
            if (!parse_uint(args[++i], port) || port > 65535) return usage(err, "--port needs 0..65535", kServeUsage);
            port_given = true;
        } else if (a == "--bind" && has) {
            bind_host = args[++i];
        } else if (a == "--root" && has) {
            root = args[++i];
        } else if (a == "--congestion" && has) {
            config.congestion = args[++i];
            if (coap::find_congestion_strategy(config.congestion) == nullptr) {
                return usage(err, "unknown congestion strategy", kServeUsage);
            }
        } else if (const int d = parse_defence_flag(args, i, config, flag_error); d != 0) {
            if (d < 0) return usage(err, flag_error, kServeUsage);
        } else if (const int t = parse_dtls_flag(args, i, dtls_config, flag_error); t != 0) {
            if (t < 0) return usage(err, flag_error, kServeUsage);
        } else {
            return usage(err, "unknown argument " + a, kServeUsage);
        }
    }
    if (dtls_wanted(dtls_config) && !port_given) port = 5684;  // RFC 7252 §6.2: the default coaps port
    net::OpenSslRandom rng;
    coap::Endpoint endpoint(config, rng);
    std::vector<std::string> links;
    auto add = [&](const std::string& path, coap::ResourceConfig rc, const std::string& attrs) {
        if (endpoint.add_resource(path, std::move(rc)) == coap::ApiError::Ok) links.push_back("</" + path + ">" + attrs);
    };
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
    add("large", large_rc, ";title=\"70000 bytes\";sz=70000");
    std::uint64_t counter = 0;
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
    add("counter", counter_rc, ";obs;title=\"counter\"");
    std::vector<std::uint8_t> echoed;
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
    add("echo", echo_rc, "");
    std::uint64_t sunk = 0;
    coap::ResourceConfig sink_rc;
    sink_rc.methods = coap::methods::kGet | coap::methods::kPost | coap::methods::kPut;
    sink_rc.handler = [&sunk](const coap::IncomingRequest& in) {
        if (in.method == coap::codes::kGet) return coap::Response::with(coap::codes::kContent, std::to_string(sunk));
        sunk = in.payload.size();
        return coap::Response::with(coap::codes::kChanged);
    };
    add("sink", sink_rc, "");
    std::vector<std::pair<coap::TimePoint, std::uint64_t>> pending;
    coap::ResourceConfig slow_rc;
    slow_rc.handler = [&pending](const coap::IncomingRequest& in) {
        pending.emplace_back(in.now + coap::Duration::seconds(1), in.exchange_id);
        return coap::HandlerResult::defer();
    };
    add("slow", slow_rc, ";title=\"separate response\"");
    if (!root.empty()) {
        // Files directly and in subdirectories of the root, bounded in number: only what
        // resolves inside the root (a symlink out of it is not followed), each directory
        // once (a symlink loop ends), and checked again on every request (a link changed
        // after startup must not lead out either).
        char resolved[PATH_MAX];
        if (realpath(root.c_str(), resolved) == nullptr) {
            err << "error: cannot open --root " << root << ": " << std::strerror(errno) << "\n";
            return kExitUsage;
        }
        const std::string real_root = resolved;
        const auto inside_root = [real_root](const std::string& path) -> bool {
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
                    add(path, std::move(file_rc), "");
                    ++files;
                }
            }
            closedir(d);
        }
    }
    std::string link_format;
    for (const auto& l : links) link_format += (link_format.empty() ? "" : ",") + l;
    coap::ResourceConfig core_rc;
    core_rc.handler = [link_format](const coap::IncomingRequest&) {
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
            ++counter;
            endpoint.notify(now, "counter");
            next_count = now + coap::Duration::seconds(1);
        }
        for (auto it = pending.begin(); it != pending.end();) {
            if (it->first <= now) {
                (void)endpoint.respond(now, it->second, coap::Response::with(coap::codes::kContent, "separate response"));
                it = pending.erase(it);
            } else {
                ++it;
            }
        }
    };
    auto next = [&]() -> std::optional<coap::TimePoint> {
        coap::TimePoint t = next_count;
        for (const auto& p : pending) t = p.first < t ? p.first : t;
        return t;
    };
    runtime.run(endpoint, [](coap::Event&) {}, [] { return false; }, std::nullopt, tick, next);
    err << "coapbed: stopped\n";
    return kExitOk;
}

}  // namespace coapbed::cli
