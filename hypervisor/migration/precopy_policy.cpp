#include "migration/precopy_policy.h"

#include <cmath>

namespace tortuga {
namespace {

// Before anything was measured (or a round too short to time): a rate
// that makes a small dirty set look cheap and a large one not.
constexpr double kUnmeasuredBytesPerS = 100.0 * (1 << 20);

}  // namespace

const char* precopy_decision_name(PrecopyDecision d) {
  switch (d) {
    case PrecopyDecision::kAnotherRound: return "another round";
    case PrecopyDecision::kConverged: return "converged";
    case PrecopyDecision::kMaxRounds: return "max rounds reached";
    case PrecopyDecision::kNotConverging: return "not converging";
  }
  return "?";
}

PrecopyLimits PrecopyLimits::from_request(uint32_t max_rounds, uint64_t max_downtime_ms) {
  PrecopyLimits l;
  if (max_rounds != 0) l.max_rounds = max_rounds;
  if (max_downtime_ms != 0) l.max_downtime_ms = max_downtime_ms;
  return l;
}

double PrecopyPolicy::link_bytes_per_s() const {
  if (total_seconds_ < 1e-4 || total_bytes_ == 0) return kUnmeasuredBytesPerS;
  return static_cast<double>(total_bytes_) / total_seconds_;
}

uint64_t PrecopyPolicy::estimated_downtime_ms(uint64_t dirty_pages) const {
  double seconds = static_cast<double>(dirty_pages) * kWireBytesPerPage / link_bytes_per_s();
  return static_cast<uint64_t>(std::ceil(seconds * 1000.0));
}

PrecopyDecision PrecopyPolicy::after_round(uint64_t bytes_sent, double send_seconds, uint64_t dirty_pages) {
  ++rounds_;
  total_bytes_ += bytes_sent;
  total_seconds_ += send_seconds > 0 ? send_seconds : 0;
  if (estimated_downtime_ms(dirty_pages) <= limits_.max_downtime_ms) return PrecopyDecision::kConverged;
  if (rounds_ >= limits_.max_rounds) return PrecopyDecision::kMaxRounds;
  if (static_cast<double>(dirty_pages) <= kProgressShare * static_cast<double>(smallest_dirty_)) {
    stalled_ = 0;
  } else if (++stalled_ >= kStallRounds) {
    return PrecopyDecision::kNotConverging;
  }
  if (dirty_pages < smallest_dirty_) smallest_dirty_ = dirty_pages;
  return PrecopyDecision::kAnotherRound;
}

}  // namespace tortuga
