// How many items each batching hypercall carried, in power-of-two buckets
// (0, 1, 2-3, 4-7, ..., 2048-4095, 4096): the shape of the guest's batching,
// which a plain per-call average hides (issue 15).
#pragma once

#include <bit>
#include <cstdint>
#include <string>

namespace tortuga {

struct BatchHistogram {
  // Bucket i holds the calls of n items with bit_width(n) == i: bucket 0 is
  // empty calls, 1 is one item, 2 is 2-3, ..., 12 is 2048-4095 and 13 is
  // 4096 (TG_MMU_UPDATE_MAX, the largest batch the ABI allows; callers
  // record only counts the ABI accepts, and anything larger would land
  // there too).
  static constexpr unsigned kBuckets = 14;
  static constexpr uint64_t kLargest = uint64_t{1} << (kBuckets - 2);  // 4096
  uint64_t calls[kBuckets] = {};

  static constexpr unsigned bucket(uint64_t items) {
    unsigned b = static_cast<unsigned>(std::bit_width(items));
    return b < kBuckets ? b : kBuckets - 1;
  }
  // The smallest and largest item count bucket b holds.
  static constexpr uint64_t bucket_min(unsigned b) { return b == 0 ? 0 : uint64_t{1} << (b - 1); }
  static constexpr uint64_t bucket_max(unsigned b) {
    return b == 0 ? 0 : b == kBuckets - 1 ? kLargest : (uint64_t{1} << b) - 1;
  }

  void record(uint64_t items) { ++calls[bucket(items)]; }
  void add(const BatchHistogram& o) {
    for (unsigned b = 0; b < kBuckets; ++b) calls[b] += o.calls[b];
  }
  uint64_t total() const {
    uint64_t n = 0;
    for (uint64_t c : calls) n += c;
    return n;
  }
  // "1:120 2-3:4 512-1023:2": the non-empty buckets on one line.
  std::string format() const;
};

}  // namespace tortuga
