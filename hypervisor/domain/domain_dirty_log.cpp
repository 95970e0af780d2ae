// Dirty logging of a domain's RAM for live migration's pre-copy rounds
// (ABI.md 21): KVM logs the guest's writes to the RAM slot, the VMM marks
// its own (dirty_pages.h), and the frames the VMM shares with the guest
// are counted dirty in every round, since the VMM changes them without
// any marking (event bits, time records, ring indices).
#include "domain/domain.h"

namespace tortuga {
namespace {

constexpr uint32_t kRamSlot = 0;  // domain.cpp's

}  // namespace

void Domain::start_dirty_log() {
  if (!dirty_) dirty_ = std::make_unique<DirtyPages>(memory_->ram_pages());
  dirty_->take();  // a new log starts empty
  memory_->attach_dirty_pages(dirty_.get());
  vm_.set_dirty_logging(kRamSlot, 0, memory_->ram_base(), memory_->ram_size(), true);
}

// The set stays allocated: a thread that read the pointer just before it
// was withdrawn may still mark it.
void Domain::stop_dirty_log() {
  if (!dirty_) return;
  vm_.set_dirty_logging(kRamSlot, 0, memory_->ram_base(), memory_->ram_size(), false);
  memory_->attach_dirty_pages(nullptr);
}

std::vector<uint64_t> Domain::take_dirty_pages() {
  if (!dirty_) throw std::logic_error("take_dirty_pages without start_dirty_log");
  std::vector<uint64_t> bitmap(DirtyPages::bitmap_words(memory_->ram_pages()));
  vm_.get_dirty_log(kRamSlot, bitmap);
  dirty_->merge_kvm_log(bitmap);
  {
    std::lock_guard lock(mmu_->frame_lock());
    const FrameTable& frames = mmu_->frames();
    for (uint64_t gfn = 0; gfn < frames.nr_frames(); ++gfn) {
      if (frames.at(gfn).type == PageType::kVmm) dirty_->mark(gfn);
    }
  }
  return dirty_->take();
}

}  // namespace tortuga
