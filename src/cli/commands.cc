#include "cli/commands.h"

#include <unistd.h>

#include <iostream>
#include <string_view>

#include "cli/json.h"
#include "cli/options_json.h"
#include "coap/codec/message_view.h"
#include "coap/uri/uri.h"
#include "net/key_id.h"
#ifdef COAPBED_HAVE_SIM
#include "sim/runner.h"
#endif

namespace coapbed::cli {

namespace {

constexpr std::string_view kDecodeUsage =
    "usage: coapbed decode HEX\n"
    "\n"
    "Decodes one CoAP message (RFC 7252 §3) given as hex digits; whitespace between\n"
    "digits is allowed (\"40 01 00 7b\"), and several arguments are joined; \"-\" reads\n"
    "the hex from standard input.\n"
    "\n"
    "Prints one JSON object: version, type (CON/NON/ACK/RST), code (\"c.dd\"),\n"
    "code_name (when registered), mid, token (hex), options (wire order, each\n"
    "{number, name, value}) and payload (hex).\n"
    "\n"
    "Exit status: 0 well-formed; 1 malformed, with \"error: <rule> at byte <offset>\"\n"
    "on standard error; 2 bad command line (including digits that are not hex).\n";

constexpr std::string_view kUriUsage =
    "usage: coapbed uri URI\n"
    "\n"
    "Parses an absolute coap:// or coaps:// URI (RFC 7252 §6, RFC 3986), decomposes it\n"
    "into request options as RFC 7252 §6.4 does for a request sent to the URI's own\n"
    "host and port, and composes the options back into a URI (§6.5).\n"
    "\n"
    "Prints one JSON object: scheme, host, port, options (each {number, name, value})\n"
    "and uri (the composed form).\n"
    "\n"
    "Exit status: 0 valid; 1 invalid, with \"error: <reason> at byte <offset>\" on\n"
    "standard error; 2 bad command line.\n";

constexpr std::string_view kMainUsage =
    "usage: coapbed COMMAND [ARGS...]\n"
    "\n"
    "coapbed is a test bench for CoAP (RFC 7252). Commands:\n"
    "  decode HEX   decode a CoAP message and print it as JSON\n"
    "  uri URI      decompose a coap:// URI into options and compose it back\n"
    "  get|post|put|delete|fetch|observe URI [options]\n"
    "               send a request over UDP (NoSec) and print the response\n"
    "  serve        serve files and test resources over UDP (or DTLS)\n"
    "  proxy        a forward proxy with a response cache over UDP\n"
    "  key-id FILE  RFC 6920 names (ni:///sha-256-120;...) of a PEM key or certificate\n"
    "  run SCENARIO.toml [--out DIR] [-j N] [--pcap] [--list] [--only ID] [--slurm ...]\n"
    "               run a scenario's sweep in ns-3 (runs.csv, summary.md), here or on Slurm\n"
    "  emulate SCENARIO.toml [--out DIR] [--pcap] [--list] [--only ID]\n"
    "               the same network in real time, with real programs in namespaces\n"
    "  collect DIR... [--scenario FILE] [--partial]\n"
    "               merge the results of run directories, naming the runs missing\n"
    "  bench ...    run the benchmarks, record history, compare (bench/run --help)\n"
    "  report ...   write an HTML and Markdown report from results (--help)\n"
    "\n"
    "Run `coapbed COMMAND --help` for a command's details.\n";

bool wants_help(const Args& args) {
    for (const auto& a : args) {
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

}  // namespace

int usage_error(std::ostream& err, std::string_view message, std::string_view usage) {
    err << "error: " << message << "\n" << usage;
    return kExitUsage;
}

int cmd_decode(const Args& args, std::ostream& out, std::ostream& err) {
    if (wants_help(args)) {
        out << kDecodeUsage;
        return kExitOk;
    }
    if (args.empty()) return usage_error(err, "decode needs HEX", kDecodeUsage);
    std::string text;
    if (args.size() == 1 && args[0] == "-") {
        text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
    } else {
        for (const auto& a : args) {
            if (!a.empty() && a[0] == '-') return usage_error(err, "unknown option " + a, kDecodeUsage);
            text += a;
            text += ' ';
        }
    }
    std::string bytes;
    if (!parse_hex(text, bytes)) {
        return usage_error(err, "HEX must be pairs of hex digits (whitespace allowed)", kDecodeUsage);
    }
    coap::MessageView view;
    const coap::ParseResult r = coap::parse(coap::Bytes(bytes), view);
    if (!r.ok()) {
        err << "error: " << coap::to_string(r.error) << " at byte " << r.offset << "\n";
        return kExitInvalidInput;
    }
    out << message_json(view);
    return kExitOk;
}

int cmd_uri(const Args& args, std::ostream& out, std::ostream& err) {
    if (wants_help(args)) {
        out << kUriUsage;
        return kExitOk;
    }
    if (args.size() != 1) return usage_error(err, "uri needs exactly one URI", kUriUsage);
    coap::UriOptions opts;
    const coap::UriResult r = coap::decompose_uri(args[0], opts);
    if (!r.ok()) {
        err << "error: " << coap::to_string(r.error) << " at byte " << r.offset << "\n";
        return kExitInvalidInput;
    }
    std::vector<coap::Option> list;
    for (std::size_t i = 0; i < opts.size(); ++i) list.push_back(opts[i]);
    std::string composed;
    const coap::UriResult c =
        coap::compose_uri(opts.scheme(), opts.host(), opts.port(), list.data(), list.size(), composed);
    if (!c.ok()) {  // cannot happen for options that decompose produced; reported, not hidden
        err << "error: compose failed: " << coap::to_string(c.error) << "\n";
        return kExitInvalidInput;
    }
    std::string json = "{\"scheme\":\"";
    json.append(coap::to_string(opts.scheme()));
    json.append("\",\"host\":");
    append_json_string(json, opts.host());
    json.append(",\"port\":" + std::to_string(opts.port()));
    json.append(",\"options\":");
    append_options_json(json, list, list.size());
    json.append(",\"uri\":");
    append_json_string(json, composed);
    json.append("}\n");
    out << json;
    return kExitOk;
}

namespace {
// `coapbed bench` and `coapbed report` are Python scripts in the source tree (they
// drive other processes and gnuplot); the binary hands over to them.
int exec_script(const char* relative, const Args& args, std::ostream& err) {
    const std::string script = std::string(COAPBED_SOURCE_DIR) + "/" + relative;
    std::vector<std::string> words = {"python3", script};
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    err.flush();
    std::cout.flush();
    execvp("python3", argv.data());
    err << "error: cannot run python3 " << script << "\n";
    return kExitUsage;
}
}  // namespace

int run(int argc, const char* const* argv, std::ostream& out, std::ostream& err) {
    if (argc < 2) {
        err << kMainUsage;
        return kExitUsage;
    }
    const std::string_view command = argv[1];
    Args args(argv + 2, argv + argc);
    if (command == "--help" || command == "-h" || command == "help") {
        out << kMainUsage;
        return kExitOk;
    }
    if (command == "decode") return cmd_decode(args, out, err);
    if (command == "uri") return cmd_uri(args, out, err);
    if (command == "bench") return exec_script("bench/run", args, err);
    if (command == "get" || command == "post" || command == "put" || command == "delete" || command == "fetch" ||
        command == "observe") {
        return cmd_client(std::string(command), args, out, err);
    }
    if (command == "serve") return cmd_serve(args, out, err);
    if (command == "proxy") return cmd_proxy(args, out, err);
    if (command == "report") return exec_script("reports/generate.py", args, err);
    if (command == "key-id") {
        if (args.size() != 1 || wants_help(args)) {
            (wants_help(args) ? out : err) << "usage: coapbed key-id FILE\n\nPrints the RFC 6920 names of the public key in a PEM file (certificate, public\n"
                                              "or private key): ni:///sha-256-120 (the identifier RFC 7252 §9.1.3.2 uses for\n"
                                              "raw public keys), its nih: form with check digit, and ni:///sha-256.\n";
            return wants_help(args) ? kExitOk : kExitUsage;
        }
        std::string error;
        const auto names = coapbed::net::key_names_from_pem(args[0], error);
        if (!names) {
            err << "error: " << error << "\n";
            return kExitInvalidInput;
        }
        out << names->ni_sha256_120 << "\n" << names->nih_sha256_120 << "\n" << names->ni_sha256 << "\n";
        return kExitOk;
    }
    if (command == "run" || command == "collect" || command == "emulate") {
#ifdef COAPBED_HAVE_SIM
        if (command == "emulate") return coapbed::sim::cmd_emulate(args, out, err);
        return command == "run" ? coapbed::sim::cmd_run(args, out, err) : coapbed::sim::cmd_collect(args, out, err);
#else
        err << "error: this coapbed was built without ns-3 (COAPBED_SIM=OFF)\n";
        return kExitUsage;
#endif
    }
    err << "error: unknown command '" << command << "'\n" << kMainUsage;
    return kExitUsage;
}

}  // namespace coapbed::cli
