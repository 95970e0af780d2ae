// The migration's bandwidth cap (token_bucket.h), on made-up time.
#include <gtest/gtest.h>

#include "migration/token_bucket.h"

namespace tortuga {
namespace {

using namespace std::chrono_literals;
using Clock = TokenBucket::Clock;

TEST(TokenBucket, NoRateNeverWaits) {
  Clock::time_point t0{};
  TokenBucket b(0, 0, t0);
  EXPECT_EQ(b.take(1ULL << 40, t0), 0ns);
}

TEST(TokenBucket, TheBurstGoesAtOnceThenTheRate) {
  Clock::time_point t0{};
  TokenBucket b(1000, 500, t0);  // 1000 bytes/s, 500 in the bucket
  EXPECT_EQ(b.take(500, t0), 0ns);
  EXPECT_EQ(b.take(1000, t0), 1s);  // in debt: one second to wait it off
  // Waited off: the next 100 bytes wait their own 0.1 s.
  EXPECT_EQ(b.take(100, t0 + 1s), 100ms);
}

TEST(TokenBucket, IdleTimeFillsOnlyUpToTheBurst) {
  Clock::time_point t0{};
  TokenBucket b(1000, 500, t0);
  EXPECT_EQ(b.take(500, t0), 0ns);
  // An hour idle still leaves only 500 bytes in the bucket.
  EXPECT_EQ(b.take(500, t0 + 3600s), 0ns);
  EXPECT_EQ(b.take(250, t0 + 3600s), 250ms);
}

TEST(TokenBucket, TheAverageRateHolds) {
  Clock::time_point now{};
  TokenBucket b(1 << 20, 64 << 10, now);
  uint64_t sent = 0;
  // 100 writes of 100 KiB, each after waiting what the bucket says.
  for (int i = 0; i < 100; ++i) {
    now += b.take(100 << 10, now);
    sent += 100 << 10;
  }
  double seconds = std::chrono::duration<double>(now - Clock::time_point{}).count();
  // 10000 KiB at 1024 KiB/s, less the first 64 KiB of burst.
  EXPECT_NEAR(seconds, (10000.0 - 64) / 1024, 0.01);
  EXPECT_EQ(sent, 100u * (100 << 10));
}

}  // namespace
}  // namespace tortuga
