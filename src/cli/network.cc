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

/// What the command line asks for.
struct ClientArgs {
    std::string uri;
    coap::Request req;
    coap::EndpointConfig config;
    net::DtlsConfig dtls;
    double timeout = 90;
    std::uint64_t count = 0;  ///< observe: notifications to wait for (0: until interrupted)
    bool json = false;
    std::string proxy_uri;
    std::vector<coap::OwnedOption> extra;  ///< --content-format and --option, after the URI's
};

/// `--option NUM:VALUE`: VALUE is a number for uint options, 0xHEX for bytes, else text.
std::optional<coap::OwnedOption> option_arg(const std::string& v) {
    const std::size_t colon = v.find(':');
    std::uint64_t number = 0;
    if (colon == std::string::npos || !parse_uint(v.substr(0, colon), number) || number > 65535) return std::nullopt;
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
    return o;
}

/// Reads the argument at args[i] (and its value, moving i on); returns an error
/// message, empty when it is fine.
std::string client_arg(const Args& args, std::size_t& i, ClientArgs& c) {
    const std::string& a = args[i];
    std::string v;
    auto value = [&] {
        if (i + 1 >= args.size()) return false;
        v = args[++i];
        return true;
    };
    if (a == "--json") {
        c.json = true;
    } else if (a == "--non") {
        c.req.confirmable = false;
    } else if (a == "--payload") {
        if (!value()) return "--payload needs TEXT";
        c.req.payload.assign(v.begin(), v.end());
    } else if (a == "--payload-file") {
        if (!value()) return "--payload-file needs FILE";
        if (!read_file(v, c.req.payload)) return "cannot read " + v;
    } else if (a == "--content-format") {
        std::uint64_t n = 0;
        if (!value() || !parse_uint(v, n) || n > 65535) return "--content-format needs 0..65535";
        c.extra.push_back(coap::OwnedOption{coap::options::kContentFormat, coap::encode_uint(n)});
    } else if (a == "--block-size") {
        std::uint64_t n = 0;
        const auto szx =
            value() && parse_uint(v, n) && n <= 1024 ? coap::szx_for_size(static_cast<std::uint32_t>(n)) : std::nullopt;
        if (!szx) return "--block-size needs 16, 32, ..., 1024";
        c.req.block2_szx = *szx;
        c.config.block_szx = *szx;
    } else if (a == "--option") {
        const std::optional<coap::OwnedOption> o = value() ? option_arg(v) : std::nullopt;
        if (!o) return "--option needs NUM:VALUE";
        c.extra.push_back(*o);
    } else if (a == "--timeout") {
        std::istringstream in(value() ? v : "");
        if (!(in >> c.timeout) || c.timeout <= 0) return "--timeout needs seconds > 0";
    } else if (a == "--congestion") {
        if (!value() || coap::find_congestion_strategy(v) == nullptr) return "--congestion needs a strategy name";
        c.config.congestion = v;
    } else if (a == "--count") {
        if (!value() || !parse_uint(v, c.count)) return "--count needs N";
    } else if (a == "--proxy") {
        if (!value() || v.empty()) return "--proxy needs a coap:// URI";
        c.proxy_uri = v;
    } else if (const int d = parse_dtls_flag(args, i, c.dtls, v); d != 0) {
        if (d < 0) return v;
    } else if (!a.empty() && a[0] == '-') {
        return "unknown option " + a;
    } else if (c.uri.empty()) {
        c.uri = a;
    } else {
        return "one URI only";
    }
    return {};
}

/// The request's options from the URI (through a proxy: Proxy-Uri, RFC 7252 §5.7) and
/// the addresses to send it to; an exit status when that fails, else nullopt.
std::optional<int> target(ClientArgs& c, std::vector<coap::Peer>& addresses, bool& secure, std::ostream& err) {
    coap::UriOptions parts;
    if (const coap::UriResult r = coap::decompose_uri(c.uri, parts); !r.ok()) {
        err << "error: " << coap::to_string(r.error) << " at byte " << r.offset << "\n";
        return kExitUsage;
    }
    if (!c.proxy_uri.empty()) {
        // RFC 7252 §5.7: the request goes to the proxy, the target travels as Proxy-Uri.
        c.req.options.push_back(coap::OwnedOption{coap::options::kProxyUri, {c.uri.begin(), c.uri.end()}});
        if (const coap::UriResult r = coap::decompose_uri(c.proxy_uri, parts); !r.ok()) {
            err << "error: --proxy: " << coap::to_string(r.error) << " at byte " << r.offset << "\n";
            return kExitUsage;
        }
    }
    secure = parts.scheme() == coap::Scheme::Coaps;
    if (secure && c.dtls.psk_key.empty() && c.dtls.ca_file.empty() && c.dtls.pins.empty()) {
        return usage_error(err,
                           "coaps:// needs --psk-key (and --psk-identity), or --ca FILE or --pin NI to check the server "
                           "(with --rpk: --pin NI, the server's raw key)",
                           kClientUsage);
    }
    c.dtls.hostname = std::string(parts.host());
    std::string error;
    addresses = net::resolve_all(std::string(parts.host()), parts.port(), error);
    if (addresses.empty()) {
        err << "error: " << error << "\n";
        return kExitTransport;
    }
    for (std::size_t i = 0; i < parts.size() && c.proxy_uri.empty(); ++i) {
        c.req.options.push_back(coap::OwnedOption{parts[i].number, {parts[i].value.begin(), parts[i].value.end()}});
    }
    c.req.options.insert(c.req.options.end(), c.extra.begin(), c.extra.end());
    return std::nullopt;
}

/// The request sent to every address of the host, in getaddrinfo's order (RFC 8305's
/// idea for UDP): the next one is tried when the current one is unreachable (ICMP) or
/// has not answered within kAttemptDelay; the earlier attempts stay open, and the first
/// answer wins.
class Attempts {
public:
    Attempts(coap::Endpoint& endpoint, const coap::Request& req, std::vector<coap::Peer> addresses, std::ostream& err)
        : endpoint_(endpoint), req_(req), addresses_(std::move(addresses)), err_(err) {}

    /// Sends to the next address; false when there is none or the endpoint refused.
    bool start(coap::TimePoint now) {
        if (tried_.size() >= addresses_.size()) return false;
        const coap::SendResult r = endpoint_.send_request(now, addresses_[tried_.size()], req_);
        if (!r.ok()) {
            err_ << "error: " << coap::to_string(r.error) << "\n";
            return false;
        }
        tried_.push_back(Attempt{addresses_[tried_.size()], r.id, false});
        next_ = now + kAttemptDelay;
        return true;
    }
    [[nodiscard]] bool more_to_try() const { return !winner_ && tried_.size() < addresses_.size(); }
    void on_unreachable(const coap::Peer& p) {
        if (more_to_try() && tried_.back().peer == p) start(net::monotonic_now());
    }
    void tick(coap::TimePoint now) {
        if (more_to_try() && now >= next_) start(now);
    }
    [[nodiscard]] std::optional<coap::TimePoint> next_tick() const {
        if (more_to_try()) return next_;
        return std::nullopt;
    }
    /// Whether `e` is an answer to show: not for another attempt's request once one has
    /// won, nor a failure while another address may still answer. The first answer shown
    /// wins and cancels the other attempts.
    bool accept(const coap::Event& e) {
        std::size_t k = 0;
        while (k < tried_.size() && tried_[k].id != e.id) ++k;
        if (k == tried_.size() || (winner_ && *winner_ != k)) return false;
        if (!winner_ && e.kind == coap::EventKind::RequestFailed) {
            // One address failed: another may still answer.
            tried_[k].failed = true;
            const bool others = more_to_try() || std::any_of(tried_.begin(), tried_.end(),
                                                             [](const Attempt& a) { return !a.failed; });
            if (others) {
                if (more_to_try() && k + 1 == tried_.size()) start(net::monotonic_now());
                return false;
            }
        }
        if (!winner_) {
            winner_ = k;
            for (const Attempt& a : tried_) {
                if (a.id != e.id) (void)endpoint_.cancel(net::monotonic_now(), a.id, false);
            }
            if (addresses_.size() > 1 && e.kind != coap::EventKind::RequestFailed) {
                err_ << "coapbed: answered by " << tried_[k].peer.host_string() << "\n";
            }
        }
        return true;
    }
    /// Every address tried refused the DTLS handshake, and none is left to try.
    [[nodiscard]] bool all_refused(const net::DtlsLayer& dtls) const {
        return std::all_of(tried_.begin(), tried_.end(), [&](const Attempt& a) { return dtls.refused_by(a.peer); }) &&
               !more_to_try();
    }
    /// The winner's peer (without one, the last tried) and request id (without one, the first's).
    [[nodiscard]] coap::Peer peer() const { return tried_[winner_.value_or(tried_.size() - 1)].peer; }
    [[nodiscard]] std::uint64_t winner_id() const { return tried_[winner_.value_or(0)].id; }

private:
    static constexpr coap::Duration kAttemptDelay = coap::Duration::milliseconds(250);
    struct Attempt {
        coap::Peer peer;
        std::uint64_t id = 0;
        bool failed = false;
    };
    coap::Endpoint& endpoint_;
    const coap::Request& req_;
    std::vector<coap::Peer> addresses_;
    std::ostream& err_;
    std::vector<Attempt> tried_;
    std::optional<std::size_t> winner_;
    coap::TimePoint next_;
};

/// Prints the events of the answering attempt and decides the exit status.
struct Printer {
    const ClientArgs& c;
    bool observe;
    std::ostream& out;
    std::ostream& err;
    int exit_code = -1;  ///< -1: not done yet
    std::uint64_t notifications = 0;
    bool observing = false;

    void operator()(const coap::Event& e) {
        switch (e.kind) {
            case coap::EventKind::Response:
            case coap::EventKind::Notification: response(e); break;
            case coap::EventKind::RequestFailed: failed(e); break;
            case coap::EventKind::ObservationEnded: ended(e); break;
            default: break;
        }
    }
    void response(const coap::Event& e) {
        print_response(e.message, c.json, out);
        if (!c.json && observe) out << "\n" << std::flush;
        const bool success = e.message.code.cls() == 2;
        if (!success) {
            char code[4];
            coap::format_code(e.message.code, code);
            err << "coapbed: " << std::string(code, 4) << " " << coap::code_name(e.message.code).value_or("") << "\n";
        }
        bool has_observe = false;
        for (const auto& o : e.message.options) has_observe |= o.number == coap::options::kObserve;
        if (e.kind == coap::EventKind::Notification) ++notifications;
        observing = observe && success && has_observe;
        if (!observing || (c.count > 0 && notifications >= c.count)) exit_code = success ? kExitOk : kExitPeerError;
    }
    void failed(const coap::Event& e) {
        err << "coapbed: request failed: " << coap::to_string(e.reason);
        if (e.reason == coap::FailReason::ResponseRejected) {
            err << " (the response carried a critical option this client does not implement, "
                   "RFC 7252 §5.4.1)";
        }
        err << "\n";
        exit_code = kExitTransport;
    }
    void ended(const coap::Event& e) {
        // RFC 7641 §3.2: the server ended it (an error, or a response without Observe);
        // there is nothing left to deregister.
        observing = false;
        const bool success = e.message.code.cls() == 2 || e.message.code.raw == 0;
        if (e.reason != coap::FailReason::Cancelled) {
            char code[4];
            coap::format_code(e.message.code, code);
            err << "coapbed: the server ended the observation: " << std::string(code, 4) << " "
                << coap::code_name(e.message.code).value_or("") << (success ? " without Observe" : "") << "\n";
        }
        exit_code = success ? kExitOk : kExitPeerError;
    }
};

}  // namespace

int cmd_client(const std::string& method, const Args& args, std::ostream& out, std::ostream& err) {
    for (const auto& a : args) {
        if (a == "--help" || a == "-h") {
            out << kClientUsage;
            return kExitOk;
        }
    }
    ClientArgs c;
    c.req.method = method == "post"     ? coap::codes::kPost
                   : method == "put"    ? coap::codes::kPut
                   : method == "delete" ? coap::codes::kDelete
                   : method == "fetch"  ? coap::codes::kFetch
                                        : coap::codes::kGet;
    const bool observe = method == "observe";
    c.req.observe = observe;
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (const std::string e = client_arg(args, i, c); !e.empty()) return usage_error(err, e, kClientUsage);
    }
    if (c.uri.empty()) return usage_error(err, method + " needs a URI", kClientUsage);
    std::vector<coap::Peer> addresses;
    bool secure = false;
    if (const std::optional<int> failed = target(c, addresses, secure, err)) return *failed;

    std::string error;
    net::UdpRuntime runtime;
    if (!runtime.open("", 0, error)) {
        err << "error: " << error << "\n";
        return kExitTransport;
    }
    net::UdpRuntime::stop_on_signals();
    net::DtlsLayer dtls;
    if (secure) {
        if (!dtls.init(c.dtls, error)) {
            err << "error: " << error << "\n";
            return kExitTransport;
        }
        runtime.use_dtls(&dtls);
        c.config.secured = true;  // RFC 7252 §9.1: tokens need not carry the randomness now
    }
    net::OpenSslRandom rng;
    coap::Endpoint endpoint(c.config, rng);
    Attempts attempts(endpoint, c.req, std::move(addresses), err);
    if (!attempts.start(net::monotonic_now())) return kExitTransport;
    runtime.on_unreachable([&](const coap::Peer& p) { attempts.on_unreachable(p); });

    Printer printer{c, observe, out, err};
    auto on_event = [&](coap::Event& e) {
        if (printer.exit_code >= 0) return;  // done: nothing more is printed (observe --count N)
        if (attempts.accept(e)) printer(e);
    };
    const auto deadline = net::monotonic_now() + coap::Duration::from_seconds(c.timeout);
    // A handshake the server refused (an alert, a certificate that does not verify) would
    // be refused again on every retransmission: give up at once instead of at the timeout.
    const auto refused = [&] { return secure && attempts.all_refused(dtls); };
    const auto stop = runtime.run(
        endpoint, on_event, [&] { return printer.exit_code >= 0 || refused(); },
        observe && c.count == 0 ? std::nullopt : std::optional(deadline),
        [&](coap::TimePoint now) { attempts.tick(now); }, [&] { return attempts.next_tick(); });
    const coap::Peer peer = attempts.peer();
    if (secure && dtls.established(peer)) err << "coapbed: " << dtls_summary(dtls, peer) << "\n";
    if (printer.observing) {
        // RFC 7641 §3.6: leave politely, with a GET carrying Observe: 1.
        const std::uint64_t id = attempts.winner_id();
        (void)endpoint.cancel(net::monotonic_now(), id, true);
        bool left = false;
        runtime.run(endpoint, [&](coap::Event& e) { left = left || e.id == id; }, [&] { return left; },
                    net::monotonic_now() + coap::Duration::seconds(2));
    }
    if (printer.exit_code >= 0) return printer.exit_code;
    if (refused()) {
        err << "coapbed: " << dtls.last_error() << "\n";
        return kExitTransport;
    }
    if (stop == net::UdpRuntime::Stop::Interrupted) return printer.observing ? kExitOk : kExitTransport;
    if (secure && !dtls.last_error().empty()) err << "coapbed: " << dtls.last_error() << "\n";
    err << "coapbed: timeout after " << c.timeout << " s\n";
    return kExitTransport;
}

}  // namespace coapbed::cli
