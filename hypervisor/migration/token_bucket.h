// The bandwidth cap of a live migration (MigrateSend.bandwidth_mib_s): a
// token bucket that fills at the rate, holds at most `burst` bytes, and
// lets a sender go into debt for one large write, which it then waits off.
// Time comes from the caller, so the tests need no clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace tortuga {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  // bytes_per_s 0: no limit (take always answers 0).
  TokenBucket(uint64_t bytes_per_s, uint64_t burst_bytes, Clock::time_point now);

  // Takes `bytes` at `now`; returns how long to wait before sending them.
  std::chrono::nanoseconds take(uint64_t bytes, Clock::time_point now);

 private:
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_;
};

}  // namespace tortuga
