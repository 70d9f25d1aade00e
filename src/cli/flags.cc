// The flags the client commands, `serve` and `proxy` share: DTLS (parse_dtls_flag,
// dtls_wanted), the server defences (parse_defence_flag) and decimal counts (parse_uint).
// Declared in commands.h.
#include <exception>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "net/dtls.h"
#include "net/hmac.h"

namespace coapbed::cli {

bool parse_uint(const std::string& s, std::uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
}

int parse_dtls_flag(const Args& args, std::size_t& i, net::DtlsConfig& c, std::string& error) {
    const std::string& a = args[i];
    std::string* field = a == "--psk-identity" ? &c.psk_identity
                         : a == "--psk-key"    ? &c.psk_key
                         : a == "--cert"       ? &c.cert_file
                         : a == "--key"        ? &c.key_file
                         : a == "--ca"         ? &c.ca_file
                         : a == "--rpk"        ? &c.rpk_file
                                               : nullptr;
    if (field == nullptr && a != "--pin" && a != "--dtls") return 0;
    if (i + 1 >= args.size() || (args[i + 1].empty() && a != "--psk-identity")) {
        error = a + " needs a value";
        return -1;
    }
    const std::string& v = args[++i];
    if (a == "--pin") {
        c.pins.push_back(v);
    } else if (a == "--dtls") {
        const auto stack = net::parse_dtls_stack(v);
        if (!stack) {
            error = "--dtls needs openssl or gnutls";
            return -1;
        }
        c.stack = *stack;
    } else {
        *field = v;
    }
    return 1;
}

bool dtls_wanted(const net::DtlsConfig& c) {
    return !c.psk_key.empty() || !c.cert_file.empty() || !c.rpk_file.empty();
}

int parse_defence_flag(const Args& args, std::size_t& i, coap::EndpointConfig& config, std::string& error) {
    const std::string& a = args[i];
    const bool has = i + 1 < args.size();
    if (a == "--echo") {
        config.defences.echo = true;
        config.defences.echo_key = std::make_shared<net::HmacSha256>();  // a fresh random key
        return 1;
    }
    if (a == "--observe-verified-only") {
        config.defences.observe_verified_only = true;
        return 1;
    }
    if ((a == "--amplification-limit" || a == "--rate-limit") && has) {
        double v = 0;
        try {
            std::size_t used = 0;
            v = std::stod(args[i + 1], &used);
            if (used != args[i + 1].size() || !(v >= 0)) v = -1;
        } catch (const std::exception&) {
            v = -1;
        }
        if (v < 0) {
            error = a + " needs a number >= 0";
            return -1;
        }
        ++i;
        (a == "--rate-limit" ? config.defences.rate_limit : config.defences.amplification_limit) = v;
        return 1;
    }
    if (a == "--max-observations" && has) {
        std::uint64_t n = 0;
        if (!parse_uint(args[++i], n)) {
            error = "--max-observations needs a number";
            return -1;
        }
        config.defences.max_observations_per_address = n;
        return 1;
    }
    return 0;
}

}  // namespace coapbed::cli
