#include "migration/token_bucket.h"

#include <algorithm>

namespace tortuga {

TokenBucket::TokenBucket(uint64_t bytes_per_s, uint64_t burst_bytes, Clock::time_point now)
    : rate_(static_cast<double>(bytes_per_s)),
      burst_(static_cast<double>(burst_bytes)),
      tokens_(static_cast<double>(burst_bytes)),
      last_(now) {}

std::chrono::nanoseconds TokenBucket::take(uint64_t bytes, Clock::time_point now) {
  if (rate_ <= 0) return std::chrono::nanoseconds(0);
  if (now > last_) {
    double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
    last_ = now;
  }
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return std::chrono::nanoseconds(0);
  // The debt is paid by waiting; the time is counted at the next take.
  return std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / rate_ * 1e9));
}

}  // namespace tortuga
