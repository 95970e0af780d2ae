// x86-64 page-table entry bits (4-level paging).
#pragma once

#include <cstdint>

namespace tortuga::pte {

constexpr uint64_t kPresent = 1ULL << 0;
constexpr uint64_t kWritable = 1ULL << 1;
constexpr uint64_t kUser = 1ULL << 2;
constexpr uint64_t kAccessed = 1ULL << 5;
constexpr uint64_t kDirty = 1ULL << 6;
constexpr uint64_t kLarge = 1ULL << 7;  // PS: 1 GiB at L3, 2 MiB at L2
constexpr uint64_t kGlobal = 1ULL << 8;
constexpr uint64_t kNoExecute = 1ULL << 63;
constexpr uint64_t kFrameMask = 0x000ffffffffff000ULL;

constexpr unsigned index(uint64_t va, unsigned level) {  // level 4 = top
  return static_cast<unsigned>((va >> (12 + 9 * (level - 1))) & 511);
}

constexpr bool is_canonical(uint64_t va) {
  uint64_t top = va >> 47;
  return top == 0 || top == 0x1ffff;
}

}  // namespace tortuga::pte
