// When pre-copy stops (precopy_policy.h): converged, max rounds, or a
// dirty set that no longer shrinks; the estimate follows the link rate.
#include <gtest/gtest.h>

#include "migration/precopy_policy.h"

namespace tortuga {
namespace {

constexpr double kMiB = 1 << 20;

TEST(PrecopyLimits, ZerosMeanTheDefaults) {
  PrecopyLimits l = PrecopyLimits::from_request(0, 0);
  EXPECT_EQ(l.max_rounds, 30u);
  EXPECT_EQ(l.max_downtime_ms, 300u);
  l = PrecopyLimits::from_request(4, 50);
  EXPECT_EQ(l.max_rounds, 4u);
  EXPECT_EQ(l.max_downtime_ms, 50u);
}

TEST(PrecopyPolicy, EstimateIsDirtyBytesOverTheMeasuredRate) {
  PrecopyPolicy p({30, 100});
  // 100 MiB in 1 s: 100 MiB/s.
  p.after_round(100 * 1024 * 1024, 1.0, 1'000'000);
  EXPECT_NEAR(p.link_bytes_per_s(), 100 * kMiB, 1);
  // 2560 pages of 4104 bytes at 100 MiB/s: 100.2 ms, rounded up.
  EXPECT_EQ(p.estimated_downtime_ms(2560), 101u);
  EXPECT_EQ(p.estimated_downtime_ms(0), 0u);
}

TEST(PrecopyPolicy, ASmallDirtySetConverges) {
  PrecopyPolicy p({30, 300});
  EXPECT_EQ(p.after_round(64 * kMiB, 0.5, 40), PrecopyDecision::kConverged);
  EXPECT_EQ(p.rounds(), 1u);
}

TEST(PrecopyPolicy, AShrinkingSetGoesOnUntilItFits) {
  PrecopyPolicy p({30, 10});  // 10 ms at 40 MiB/s: about 100 pages
  EXPECT_EQ(p.after_round(40 * kMiB, 1.0, 20000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(20000 * 4104, 0.5, 5000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(5000 * 4104, 0.125, 1000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(1000 * 4104, 0.025, 50), PrecopyDecision::kConverged);
}

TEST(PrecopyPolicy, MaxRoundsStopsIt) {
  PrecopyPolicy p({3, 1});
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 10000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 5000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2000), PrecopyDecision::kMaxRounds);
}

TEST(PrecopyPolicy, ADirtySetThatStopsShrinkingStopsIt) {
  PrecopyPolicy p({30, 1});
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 3000), PrecopyDecision::kAnotherRound);
  // Not below 90% of the smallest so far, three rounds in a row.
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2900), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 3100), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2800), PrecopyDecision::kNotConverging);
}

TEST(PrecopyPolicy, ProgressResetsTheStallCount) {
  PrecopyPolicy p({30, 1});
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 3000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 3000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 3000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2000), PrecopyDecision::kAnotherRound);  // progress
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2000), PrecopyDecision::kAnotherRound);
  EXPECT_EQ(p.after_round(10 * kMiB, 1.0, 2000), PrecopyDecision::kNotConverging);
}

TEST(PrecopyPolicy, AnUnmeasuredLinkStillGivesAnEstimate) {
  PrecopyPolicy p({30, 300});
  EXPECT_GT(p.link_bytes_per_s(), 0);
  // A round too fast to time counts nothing against the rate.
  EXPECT_EQ(p.after_round(4104, 0.0, 10), PrecopyDecision::kConverged);
}

}  // namespace
}  // namespace tortuga
