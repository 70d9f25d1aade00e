// The `coapbed` subcommands. Each takes its arguments (without the program and
// command names), writes to `out` / `err`, and returns the process exit status:
// 0 success, 1 invalid input (a malformed message or URI), 2 bad command line.
#pragma once

#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "coap/endpoint/types.h"
#include "net/dtls.h"

namespace coapbed::cli {

using Args = std::vector<std::string>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitInvalidInput = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitPeerError = 3;  ///< get/observe...: a 4.xx / 5.xx response
inline constexpr int kExitTransport = 4;  ///< timeout or transport failure

/// `coapbed decode HEX`: one JSON object for a well-formed message; otherwise exit 1
/// and `error: <rule> at byte <offset>` on `err`.
int cmd_decode(const Args& args, std::ostream& out, std::ostream& err);
/// `coapbed uri URI`: one JSON object with the scheme, host, port, the §6.4 options and
/// the §6.5 composition; otherwise exit 1 and `error: <reason> at byte <offset>`.
int cmd_uri(const Args& args, std::ostream& out, std::ostream& err);
/// `coapbed get|post|put|delete|fetch|observe URI [options]` over UDP (network.cc).
int cmd_client(const std::string& method, const Args& args, std::ostream& out, std::ostream& err);
/// `coapbed serve [--port P] [--root DIR]` over UDP (network.cc).
int cmd_serve(const Args& args, std::ostream& out, std::ostream& err);  // serve.cc
/// `coapbed proxy [--port P] [--bind ADDR] ...`: a forward proxy with a cache (proxy.cc).
int cmd_proxy(const Args& args, std::ostream& out, std::ostream& err);
/// The server defence flags shared by `serve` and `proxy` (--echo, --amplification-limit R,
/// --rate-limit N, --observe-verified-only, --max-observations N) at args[i]: 1 when one
/// was taken (i moved past its value), 0 when args[i] is none of them, -1 with `error`.
int parse_defence_flag(const Args& args, std::size_t& i, coap::EndpointConfig& config, std::string& error);
/// The DTLS flags shared by the client commands, `serve` and `proxy` (--psk-identity,
/// --psk-key, --cert, --key, --ca, --pin (repeatable), --rpk, --dtls) at args[i], as
/// parse_defence_flag.
int parse_dtls_flag(const Args& args, std::size_t& i, net::DtlsConfig& config, std::string& error);
/// A server's DTLS flags ask for DTLS (a PSK, a certificate or a raw key).
[[nodiscard]] bool dtls_wanted(const net::DtlsConfig& config);
/// A decimal number of at most 19 digits (flags.cc).
[[nodiscard]] bool parse_uint(const std::string& s, std::uint64_t& out);
/// Writes "error: MESSAGE" and the command's usage to `err`; returns kExitUsage.
int usage_error(std::ostream& err, std::string_view message, std::string_view usage);
/// Dispatches `argv[1]` to a command.
int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace coapbed::cli
