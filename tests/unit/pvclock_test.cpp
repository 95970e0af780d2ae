// pvclock_scale: the (mul, shift) pair that turns TSC ticks into ns, with
// mul normalised to [2^31, 2^32), as the guest's pvclock code applies it.
#include "events/pvclock.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace tortuga {
namespace {

class PvclockScaleFor : public ::testing::TestWithParam<uint64_t> {};

TEST_P(PvclockScaleFor, MulIsNormalised) {
  PvclockScale s = pvclock_scale(GetParam());
  EXPECT_GE(s.mul, 1ULL << 31);
  EXPECT_LT(uint64_t{s.mul}, 1ULL << 32);
}

TEST_P(PvclockScaleFor, OneSecondOfTicksIsOneSecond) {
  const uint64_t hz = GetParam();
  uint64_t ns = pvclock_scale_delta(hz, pvclock_scale(hz));
  EXPECT_LE(ns, 1'000'000'000ULL);
  EXPECT_GE(ns, 1'000'000'000ULL - 1);
}

TEST_P(PvclockScaleFor, OneHourOfTicksIsWithinAMicrosecond) {
  const uint64_t hz = GetParam();
  uint64_t ns = pvclock_scale_delta(3600 * hz, pvclock_scale(hz));
  EXPECT_LE(ns, 3600'000'000'000ULL);
  EXPECT_GE(ns, 3600'000'000'000ULL - 3600);
}

TEST_P(PvclockScaleFor, ZeroTicksIsZero) { EXPECT_EQ(pvclock_scale_delta(0, pvclock_scale(GetParam())), 0u); }

INSTANTIATE_TEST_SUITE_P(Frequencies, PvclockScaleFor,
                         ::testing::Values(1'000'000'000ULL, 2'500'000'000ULL, 3'700'000'000ULL, 100'000'000ULL,
                                           10'000'000'000ULL, 2'994'375'000ULL));

TEST(PvclockScale, OneGigahertzIsOneNanosecondPerTick) {
  PvclockScale s = pvclock_scale(1'000'000'000ULL);
  EXPECT_EQ(s.mul, 1ULL << 31);
  EXPECT_EQ(s.shift, 1);
}

TEST(PvclockScale, ShiftSignFollowsFrequency) {
  EXPECT_GT(pvclock_scale(100'000'000ULL).shift, 0) << "slow clock: ticks are scaled up";
  EXPECT_LT(pvclock_scale(10'000'000'000ULL).shift, 0) << "fast clock: ticks are scaled down";
}

TEST(PvclockScale, ZeroFrequencyThrows) { EXPECT_THROW(pvclock_scale(0), std::invalid_argument); }

}  // namespace
}  // namespace tortuga
