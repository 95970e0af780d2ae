// The PV MMU of one domain (ABI.md 8): every page-table change the guest
// asks for is validated here against the frame table, turned into writes
// and flushes in the calling vCPU's ApplyProgram, and recorded as pending
// until that program has run. Nothing here writes guest RAM that the CPU
// may use as a page table (except before the domain first runs).
//
// Not thread-safe: the domain has one vCPU in v1. With several vCPUs the
// operations need the domain's MMU lock, pending writes must be tagged by
// the vCPU whose routine applies them, remote TLBs must be flushed before
// a stale frame is retyped, and CLEAR_BITS/PRESERVE_AD must be applied with
// `lock cmpxchg` (today the VMM reads A and D exactly, because the only CPU
// that could set them is stopped in this exit).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include <tortuga/memory.h>

#include "mmu/apply_program.h"
#include "memory/guest_memory.h"
#include "mmu/page_types.h"
#include "mmu/pending_writes.h"

namespace tortuga {

class PvMmu : private EntryReader {
 public:
  // Doorbell frames [first_doorbell_gfn, + nr_doorbell_pages) may be
  // mapped by L1 entries and nothing else (ABI.md 9.6).
  PvMmu(const GuestMemory& memory, uint32_t nr_vcpus, uint64_t first_doorbell_gfn = 0, uint64_t nr_doorbell_pages = 0);
  PvMmu(const PvMmu&) = delete;
  PvMmu& operator=(const PvMmu&) = delete;

  // Start of day: frames the VMM shares with the guest, and the bootstrap
  // L4, pinned (its tables typed) and made vCPU 0's kernel base pointer.
  void set_vmm_frame(uint64_t gfn);
  void adopt_boot_tables(uint64_t l4_gfn, ApplyProgram& program);

  // One mmu_update request (ptr with its type in the low bits). For
  // CLEAR_BITS, *previous receives the entry's value before the request.
  int update(uint64_t ptr, uint64_t val, ApplyProgram& program, uint64_t* previous = nullptr);
  // update_va_mapping: the L1 entry that maps va under the L4 at l4_gpa,
  // or -ENOENT when the walk stops above L1.
  int l1_entry_for(uint64_t l4_gpa, uint64_t va, uint64_t* entry_gpa) const;

  int pin(uint64_t gfn, unsigned level, ApplyProgram& program);
  int unpin(uint64_t gfn);
  // Base pointers: gfn must be a pinned L4 (user: or 0 for none).
  int set_kernel_base(uint32_t vcpu, uint64_t gfn);
  int set_user_base(uint32_t vcpu, uint64_t gfn);
  uint64_t kernel_base(uint32_t vcpu) const { return kernel_base_.at(vcpu); }
  uint64_t user_base(uint32_t vcpu) const { return user_base_.at(vcpu); }
  // The guest flushed (or the VMM did): stale frames are safe again.
  void full_flush_requested(ApplyProgram& program);

  // Memory reservation (ABI.md 13). Return false when the frame cannot be.
  bool release(uint64_t gfn, ApplyProgram& program);
  bool populate(uint64_t gfn);
  // Read by the control channel while vCPUs balloon.
  uint64_t populated_frames() const { return populated_.load(std::memory_order_relaxed); }
  uint64_t maximum_frames() const { return frames_.nr_frames(); }

  // Grants (grant_table.cpp). The frame lock serialises page-type changes
  // (hypercalls that change page tables hold it) with the backends'
  // threads, which hold a frame for I/O: a frame held for I/O must be
  // ordinary domain RAM and stays so until released. 0, -EPERM (not RAM,
  // a page table or a VMM frame) or -EBUSY (a count would overflow).
  std::mutex& frame_lock() { return frame_lock_; }
  int hold_for_io(uint64_t gfn);
  void release_io(uint64_t gfn);
  // A frame the guest hands to the VMM (a grant table frame): ordinary RAM
  // not held for I/O. 0, -EPERM (not RAM) or -EBUSY (a table, VMM, held).
  int take_vmm_frame(uint64_t gfn);
  // The current value of a page-table entry (pending writes included).
  uint64_t current_entry(uint64_t gpa) const { return read_entry(gpa); }

  // The program that held the pending writes has run: RAM is current.
  void applied() { pending_.clear(); }
  const PendingWrites& pending() const { return pending_; }
  const FrameTable& frames() const { return frames_; }
  bool is_ram(uint64_t gfn) const { return frames_.is_ram(gfn); }

  // Recounts every reference from the typed tables and checks the
  // invariants of page_types.h. Empty when they hold, else what broke.
  // Costs a walk of every typed table: for tests and fuzzing.
  std::string check_invariants() const;

 private:
  uint64_t read_entry(uint64_t gpa) const override;
  void write_entry(uint64_t gpa, uint64_t value, ApplyProgram& program);
  void flush_if_needed(ApplyProgram& program);
  void write_rewrites(ApplyProgram& program);
  void install_reserved_slots(uint64_t l4_gfn, ApplyProgram& program);
  bool is_pinned_l4(uint64_t gfn) const;
  void move_base_pointer(uint64_t& base, uint64_t gfn);

  const GuestMemory& memory_;
  FrameTable frames_;
  PendingWrites pending_;
  std::vector<uint64_t> kernel_base_, user_base_;
  std::atomic<uint64_t> populated_;
  std::mutex frame_lock_;
};

}  // namespace tortuga
