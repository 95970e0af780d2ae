// The host's clocks in nanoseconds: CLOCK_MONOTONIC (system time's base,
// ABI.md 6.1) and CLOCK_REALTIME (the wall clock; the gap across a save).
#pragma once

#include <cstdint>
#include <ctime>

namespace tortuga {

inline uint64_t host_clock_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace tortuga
