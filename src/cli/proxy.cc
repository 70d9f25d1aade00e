// `coapbed proxy`: the engine's forward proxy (coap/proxy/forward_proxy.h) on two UDP
// sockets: NoSec toward the origins, NoSec or DTLS (coaps) toward the clients.
#include <arpa/inet.h>

#include <cstring>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "coap/proxy/forward_proxy.h"
#include "coap/uri/uri.h"
#include "net/proxy_runtime.h"
#include "net/udp_runtime.h"

namespace coapbed::cli {

namespace {

constexpr std::string_view kProxyUsage =
    "usage: coapbed proxy [--port P] [--bind ADDR] [--cache-entries N] [--cache-bytes B]\n"
    "                     [--max-freshness S] [--hop-limit N] [--allow ADDR|CIDR]... [--no-cache]\n"
    "                     [--echo] [--amplification-limit R] [--rate-limit N]\n"
    "                     [--observe-verified-only] [--max-observations N]\n"
    "                     [--psk-identity ID --psk-key KEY | --cert FILE --key FILE [--ca FILE]\n"
    "                      | --rpk FILE] [--pin NI]... [--dtls openssl|gnutls]\n"
    "                     [--next-hop coap://HOST:PORT] [--identifier NAME] [--no-hop-limit]\n"
    "                     [--upstream-ports fixed|per-exchange] [--blockwise store-and-forward|pass-through]\n"
    "\n"
    "A CoAP forward proxy with a response cache (RFC 7252 §5.6, §5.7) over UDP (NoSec):\n"
    "clients send requests with Proxy-Uri (or Proxy-Scheme and Uri-*) to PORT (default\n"
    "5683); the proxy forwards them to the origin from a second, ephemeral port with its\n"
    "own tokens, caches GET/FETCH responses for their Max-Age, and answers 5.04 when the\n"
    "origin does not answer. --port 0 picks a free port; `coapbed: proxying on PORT` goes\n"
    "to stderr. On SIGINT/SIGTERM it prints its statistics (JSON) to stdout and exits.\n"
    "  --cache-entries N   responses kept (default 256)\n"
    "  --cache-bytes B     bytes of responses kept (default 1048576); one response is kept\n"
    "                      only up to min(131072, B) bytes (larger ones are forwarded and\n"
    "                      kept per client only for its block-wise transfer)\n"
    "  --max-freshness S   ceiling on a cached response's Max-Age (default 3600)\n"
    "  --hop-limit N       Hop-Limit inserted when a request has none (RFC 8768; default 16)\n"
    "  --allow ADDR|CIDR   forward only to these origins (repeatable; default: any but\n"
    "                      the proxy itself)\n"
    "  --no-cache          forward every request\n"
    "  --next-hop URI      send every request to this proxy (coap://host:port) with its\n"
    "                      target as Proxy-Uri, instead of to the origin (chaining)\n"
    "  --identifier NAME   this proxy's name in 5.08 Hop Limit Reached (default coapbed-proxy)\n"
    "  --no-hop-limit      behave as a proxy without RFC 8768 (neither insert nor check it)\n"
    "  --upstream-ports per-exchange   a socket of its own (an ephemeral port the kernel\n"
    "                      picks) for every upstream exchange, closed when it ends; answers\n"
    "                      count only on their exchange's socket (default: fixed, one socket)\n"
    "  --blockwise pass-through   forward each Block2 request 1:1 (the origin's block relayed\n"
    "                      as it is, cached on its own) instead of fetching the whole body\n"
    "                      and serving the blocks from it (default: store-and-forward)\n"
    "Host names in Proxy-Uri are resolved with getaddrinfo (first address). The server\n"
    "defences of `coapbed serve` apply to the clients' side. With the DTLS flags of\n"
    "`coapbed serve` the clients' side is coaps (DTLS 1.2: PSK, certificates or raw public\n"
    "keys, RFC 7250); the origins are reached over NoSec.\n";

struct Cidr {
    coap::Peer net;
    unsigned bits = 0;
    [[nodiscard]] bool contains(const coap::Peer& p) const {
        if (p.family != net.family) return false;
        for (unsigned b = 0; b < bits; ++b) {
            const unsigned byte = b / 8, mask = 0x80u >> (b % 8);
            if ((p.address[byte] & mask) != (net.address[byte] & mask)) return false;
        }
        return true;
    }
};

bool parse_cidr(const std::string& text, Cidr& out) {
    const std::size_t slash = text.find('/');
    const std::string host = text.substr(0, slash);
    std::uint8_t a[16] = {};
    in_addr a4{};
    if (inet_pton(AF_INET, host.c_str(), &a4) == 1) {
        out.net = coap::Peer::ipv4(ntohl(a4.s_addr), 0);
        out.bits = 32;
    } else if (inet_pton(AF_INET6, host.c_str(), a) == 1) {
        out.net = coap::Peer::ipv6(a, 0);
        out.bits = 128;
    } else {
        return false;
    }
    if (slash == std::string::npos) return true;
    const std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 || bits.find_first_not_of("0123456789") != std::string::npos) return false;
    const unsigned n = static_cast<unsigned>(std::stoul(bits));
    if (n > out.bits) return false;
    out.bits = n;
    return true;
}

bool parse_count(const std::string& s, std::uint64_t& out) {
    if (s.empty() || s.size() > 12 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    out = std::stoull(s);
    return true;
}

void print_stats(const coap::proxy::ForwardProxy& p, std::ostream& out) {
    const coap::proxy::ProxyStats& s = p.stats();
    const coap::proxy::CacheStats& c = p.cache().stats();
    out << "{\"requests\":" << s.requests << ",\"hits_fresh\":" << s.hits_fresh
        << ",\"hits_not_modified\":" << s.hits_not_modified << ",\"misses\":" << s.misses
        << ",\"coalesced\":" << s.coalesced << ",\"forwarded\":" << s.forwarded
        << ",\"transfer_hits\":" << s.transfer_hits << ",\"transfers_dropped\":" << s.transfers_dropped
        << ",\"revalidations\":" << s.revalidations << ",\"revalidated\":" << s.revalidated
        << ",\"upstream_responses\":" << s.upstream_responses << ",\"upstream_timeouts\":" << s.upstream_timeouts
        << ",\"bad_gateway\":" << s.bad_gateway << ",\"busy\":" << s.busy << ",\"bad_target\":" << s.bad_target
        << ",\"unsafe_option\":" << s.unsafe_option << ",\"scheme_not_supported\":" << s.scheme_not_supported
        << ",\"self_target\":" << s.self_target << ",\"not_allowed\":" << s.not_allowed
        << ",\"hop_limit_reached\":" << s.hop_limit_reached << ",\"hop_limit_inserted\":" << s.hop_limit_inserted
        << ",\"cache_entries\":" << p.cache().size() << ",\"cache_bytes\":" << p.cache().total_bytes()
        << ",\"cache_stored\":" << c.stored << ",\"cache_evicted\":" << c.evicted_lru
        << ",\"cache_refused_too_big\":" << c.refused_too_big << ",\"cache_refused_uncacheable\":" << c.refused_uncacheable
        << ",\"downstream_echo_challenges\":" << p.downstream_stats().echo_challenges
        << ",\"observe_registrations\":" << s.observe_registrations << ",\"observe_joined\":" << s.observe_joined
        << ",\"notifications_relayed\":" << s.notifications_relayed << ",\"observe_cancelled\":" << s.observe_cancelled
        << ",\"notifications_sent\":" << p.downstream_stats().notifications_sent
        << ",\"upstream_ports_opened\":" << p.ports().stats().opened << ",\"upstream_ports_peak\":" << p.ports().stats().peak
        << ",\"upstream_port_drops\":" << p.ports().stats().wrong_port + p.ports().stats().closed_port << "}\n";
}

}  // namespace

int cmd_proxy(const Args& args, std::ostream& out, std::ostream& err) {
    std::uint64_t port = 5683;
    bool port_given = false;
    std::string bind_host;
    coap::EndpointConfig down;
    coap::proxy::ProxyConfig pc;
    std::vector<Cidr> allowed;
    std::string flag_error;
    net::DtlsConfig dtls_config;
    dtls_config.server = true;
    std::string next_hop_uri;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        const bool has = i + 1 < args.size();
        std::uint64_t n = 0;
        if (a == "--help" || a == "-h") {
            out << kProxyUsage;
            return kExitOk;
        } else if (a == "--port" && has) {
            if (!parse_count(args[++i], port) || port > 65535) return (err << "error: --port needs 0..65535\n" << kProxyUsage, kExitUsage);
            port_given = true;
        } else if (a == "--bind" && has) {
            bind_host = args[++i];
        } else if (a == "--cache-entries" && has) {
            if (!parse_count(args[++i], n) || n == 0) return (err << "error: --cache-entries needs N > 0\n" << kProxyUsage, kExitUsage);
            pc.cache_config.max_entries = n;
        } else if (a == "--cache-bytes" && has) {
            if (!parse_count(args[++i], n) || n == 0) return (err << "error: --cache-bytes needs B > 0\n" << kProxyUsage, kExitUsage);
            pc.cache_config.max_total_bytes = n;
            pc.cache_config.max_entry_bytes = std::min<std::size_t>(128 * 1024, n);
        } else if (a == "--max-freshness" && has) {
            if (!parse_count(args[++i], n)) return (err << "error: --max-freshness needs seconds\n" << kProxyUsage, kExitUsage);
            pc.cache_config.max_freshness = coap::Duration::seconds(static_cast<std::int64_t>(n));
        } else if (a == "--hop-limit" && has) {
            if (!parse_count(args[++i], n) || n == 0 || n > 255) return (err << "error: --hop-limit needs 1..255\n" << kProxyUsage, kExitUsage);
            pc.initial_hop_limit = static_cast<std::uint8_t>(n);
        } else if (a == "--allow" && has) {
            Cidr c;
            if (!parse_cidr(args[++i], c)) return (err << "error: --allow needs an IP address or CIDR\n" << kProxyUsage, kExitUsage);
            allowed.push_back(c);
        } else if (a == "--no-cache") {
            pc.cache = false;
        } else if (a == "--next-hop" && has) {
            next_hop_uri = args[++i];
        } else if (a == "--identifier" && has) {
            pc.identifier = args[++i];
            if (pc.identifier.empty() || pc.identifier.find(' ') != std::string::npos) {
                return (err << "error: --identifier needs a name without spaces\n" << kProxyUsage, kExitUsage);
            }
        } else if (a == "--no-hop-limit") {
            pc.honour_hop_limit = false;
        } else if (a == "--upstream-ports" && has) {
            const std::string& v = args[++i];
            if (v != "fixed" && v != "per-exchange") {
                return (err << "error: --upstream-ports needs fixed or per-exchange\n" << kProxyUsage, kExitUsage);
            }
            pc.ports.per_exchange = v == "per-exchange";
        } else if (a == "--blockwise" && has) {
            const std::string& v = args[++i];
            if (v != "store-and-forward" && v != "pass-through") {
                return (err << "error: --blockwise needs store-and-forward or pass-through\n" << kProxyUsage, kExitUsage);
            }
            if (v == "pass-through") pc.blockwise = coap::proxy::ProxyConfig::Blockwise::PassThrough;
        } else if (const int d = parse_defence_flag(args, i, down, flag_error); d != 0) {
            if (d < 0) return (err << "error: " << flag_error << "\n" << kProxyUsage, kExitUsage);
        } else if (const int t = parse_dtls_flag(args, i, dtls_config, flag_error); t != 0) {
            if (t < 0) return (err << "error: " << flag_error << "\n" << kProxyUsage, kExitUsage);
        } else {
            return (err << "error: unknown argument " << a << "\n" << kProxyUsage, kExitUsage);
        }
    }
    if (dtls_wanted(dtls_config) && !port_given) port = 5684;  // RFC 7252 §6.2: the default coaps port
    if (!next_hop_uri.empty()) {
        // Chaining (RFC 7252 §5.7.2): every request goes to the next proxy, the target as Proxy-Uri.
        coap::UriOptions parts;
        std::string e;
        if (!coap::decompose_uri(next_hop_uri, parts).ok() || parts.scheme() != coap::Scheme::Coap) {
            return (err << "error: --next-hop needs a coap:// URI\n" << kProxyUsage, kExitUsage);
        }
        const std::vector<coap::Peer> at = net::resolve_all(std::string(parts.host()), parts.port(), e);
        if (at.empty()) return (err << "error: --next-hop: " << e << "\n", 4);
        const coap::Peer hop = at.front();
        pc.next_hop = [hop](const coap::proxy::Target&) -> std::optional<coap::Peer> { return hop; };
    }
    net::UdpRuntime down_socket, up_socket;
    std::string error;
    if (!down_socket.open(bind_host, static_cast<std::uint16_t>(port), error) || !up_socket.open("", 0, error)) {
        err << "error: " << error << "\n";
        return 4;
    }
    pc.local_port = down_socket.local_port();
    std::string host = bind_host;
    if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
    pc.local_host = host.empty() || host == "::" || host == "0.0.0.0" ? "127.0.0.1" : host;
    pc.names = {"localhost", "127.0.0.1", "::1"};  // a proxy knows all its names (§5.10.2)
    pc.resolve = [](const coap::proxy::Target& t) -> std::optional<coap::Peer> {
        if (t.host_kind != coap::HostKind::RegName) return coap::proxy::resolve_ip_literal(t);
        std::string e;
        const std::vector<coap::Peer> all = net::resolve_all(t.host, t.port, e);
        if (all.empty()) return std::nullopt;
        return all.front();
    };
    if (!allowed.empty()) {
        pc.allow = [allowed](const coap::proxy::Target&, const coap::Peer& p) {
            for (const Cidr& c : allowed) {
                if (c.contains(p)) return true;
            }
            return false;
        };
    }
    // Piggyback what the origin answers within a second (RFC 7252 §5.2.2 lets a server
    // wait before its empty ACK; a client retransmits after 2-3 s): fewer messages, and
    // libcoap 4.3.1's client does not go on with a Block2 transfer whose first block
    // came in a separate response.
    down.separate_ack_delay = coap::Duration::seconds(1);
    net::OpenSslRandom down_rng, up_rng;
    coap::proxy::ForwardProxy proxy(down, coap::EndpointConfig{}, pc, down_rng, up_rng);
    net::DtlsLayer dtls;
    if (dtls_wanted(dtls_config)) {
        if (!dtls.init(dtls_config, error)) {
            err << "error: " << error << "\n";
            return 4;
        }
        err << "coapbed: DTLS 1.2 through " << dtls.stack_name() << " toward the clients\n";
    }
    net::UdpRuntime::stop_on_signals();
    err << "coapbed: proxying on " << down_socket.local_port() << "\n" << std::flush;
    net::run_proxy(proxy, down_socket, up_socket, dtls_wanted(dtls_config) ? &dtls : nullptr);
    print_stats(proxy, out);
    err << "coapbed: stopped\n";
    return kExitOk;
}

}  // namespace coapbed::cli
