#include "sim/scenario/scenario.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "coap/congestion/congestion.h"

namespace coapbed::sim {

std::string format_value(const Value& v) {
    if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
    if (const auto* d = std::get_if<double>(&v)) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.10g", *d);
        return buf;
    }
    if (const auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
    return std::get<std::string>(v);
}

ScenarioError::ScenarioError(const std::string& file, const std::string& key, const std::string& reason)
    : std::runtime_error(file + ": " + key + ": " + reason) {}

namespace {

std::optional<double> parse_with_units(const std::string& s, std::initializer_list<std::pair<const char*, double>> units) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(s, &used);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    std::string unit = s.substr(used);
    while (!unit.empty() && unit.front() == ' ') unit.erase(unit.begin());
    for (const auto& [name, factor] : units) {
        if (unit == name) {
            const double r = v * factor;
            if (!std::isfinite(r)) return std::nullopt;
            return r;
        }
    }
    return std::nullopt;
}

enum class Kind { Int, Real, Bool, Choice, Rate, Time, Queue, Congestion, Label };

struct KeySpec {
    const char* section;  ///< "" for top-level keys
    const char* key;
    Kind kind;
    double min;
    double max;
    std::vector<std::string> choices;
    std::function<void(RunConfig&, const Value&)> set;
    std::function<Value(const RunConfig&)> get;
};

std::vector<std::string> congestion_names() {
    std::vector<std::string> names;
    for (auto* s = coap::congestion_strategies_begin(); s != coap::congestion_strategies_end(); ++s) {
        names.emplace_back(s->name);
    }
    return names;
}

#define COAPBED_INT(field) \
    [](RunConfig& c, const Value& v) { c.field = std::get<std::int64_t>(v); }, \
    [](const RunConfig& c) -> Value { return c.field; }
#define COAPBED_REAL(field) \
    [](RunConfig& c, const Value& v) { c.field = std::get<double>(v); }, \
    [](const RunConfig& c) -> Value { return c.field; }
#define COAPBED_STR(field) \
    [](RunConfig& c, const Value& v) { c.field = std::get<std::string>(v); }, \
    [](const RunConfig& c) -> Value { return c.field; }
#define COAPBED_BOOL(field) \
    [](RunConfig& c, const Value& v) { c.field = std::get<bool>(v); }, \
    [](const RunConfig& c) -> Value { return c.field; }

const std::vector<KeySpec>& schema() {
    static const std::vector<KeySpec> specs = {
        {"", "duration", Kind::Time, 0.001, 1e7, {}, COAPBED_REAL(duration_s)},
        {"topology", "kind", Kind::Choice, 0, 0, {"dumbbell", "sixlowpan"}, COAPBED_STR(topology.kind)},
        {"topology", "clients", Kind::Int, 1, 100000, {}, COAPBED_INT(topology.clients)},
        {"topology", "servers", Kind::Int, 1, 100, {}, COAPBED_INT(topology.servers)},
        {"topology", "rate", Kind::Rate, 1000, 1e9, {}, COAPBED_REAL(topology.rate_bps)},
        {"topology", "delay", Kind::Time, 0, 60, {}, COAPBED_REAL(topology.delay_s)},
        {"topology", "queue", Kind::Queue, 1, 1e9, {},
         [](RunConfig& c, const Value& v) {
             if (const auto* i = std::get_if<std::int64_t>(&v)) {
                 c.topology.queue = *i;
                 c.topology.queue_in_bytes = false;
             } else {
                 const auto& s = std::get<std::string>(v);
                 c.topology.queue_in_bytes = s.back() == 'B';
                 c.topology.queue = std::stoll(s.substr(0, s.size() - 1));
             }
         },
         [](const RunConfig& c) -> Value {
             if (!c.topology.queue_in_bytes) return c.topology.queue;
             return std::to_string(c.topology.queue) + "B";
         }},
        {"topology", "loss", Kind::Real, 0, 0.99, {}, COAPBED_REAL(topology.loss)},
        {"topology", "loss_model", Kind::Choice, 0, 0, {"uniform", "gilbert-elliott"}, COAPBED_STR(topology.loss_model)},
        {"topology", "burst", Kind::Real, 1, 1e6, {}, COAPBED_REAL(topology.burst)},
        {"topology", "access_rate", Kind::Rate, 1000, 1e10, {}, COAPBED_REAL(topology.access_rate_bps)},
        {"topology", "access_delay", Kind::Time, 0, 10, {}, COAPBED_REAL(topology.access_delay_s)},
        {"topology", "access", Kind::Choice, 0, 0, {"p2p", "switch"}, COAPBED_STR(topology.access)},
        {"topology", "hops", Kind::Int, 1, 10, {}, COAPBED_INT(topology.hops)},
        {"topology", "spacing", Kind::Real, 1, 200, {}, COAPBED_REAL(topology.spacing_m)},
        {"workload", "requests", Kind::Int, 0, 1e9, {}, COAPBED_INT(workload.requests)},
        {"workload", "interval", Kind::Time, 0, 1e6, {}, COAPBED_REAL(workload.interval_s)},
        {"workload", "arrival", Kind::Choice, 0, 0, {"closed", "poisson", "short-lived", "on-off"}, COAPBED_STR(workload.arrival)},
        {"workload", "on", Kind::Time, 0.001, 1e6, {}, COAPBED_REAL(workload.on_s)},
        {"workload", "off", Kind::Time, 0, 1e6, {}, COAPBED_REAL(workload.off_s)},
        {"workload", "exchanges_per_client", Kind::Int, 1, 1000000, {}, COAPBED_INT(workload.exchanges_per_client)},
        {"workload", "think", Kind::Time, 0, 1e6, {}, COAPBED_REAL(workload.think_s)},
        {"workload", "method", Kind::Choice, 0, 0, {"GET", "POST", "PUT", "DELETE", "FETCH"}, COAPBED_STR(workload.method)},
        {"workload", "payload", Kind::Int, 0, 1 << 20, {}, COAPBED_INT(workload.payload)},
        {"workload", "response", Kind::Int, 0, 1 << 20, {}, COAPBED_INT(workload.response)},
        {"workload", "confirmable", Kind::Bool, 0, 0, {}, COAPBED_BOOL(workload.confirmable)},
        {"workload", "start", Kind::Time, 0, 1e6, {}, COAPBED_REAL(workload.start_s)},
        {"workload", "resources", Kind::Int, 0, 100000, {}, COAPBED_INT(workload.resources)},
        {"workload", "zipf", Kind::Real, 0, 10, {}, COAPBED_REAL(workload.zipf)},
        {"workload", "max_age", Kind::Int, -1, 4294967295LL, {}, COAPBED_INT(workload.max_age)},
        {"workload", "burst", Kind::Int, 0, 10000, {}, COAPBED_INT(workload.burst)},
        {"workload", "burst_at", Kind::Time, 0, 1e7, {}, COAPBED_REAL(workload.burst_at_s)},
        {"workload", "observe", Kind::Bool, 0, 0, {}, COAPBED_BOOL(workload.observe)},
        {"workload", "etag", Kind::Bool, 0, 0, {}, COAPBED_BOOL(workload.etag)},
        {"coap", "congestion", Kind::Congestion, 0, 0, congestion_names(), COAPBED_STR(coap.congestion)},
        {"coap", "cocoa_vbf", Kind::Choice, 0, 0, {"initial", "per-step"}, COAPBED_STR(coap.cocoa_vbf)},
        {"coap", "nstart", Kind::Int, 1, 64, {}, COAPBED_INT(coap.nstart)},
        {"coap", "ack_timeout", Kind::Time, 0.001, 600, {}, COAPBED_REAL(coap.ack_timeout_s)},
        {"coap", "ack_random_factor", Kind::Real, 1, 10, {}, COAPBED_REAL(coap.ack_random_factor)},
        {"coap", "max_retransmit", Kind::Int, 0, 20, {}, COAPBED_INT(coap.max_retransmit)},
        {"coap", "default_leisure", Kind::Time, 0, 600, {}, COAPBED_REAL(coap.default_leisure_s)},
        {"coap", "probing_rate", Kind::Real, 0.001, 1e9, {}, COAPBED_REAL(coap.probing_rate)},
        {"coap", "max_latency", Kind::Time, 0, 3600, {}, COAPBED_REAL(coap.max_latency_s)},
        {"coap", "block_size", Kind::Int, 16, 1024, {}, COAPBED_INT(coap.block_size)},
        {"coap", "token_length", Kind::Int, 0, 8, {}, COAPBED_INT(coap.token_length)},
        {"coap", "random_mid", Kind::Bool, 0, 0, {}, COAPBED_BOOL(coap.random_mid)},
        {"attack", "vector", Kind::Choice, 0, 0,
         {"none", "large-get", "well-known-core", "block", "observe", "multicast", "multicast-observe", "dns", "spoofed-rst",
          "spoofed-ack", "spoofed-separate", "spoofed-piggybacked", "proxy-loop", "proxy-large-get"},
         COAPBED_STR(attack.vector)},
        {"attack", "rate", Kind::Real, 0.001, 1e5, {}, COAPBED_REAL(attack.rate)},
        {"attack", "resource", Kind::Int, 1, 1 << 20, {}, COAPBED_INT(attack.resource)},
        {"attack", "servers", Kind::Int, 1, 100, {}, COAPBED_INT(attack.servers)},
        {"attack", "notify_interval", Kind::Time, 0.001, 1e6, {}, COAPBED_REAL(attack.notify_interval_s)},
        {"defence", "echo", Kind::Bool, 0, 0, {}, COAPBED_BOOL(defence.echo)},
        {"defence", "amplification_limit", Kind::Real, 0, 1e6, {}, COAPBED_REAL(defence.amplification_limit)},
        {"defence", "rate_limit", Kind::Real, 0, 1e6, {}, COAPBED_REAL(defence.rate_limit)},
        {"defence", "observe_verified_only", Kind::Bool, 0, 0, {}, COAPBED_BOOL(defence.observe_verified_only)},
        {"proxy", "enabled", Kind::Bool, 0, 0, {}, COAPBED_BOOL(proxy.enabled)},
        {"proxy", "cache", Kind::Bool, 0, 0, {}, COAPBED_BOOL(proxy.cache)},
        {"proxy", "max_entries", Kind::Int, 1, 1e7, {}, COAPBED_INT(proxy.max_entries)},
        {"proxy", "max_bytes", Kind::Int, 1, 1e10, {}, COAPBED_INT(proxy.max_bytes)},
        {"proxy", "max_freshness", Kind::Time, 0, 4294967295.0, {}, COAPBED_REAL(proxy.max_freshness_s)},
        {"proxy", "token_length", Kind::Int, 0, 8, {}, COAPBED_INT(proxy.token_length)},
        {"proxy", "coalesce", Kind::Bool, 0, 0, {}, COAPBED_BOOL(proxy.coalesce)},
        {"proxy", "hop_limit", Kind::Int, 1, 255, {}, COAPBED_INT(proxy.hop_limit)},
        {"proxy", "honour_hop_limit", Kind::Bool, 0, 0, {}, COAPBED_BOOL(proxy.honour_hop_limit)},
        {"proxy", "upstream_port", Kind::Choice, 0, 0, {"fixed", "per-exchange"}, COAPBED_STR(proxy.upstream_port)},
        {"proxy", "blockwise", Kind::Choice, 0, 0, {"store-and-forward", "pass-through"}, COAPBED_STR(proxy.blockwise)},
        {"security", "mode", Kind::Choice, 0, 0, {"nosec", "psk", "rpk", "certificate"}, COAPBED_STR(security.mode)},
        {"security", "hello_verify", Kind::Bool, 0, 0, {}, COAPBED_BOOL(security.hello_verify)},
        // [emulation] (`coapbed emulate`); emulation.server and .client are read apart
        // (a string, or a table keyed by program) and resolved per run.
        {"emulation", "program", Kind::Label, 0, 0, {}, COAPBED_STR(emulation.program)},
        {"emulation", "clients", Kind::Int, 1, 50, {}, COAPBED_INT(emulation.clients)},
        {"emulation", "repeat", Kind::Int, 1, 1000000, {}, COAPBED_INT(emulation.repeat)},
        {"emulation", "interval", Kind::Time, 0, 3600, {}, COAPBED_REAL(emulation.interval_s)},
        {"emulation", "settle", Kind::Time, 0, 60, {}, COAPBED_REAL(emulation.settle_s)},
        {"emulation", "lag_limit", Kind::Time, 0, 10, {}, COAPBED_REAL(emulation.lag_limit_s)},
    };
    return specs;
}

#undef COAPBED_INT
#undef COAPBED_REAL
#undef COAPBED_STR
#undef COAPBED_BOOL

std::string full_key(const KeySpec& k) {
    return *k.section ? std::string(k.section) + "." + k.key : std::string(k.key);
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + ("\"" + x + "\"");
    return s;
}

std::string describe_type(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::array: return "a list";
        case toml::node_type::table: return "a table";
        default: return "a date or time";
    }
}

std::string range_text(const KeySpec& k) {
    return "between " + format_value(Value{k.min}) + " and " + format_value(Value{k.max});
}

/// One scalar of the key's kind, validated; throws ScenarioError.
Value convert(const std::string& file, const KeySpec& k, const toml::node& n) {
    const std::string key = full_key(k);
    auto fail = [&](const std::string& reason) -> Value { throw ScenarioError(file, key, reason); };
    auto check_range = [&](double v, const std::string& shown) {
        if (!(v >= k.min && v <= k.max)) fail(shown + " is out of range (must be " + range_text(k) + ")");
    };
    switch (k.kind) {
        case Kind::Int: {
            const auto v = n.value<std::int64_t>();
            if (!n.is_integer() || !v) return fail("expected an integer, got " + describe_type(n));
            check_range(static_cast<double>(*v), std::to_string(*v));
            return *v;
        }
        case Kind::Real: {
            if (!n.is_number()) return fail("expected a number, got " + describe_type(n));
            const double v = *n.value<double>();
            check_range(v, format_value(Value{v}));
            return v;
        }
        case Kind::Bool: {
            if (!n.is_boolean()) return fail("expected true or false, got " + describe_type(n));
            return *n.value<bool>();
        }
        case Kind::Choice:
        case Kind::Congestion: {
            if (!n.is_string()) return fail("expected a string, got " + describe_type(n));
            const std::string s = *n.value<std::string>();
            for (const auto& c : k.choices) {
                if (c == s) return s;
            }
            return fail("\"" + s + "\" is not one of " + join(k.choices));
        }
        case Kind::Rate:
        case Kind::Time: {
            std::optional<double> v;
            const bool rate = k.kind == Kind::Rate;
            if (n.is_number()) {
                v = *n.value<double>();
            } else if (n.is_string()) {
                const std::string s = *n.value<std::string>();
                v = rate ? parse_rate(s) : parse_time(s);
                if (!v) {
                    return fail("\"" + s + "\" is not a " +
                                (rate ? std::string("rate like \"20kbps\" or \"1Mbps\"")
                                      : std::string("time like \"100ms\" or \"2s\"")));
                }
            } else {
                return fail(std::string("expected ") + (rate ? "a rate like \"20kbps\"" : "a time like \"100ms\"") +
                            ", got " + describe_type(n));
            }
            check_range(*v, format_value(Value{*v}) + (rate ? " bit/s" : " s"));
            return *v;
        }
        case Kind::Queue: {
            if (n.is_integer()) {
                const auto v = *n.value<std::int64_t>();
                check_range(static_cast<double>(v), std::to_string(v));
                return v;
            }
            if (n.is_string()) {
                std::string s = *n.value<std::string>();
                const char unit = s.empty() ? '\0' : s.back();
                std::size_t used = 0;
                long long v = -1;
                try {
                    v = std::stoll(s, &used);
                } catch (const std::exception&) {
                }
                if ((unit != 'p' && unit != 'B') || used + 1 != s.size() || v < 1) {
                    return fail("\"" + s + "\" is not a queue size like 100 (packets), \"100p\" or \"6000B\"");
                }
                check_range(static_cast<double>(v), s);
                if (unit == 'p') return static_cast<std::int64_t>(v);
                return std::to_string(v) + "B";
            }
            return fail("expected a queue size (packets, or \"6000B\"), got " + describe_type(n));
        }
        case Kind::Label: {
            if (!n.is_string()) return fail("expected a string, got " + describe_type(n));
            const std::string s = *n.value<std::string>();
            bool ok = !s.empty() && s.size() <= 40;
            for (char c : s) {
                ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '.' || c == '_');
            }
            if (!ok) return fail("\"" + s + "\" is not a label (1 to 40 letters, digits, '-', '.', '_')");
            return s;
        }
    }
    return fail("unsupported");
}

std::string id_part(const std::string& s) {
    std::string out;
    for (char c : s) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '-';
        out += ok ? c : '-';
    }
    return out;
}

struct Axis {
    const KeySpec* spec;
    std::vector<Value> values;
};

/// emulation.server / emulation.client as written: one command, or one per program.
struct Command {
    std::optional<std::string> any;            ///< a plain string: every program's
    std::vector<std::pair<std::string, std::string>> by_program;
};
struct Commands {
    Command server, client;
};

Command read_command(const std::string& file, const toml::table& root, const char* key) {
    Command c;
    const std::string full = std::string("emulation.") + key;
    const toml::node* n = root.at_path(full).node();
    if (!n) return c;
    auto check = [&](const std::string& cmd, const std::string& where) {
        if (cmd.find_first_not_of(" \t") == std::string::npos) throw ScenarioError(file, where, "an empty command");
        return cmd;
    };
    if (n->is_string()) {
        c.any = check(*n->value<std::string>(), full);
        return c;
    }
    const auto* t = n->as_table();
    if (!t) throw ScenarioError(file, full, "expected a command string or a table of them by program, got " + describe_type(*n));
    for (const auto& [program, cmd] : *t) {
        const std::string where = full + "." + std::string(program.str());
        if (!cmd.is_string()) throw ScenarioError(file, where, "expected a command string, got " + describe_type(cmd));
        c.by_program.emplace_back(std::string(program.str()), check(*cmd.value<std::string>(), where));
    }
    return c;
}

Commands read_commands(const std::string& file, const toml::table& root) {
    return Commands{read_command(file, root, "server"), read_command(file, root, "client")};
}

/// Resolves the run's commands and checks what emulation supports.
void check_emulation(const std::string& file, const Commands& commands, RunConfig& c) {
    auto resolve = [&](const Command& cmd, const char* key) {
        const std::string full = std::string("emulation.") + key;
        if (cmd.any) return *cmd.any;
        if (cmd.by_program.empty()) throw ScenarioError(file, full, "missing (the command to run; see `coapbed emulate --help`)");
        for (const auto& [program, text] : cmd.by_program) {
            if (program == c.emulation.program) return text;
        }
        throw ScenarioError(file, full, "has no command for program \"" + c.emulation.program + "\"");
    };
    c.emulation.server = resolve(commands.server, "server");
    c.emulation.client = resolve(commands.client, "client");
    if (c.topology.kind != "dumbbell") throw ScenarioError(file, "topology.kind", "emulation runs on the dumbbell topology");
    if (c.topology.servers != 1) throw ScenarioError(file, "topology.servers", "emulation has one server namespace");
    if (c.attack.vector != "none") throw ScenarioError(file, "attack.vector", "emulation runs no simulated attacker");
    if (c.proxy.enabled) throw ScenarioError(file, "proxy.enabled", "emulation runs no simulated proxy");
}

}  // namespace

std::optional<double> parse_rate(const std::string& s) {
    return parse_with_units(s, {{"bps", 1}, {"kbps", 1e3}, {"Kbps", 1e3}, {"Mbps", 1e6}, {"Gbps", 1e9}, {"", 1}});
}

std::optional<double> parse_time(const std::string& s) {
    return parse_with_units(s, {{"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}, {"min", 60}, {"", 1}});
}

Scenario parse_scenario(const std::string& text, const std::string& file) {
    toml::table root;
    try {
        root = toml::parse(text, file);
    } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        throw ScenarioError(file, "line " + std::to_string(where.line),
                            "not valid TOML: " + std::string(e.description()));
    }
    Scenario sc;
    sc.file = file;

    // Unknown sections and keys first: a typo must not silently fall back to a default.
    std::set<std::string> known = {"name",    "seeds", "topology", "workload",         "coap",
                                   "attack",  "defence", "proxy",  "emulation",        "emulation.server",
                                   "emulation.client", "security"};
    for (const auto& k : schema()) known.insert(full_key(k));
    for (const auto& [key, node] : root) {
        const std::string top(key.str());
        if (!known.count(top)) throw ScenarioError(file, top, "unknown key");
        if (top == "topology" || top == "workload" || top == "coap" || top == "attack" || top == "defence" ||
            top == "proxy" || top == "emulation" || top == "security") {
            const auto* t = node.as_table();
            if (!t) throw ScenarioError(file, top, "expected a table ([" + top + "]), got " + describe_type(node));
            for (const auto& [sub, subnode] : *t) {
                (void)subnode;
                const std::string k = top + "." + std::string(sub.str());
                if (!known.count(k)) throw ScenarioError(file, k, "unknown key");
            }
        }
    }

    const auto* name = root.get("name");
    if (!name) throw ScenarioError(file, "name", "missing (every scenario has a name)");
    if (!name->is_string() || name->value<std::string>()->empty()) {
        throw ScenarioError(file, "name", "expected a non-empty string, got " + describe_type(*name));
    }
    sc.name = *name->value<std::string>();

    const auto* seeds = root.get("seeds");
    if (!seeds) throw ScenarioError(file, "seeds", "missing (a list of integers, e.g. [1, 2, 3])");
    const auto* seed_list = seeds->as_array();
    if (!seed_list || seed_list->empty()) {
        throw ScenarioError(file, "seeds", "expected a non-empty list of integers, got " + describe_type(*seeds));
    }
    std::set<std::uint64_t> seen;
    for (const auto& s : *seed_list) {
        const auto v = s.value<std::int64_t>();
        if (!s.is_integer() || !v || *v < 0) throw ScenarioError(file, "seeds", "every seed must be an integer >= 0");
        if (!seen.insert(static_cast<std::uint64_t>(*v)).second) {
            throw ScenarioError(file, "seeds", "seed " + std::to_string(*v) + " is listed twice");
        }
        sc.seeds.push_back(static_cast<std::uint64_t>(*v));
    }

    // Values: scalars set the base config, lists become axes.
    RunConfig base;
    base.name = sc.name;
    std::vector<Axis> axes;
    for (const auto& spec : schema()) {
        const toml::node* n = *spec.section ? root.at_path(std::string(spec.section) + "." + spec.key).node()
                                            : root.get(spec.key);
        if (!n) continue;
        if (spec.kind == Kind::Congestion && n->is_string() && *n->value<std::string>() == "all") {
            Axis a{&spec, {}};
            for (const auto& c : spec.choices) a.values.emplace_back(c);
            axes.push_back(std::move(a));
            continue;
        }
        if (const auto* arr = n->as_array()) {
            if (arr->empty()) throw ScenarioError(file, full_key(spec), "a sweep list must not be empty");
            Axis a{&spec, {}};
            for (const auto& item : *arr) {
                if (item.is_array() || item.is_table()) {
                    throw ScenarioError(file, full_key(spec), "a sweep list holds plain values, not " + describe_type(item));
                }
                a.values.push_back(convert(file, spec, item));
            }
            axes.push_back(std::move(a));
        } else {
            spec.set(base, convert(file, spec, *n));
        }
    }

    const Commands commands = read_commands(file, root);
    base.emulation.enabled = root.get("emulation") != nullptr;
    base.security.present = root.get("security") != nullptr;

    // Rules that tie keys together, checked on every point of the sweep below.
    auto check_point = [&](RunConfig& c) {
        if (c.emulation.enabled) check_emulation(file, commands, c);
        if (c.security.mode != "nosec") {
            // DTLS runs between the simulated clients and servers: not through a proxy, an
            // attacker's forgeries or real programs (yet).
            if (c.proxy.enabled) throw ScenarioError(file, "security.mode", "DTLS does not run through the [proxy]");
            if (c.attack.vector != "none") throw ScenarioError(file, "security.mode", "DTLS runs without an [attack]");
            if (c.emulation.enabled) throw ScenarioError(file, "security.mode", "emulation runs the programs' own DTLS");
        }
        if (c.topology.kind == "sixlowpan" && c.topology.servers != 1) {
            throw ScenarioError(file, "topology.servers", "sixlowpan has one server, at the border");
        }
        if ((c.workload.arrival == "poisson" || c.workload.arrival == "short-lived") && c.workload.interval_s <= 0) {
            throw ScenarioError(file, "workload.interval", c.workload.arrival + " arrivals need a mean interval > 0");
        }
        if (c.attack.vector != "none" && c.topology.kind != "dumbbell") {
            throw ScenarioError(file, "attack.vector", "attacks run on the dumbbell topology");
        }
        if (c.workload.observe && (c.workload.arrival != "closed" || c.workload.method != "GET")) {
            throw ScenarioError(file, "workload.observe", "observers are closed-loop GET clients (one registration each)");
        }
        if (c.workload.observe && (c.attack.vector == "observe" || c.attack.vector == "multicast-observe")) {
            throw ScenarioError(file, "workload.observe", "the observe attack sets /obs itself");
        }
        if (c.proxy.enabled && c.topology.kind != "dumbbell") {
            throw ScenarioError(file, "proxy.enabled", "the proxy runs on the dumbbell topology (the clients' router)");
        }
        const bool proxy_vector = c.attack.vector == "spoofed-separate" || c.attack.vector == "spoofed-piggybacked" ||
                                  c.attack.vector == "proxy-loop" || c.attack.vector == "proxy-large-get";
        if (c.proxy.enabled && c.attack.vector != "none" && !proxy_vector) {
            throw ScenarioError(file, "attack.vector",
                                "with [proxy], the attack is spoofed-separate, spoofed-piggybacked, proxy-loop or "
                                "proxy-large-get");
        }
        if (proxy_vector && !c.proxy.enabled) {
            throw ScenarioError(file, "attack.vector", c.attack.vector + " attacks a proxy: needs [proxy] enabled");
        }
        const auto& t = c.topology;
        if (t.loss_model == "gilbert-elliott" && t.loss > 0 && t.loss / (t.burst * (1 - t.loss)) > 1 + 1e-9) {
            throw ScenarioError(file, "topology.burst",
                                "no Gilbert-Elliott chain has loss " + format_value(Value{t.loss}) +
                                    " with mean bursts of " + format_value(Value{t.burst}) +
                                    " packets (burst must be at least loss / (1 - loss) = " +
                                    format_value(Value{t.loss / (1 - t.loss)}) + ")");
        }
        const auto bs = c.coap.block_size;
        if ((bs & (bs - 1)) != 0) throw ScenarioError(file, "coap.block_size", std::to_string(bs) + " is not a power of two");
        if (c.workload.burst > 0 && (c.workload.burst_at_s < c.workload.start_s || c.workload.burst_at_s >= c.duration_s)) {
            throw ScenarioError(file, "workload.burst_at", "the burst must fall between workload.start and duration");
        }
        if (c.workload.burst > 0 && c.workload.arrival == "short-lived") {
            throw ScenarioError(file, "workload.burst", "short-lived clients have no burst (they come and go)");
        }
        if (c.workload.requests == 0 && c.duration_s <= c.workload.start_s) {
            throw ScenarioError(file, "duration", "must be longer than workload.start when requests = 0");
        }
    };

    for (const auto& a : axes) sc.axes.emplace_back(a.spec->key);
    std::vector<std::size_t> index(axes.size(), 0);
    while (true) {
        RunConfig point = base;
        std::vector<std::pair<std::string, Value>> swept;
        std::string id;
        for (std::size_t i = 0; i < axes.size(); ++i) {
            const Value& v = axes[i].values[index[i]];
            axes[i].spec->set(point, v);
            swept.emplace_back(axes[i].spec->key, v);
            id += std::string(axes[i].spec->key) + "-" + id_part(format_value(v)) + "_";
        }
        check_point(point);
        for (const auto seed : sc.seeds) {
            RunSpec r;
            r.id = id + "seed-" + std::to_string(seed);
            r.swept = swept;
            r.seed = seed;
            r.config = point;
            for (const auto& spec : schema()) {
                // The [emulation] keys belong to the runs of files that have the table.
                if (!point.emulation.enabled && std::string(spec.section) == "emulation") continue;
                if (!point.security.present && std::string(spec.section) == "security") continue;
                r.params.emplace_back(full_key(spec), spec.get(point));
            }
            if (point.emulation.enabled) {
                r.params.emplace_back("emulation.server", point.emulation.server);
                r.params.emplace_back("emulation.client", point.emulation.client);
            }
            sc.runs.push_back(std::move(r));
        }
        std::size_t i = axes.size();
        while (i > 0) {
            --i;
            if (++index[i] < axes[i].values.size()) break;
            index[i] = 0;
            if (i == 0) return sc;
        }
        if (axes.empty()) return sc;
    }
}

Scenario load_scenario(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ScenarioError(path, "file", "cannot be read");
    std::ostringstream text;
    text << in.rdbuf();
    return parse_scenario(text.str(), path);
}

}  // namespace coapbed::sim
