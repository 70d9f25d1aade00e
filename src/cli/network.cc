// `coapbed get|post|put|delete|fetch|observe URI`: the engine's client on real UDP
// sockets (src/net/), NoSec or DTLS 1.2 (coaps://) with a pre-shared key
// or certificates (CA chain + host name, or a pinned RFC 6920 key name).
#include <algorithm>
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
            if (!value(v)) return usage_error(err, "--payload needs TEXT", kClientUsage);
            req.payload.assign(v.begin(), v.end());
            have_payload = true;
        } else if (a == "--payload-file") {
            if (!value(v)) return usage_error(err, "--payload-file needs FILE", kClientUsage);
            if (!read_file(v, req.payload)) return usage_error(err, "cannot read " + v, kClientUsage);
            have_payload = true;
        } else if (a == "--content-format") {
            std::uint64_t n = 0;
            if (!value(v) || !parse_uint(v, n) || n > 65535) return usage_error(err, "--content-format needs 0..65535", kClientUsage);
            extra.push_back(coap::OwnedOption{coap::options::kContentFormat, coap::encode_uint(n)});
        } else if (a == "--block-size") {
            std::uint64_t n = 0;
            const auto szx = value(v) && parse_uint(v, n) && n <= 1024
                                 ? coap::szx_for_size(static_cast<std::uint32_t>(n))
                                 : std::nullopt;
            if (!szx) return usage_error(err, "--block-size needs 16, 32, ..., 1024", kClientUsage);
            req.block2_szx = *szx;
            config.block_szx = *szx;
        } else if (a == "--option") {
            const std::size_t colon = value(v) ? v.find(':') : std::string::npos;
            std::uint64_t number = 0;
            if (colon == std::string::npos || !parse_uint(v.substr(0, colon), number) || number > 65535) {
                return usage_error(err, "--option needs NUM:VALUE", kClientUsage);
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
            if (!(s >> timeout) || timeout <= 0) return usage_error(err, "--timeout needs seconds > 0", kClientUsage);
        } else if (a == "--congestion") {
            if (!value(v) || coap::find_congestion_strategy(v) == nullptr) {
                return usage_error(err, "--congestion needs a strategy name", kClientUsage);
            }
            config.congestion = v;
        } else if (a == "--count") {
            if (!value(v) || !parse_uint(v, count)) return usage_error(err, "--count needs N", kClientUsage);
        } else if (a == "--proxy") {
            if (!value(v) || v.empty()) return usage_error(err, "--proxy needs a coap:// URI", kClientUsage);
            proxy_uri = v;
        } else if (const int d = parse_dtls_flag(args, i, dtls_config, v); d != 0) {
            if (d < 0) return usage_error(err, v, kClientUsage);
        } else if (!a.empty() && a[0] == '-') {
            return usage_error(err, "unknown option " + a, kClientUsage);
        } else if (uri.empty()) {
            uri = a;
        } else {
            return usage_error(err, "one URI only", kClientUsage);
        }
    }
    if (uri.empty()) return usage_error(err, method + " needs a URI", kClientUsage);
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
        return usage_error(err,
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

}  // namespace coapbed::cli
