#include "events/pvclock.h"

#include <stdexcept>

namespace tortuga {

PvclockScale pvclock_scale(uint64_t tsc_hz) {
  if (tsc_hz == 0) throw std::invalid_argument("TSC frequency is 0");
  for (int shift = -31; shift <= 31; ++shift) {
    // mul = 1e9 * 2^(32 - shift) / tsc_hz
    unsigned __int128 num = static_cast<unsigned __int128>(1'000'000'000ULL) << 32;
    num = shift >= 0 ? num >> shift : num << -shift;
    unsigned __int128 mul = num / tsc_hz;
    if (mul >= (1ULL << 31) && mul < (1ULL << 32)) {
      return {static_cast<uint32_t>(mul), static_cast<int8_t>(shift)};
    }
  }
  throw std::invalid_argument("TSC frequency out of range");
}

uint64_t pvclock_scale_delta(uint64_t delta, PvclockScale scale) {
  delta = scale.shift >= 0 ? delta << scale.shift : delta >> -scale.shift;
  return static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * scale.mul) >> 32);
}

}  // namespace tortuga
