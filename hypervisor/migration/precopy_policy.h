// When a live migration's pre-copy rounds stop (Clark et al.: iterate
// while it pays, then stop and copy). After each round the sender reports
// what it sent, how long that took, and how many pages are dirty now; the
// policy answers another round, or stop and copy because:
//   - the dirty set would go out within max_downtime_ms at the link rate
//     measured so far (converged), or
//   - max_rounds rounds were sent, or
//   - the dirty set stopped shrinking for kStallRounds rounds in a row (the
//     guest dirties memory as fast as the link drains it: more rounds only
//     cost time).
// Pure: no clock and no I/O, so the tests drive it with figures.
#pragma once

#include <cstdint>

namespace tortuga {

enum class PrecopyDecision { kAnotherRound, kConverged, kMaxRounds, kNotConverging };
const char* precopy_decision_name(PrecopyDecision d);

struct PrecopyLimits {
  uint32_t max_rounds = 30;
  uint64_t max_downtime_ms = 300;
  // The API's zeros mean the defaults above.
  static PrecopyLimits from_request(uint32_t max_rounds, uint64_t max_downtime_ms);
};

// A page on the wire: 4096 bytes and its gfn.
constexpr uint64_t kWireBytesPerPage = 4096 + 8;

class PrecopyPolicy {
 public:
  static constexpr uint32_t kStallRounds = 3;
  // A round counts as progress only if it leaves at most this share of the
  // smallest dirty set seen before.
  static constexpr double kProgressShare = 0.9;

  explicit PrecopyPolicy(PrecopyLimits limits) : limits_(limits) {}

  PrecopyDecision after_round(uint64_t bytes_sent, double send_seconds, uint64_t dirty_pages);
  // The stop-and-copy time for `dirty_pages` at the measured link rate.
  uint64_t estimated_downtime_ms(uint64_t dirty_pages) const;
  // Bytes per second over every round so far (a throttled link included).
  double link_bytes_per_s() const;
  uint32_t rounds() const { return rounds_; }

 private:
  PrecopyLimits limits_;
  uint32_t rounds_ = 0;
  uint64_t total_bytes_ = 0;
  double total_seconds_ = 0;
  uint64_t smallest_dirty_ = UINT64_MAX;
  uint32_t stalled_ = 0;
};

}  // namespace tortuga
