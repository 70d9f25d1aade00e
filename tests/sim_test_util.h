// Helpers shared by the simulator's tests (sim_test.cc, sim_proxy_test.cc,
// sim_dtls_test.cc): one run of a scenario given as text, the error a scenario text
// draws, a counter of a result document.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/scenario/scenario.h"
#include "sim/scenario/simulation.h"

namespace coapbed::test {

/// Simulates the one run of a scenario text (test.toml in errors).
inline nlohmann::ordered_json run(const std::string& toml) {
    const auto sc = coapbed::sim::parse_scenario(toml, "test.toml");
    EXPECT_EQ(sc.runs.size(), 1u);
    return coapbed::sim::simulate(sc, sc.runs.front(), {});
}

/// The ScenarioError a text draws (as bad.toml), or "(no error)".
inline std::string error_of(const std::string& text) {
    try {
        (void)coapbed::sim::parse_scenario(text, "bad.toml");
    } catch (const coapbed::sim::ScenarioError& e) {
        return e.what();
    }
    return "(no error)";
}

inline std::uint64_t u(const nlohmann::ordered_json& j, const char* k) { return j.at(k).get<std::uint64_t>(); }

}  // namespace coapbed::test
