// The set of guest frames written since it was last taken: what each
// pre-copy round of a live migration sends (ABI.md 21). KVM logs what the
// guest writes (KVM_GET_DIRTY_LOG, merged in with merge_kvm_log); it does
// not see the VMM's own writes from user space (PLATFORM.md), so every
// such write is marked here too: hypercall results and bounce frames
// (GuestAddressSpace::copy_to), pages a grant let a backend or a grant
// copy write (GrantTable::page_written), released frames
// (GuestMemory::discard). Frames the VMM shares with the guest (shared
// info, rings, grant table frames) change all the time and are sent in
// every round by the domain (Domain::take_dirty_pages).
//
// Thread-safe and lock-free for marking: vCPU, backend and timer threads
// mark concurrently with a taker.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace tortuga {

class DirtyPages {
 public:
  explicit DirtyPages(uint64_t nr_frames);

  uint64_t nr_frames() const { return nr_frames_; }
  // Frames outside the domain are ignored (a write the VMM refused).
  void mark(uint64_t gfn);
  void mark_range(uint64_t gpa, uint64_t len);
  // ORs in a KVM dirty bitmap (bit n of word w = frame 64 w + n).
  void merge_kvm_log(std::span<const uint64_t> bitmap);
  // The marked frames in ascending order; the set is empty afterwards.
  std::vector<uint64_t> take();
  uint64_t count() const;
  // Words of a bitmap covering every frame (KVM_GET_DIRTY_LOG's size).
  static size_t bitmap_words(uint64_t nr_frames) { return (nr_frames + 63) / 64; }

 private:
  uint64_t nr_frames_;
  std::unique_ptr<std::atomic<uint64_t>[]> words_;
};

}  // namespace tortuga
