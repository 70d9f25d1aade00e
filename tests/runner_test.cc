// The statistics of `coapbed run`'s summary.md: Student-t 95 % intervals over seeds.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "sim/runner.h"

namespace {

using coapbed::sim::mean_interval;
using coapbed::sim::t_quantile_975;

TEST(SummaryStatistics, StudentTQuantilesFromTheTableAndBeyondIt) {
    EXPECT_DOUBLE_EQ(t_quantile_975(1), 12.706);
    EXPECT_DOUBLE_EQ(t_quantile_975(4), 2.776);
    EXPECT_DOUBLE_EQ(t_quantile_975(9), 2.262);
    EXPECT_DOUBLE_EQ(t_quantile_975(30), 2.042);
    // Published values for 40, 60 and 120 degrees of freedom.
    EXPECT_NEAR(t_quantile_975(40), 2.021, 0.002);
    EXPECT_NEAR(t_quantile_975(60), 2.000, 0.002);
    EXPECT_NEAR(t_quantile_975(120), 1.980, 0.002);
    for (std::size_t df = 1; df < 200; ++df) EXPECT_GT(t_quantile_975(df), t_quantile_975(df + 1)) << df;
    EXPECT_TRUE(std::isnan(t_quantile_975(0)));
}

TEST(SummaryStatistics, MeanIntervalOfFiveSeeds) {
    const auto m = mean_interval({1, 2, 3, 4, 5});
    EXPECT_EQ(m.n, 5u);
    EXPECT_DOUBLE_EQ(m.mean, 3);
    // s = sqrt(2.5); half-width = 2.776 * s / sqrt(5).
    const double half = 2.776 * std::sqrt(2.5) / std::sqrt(5.0);
    EXPECT_NEAR(m.low, 3 - half, 1e-12);
    EXPECT_NEAR(m.high, 3 + half, 1e-12);
    const auto one = mean_interval({7});
    EXPECT_DOUBLE_EQ(one.mean, 7);
    EXPECT_TRUE(std::isnan(one.low) && std::isnan(one.high));
    const auto same = mean_interval({2, 2, 2});
    EXPECT_DOUBLE_EQ(same.low, 2);
    EXPECT_DOUBLE_EQ(same.high, 2);
}

TEST(SummaryStatistics, IntervalsCoverTheTrueMeanNinetyFivePercentOfTheTime) {
    // 4,000 experiments of 5 seeds from a normal distribution (seeded): the t-interval
    // covers the true mean 95 % of the time; a normal-quantile interval would give ~88 %.
    std::mt19937_64 rng(20261204);
    std::normal_distribution<double> d(10.0, 2.0);
    int covered = 0;
    const int trials = 4000;
    for (int i = 0; i < trials; ++i) {
        std::vector<double> v(5);
        for (auto& x : v) x = d(rng);
        const auto m = mean_interval(v);
        covered += m.low <= 10.0 && 10.0 <= m.high;
    }
    EXPECT_NEAR(static_cast<double>(covered) / trials, 0.95, 0.012);
}

TEST(SummaryStatistics, SummaryMarkdownShowsTheMeanAndItsInterval) {
    std::vector<nlohmann::ordered_json> results;
    for (int seed = 1; seed <= 5; ++seed) {
        nlohmann::ordered_json r;
        r["swept"] = {{"loss", "0.1"}};
        r["seed"] = seed;
        r["metrics"] = {{"retransmissions", seed}};
        results.push_back(r);
    }
    const std::string md = coapbed::sim::summary_markdown("t", results);
    EXPECT_NE(md.find("| 0.1 | 5 | - | - | 3 [1.037, 4.963] |"), std::string::npos) << md;
    EXPECT_NE(md.find("Student's t"), std::string::npos);
}

}  // namespace
