// The pvclock scale: ns = ((tsc_delta << shift) * mul) >> 32 (right shift
// when shift < 0), the encoding of <tortuga/shared_info.h> time records.
#pragma once

#include <cstdint>

namespace tortuga {

struct PvclockScale {
  uint32_t mul = 0;
  int8_t shift = 0;
};

// The scale that turns ticks of a tsc_hz clock into nanoseconds, with mul
// in [2^31, 2^32) for the best precision.
PvclockScale pvclock_scale(uint64_t tsc_hz);

// Applies a scale, as the guest does.
uint64_t pvclock_scale_delta(uint64_t delta, PvclockScale scale);

}  // namespace tortuga
