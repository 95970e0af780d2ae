#include "memory/dirty_pages.h"

#include <bit>

namespace tortuga {

DirtyPages::DirtyPages(uint64_t nr_frames)
    : nr_frames_(nr_frames), words_(std::make_unique<std::atomic<uint64_t>[]>(bitmap_words(nr_frames))) {}

void DirtyPages::mark(uint64_t gfn) {
  if (gfn >= nr_frames_) return;
  words_[gfn / 64].fetch_or(1ULL << (gfn % 64), std::memory_order_relaxed);
}

void DirtyPages::mark_range(uint64_t gpa, uint64_t len) {
  if (len == 0) return;
  uint64_t last = (gpa + len - 1) >> 12;
  if (last < (gpa >> 12)) last = ~0ULL;  // wrapped: up to the end
  for (uint64_t gfn = gpa >> 12; gfn <= last && gfn < nr_frames_; ++gfn) mark(gfn);
}

void DirtyPages::merge_kvm_log(std::span<const uint64_t> bitmap) {
  size_t n = std::min(bitmap.size(), bitmap_words(nr_frames_));
  for (size_t w = 0; w < n; ++w) {
    uint64_t bits = bitmap[w];
    if (w == bitmap_words(nr_frames_) - 1 && nr_frames_ % 64 != 0) bits &= (1ULL << (nr_frames_ % 64)) - 1;
    if (bits != 0) words_[w].fetch_or(bits, std::memory_order_relaxed);
  }
}

std::vector<uint64_t> DirtyPages::take() {
  std::vector<uint64_t> out;
  for (size_t w = 0; w < bitmap_words(nr_frames_); ++w) {
    uint64_t bits = words_[w].exchange(0, std::memory_order_acq_rel);
    while (bits != 0) {
      out.push_back(64 * w + static_cast<uint64_t>(std::countr_zero(bits)));
      bits &= bits - 1;
    }
  }
  return out;
}

uint64_t DirtyPages::count() const {
  uint64_t n = 0;
  for (size_t w = 0; w < bitmap_words(nr_frames_); ++w) n += std::popcount(words_[w].load(std::memory_order_relaxed));
  return n;
}

}  // namespace tortuga
