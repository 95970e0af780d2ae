#include "vcpu/batch_histogram.h"

#include <fmt/format.h>

namespace tortuga {

std::string BatchHistogram::format() const {
  std::string out;
  for (unsigned b = 0; b < kBuckets; ++b) {
    if (calls[b] == 0) continue;
    if (!out.empty()) out += ' ';
    uint64_t lo = bucket_min(b), hi = bucket_max(b);
    out += lo == hi ? fmt::format("{}:{}", lo, calls[b]) : fmt::format("{}-{}:{}", lo, hi, calls[b]);
  }
  return out;
}

}  // namespace tortuga
