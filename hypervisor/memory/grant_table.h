// The grant table of one domain (ABI.md 12): v1 entries in guest frames the
// guest hands over with setup_table, and every use of a grant by the VMM's
// backends (GrantAccess) or by the guest's own map/copy calls.
//
// What it enforces, at every use: the entry permits access to the user
// (domid), a read-only grant is never written, unknown flag bits refuse the
// entry, the frame is domain RAM and ordinary memory (not a page table, not
// a VMM frame), and while a use lasts the entry carries TG_GTF_reading /
// TG_GTF_writing (so the guest's compare-and-exchange revoke fails, "busy")
// and the frame cannot be retyped or released (PvMmu::hold_for_io).
//
// Thread-safety: everything runs under the PV MMU's frame lock, which
// hypercalls that change page tables also hold, so a frame's type cannot
// change between the check and the use. The entries themselves live in
// guest memory the guest writes concurrently: the flags word is only ever
// changed with atomic compare-and-exchange, the other fields read once.
//
// Dirty pages: the VMM's own writes to guest memory are not dirty-logged by
// KVM. Every page written through a grant is reported to the dirty hook
// (live migration, issue 8, adds these to its dirty set); dirty_pages()
// counts them meanwhile.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <tortuga/grant_table.h>

#include "grant_access.h"
#include "memory/guest_memory.h"
#include "mmu/pv_mmu.h"

namespace tortuga {

// What a save records of the grant table (README.md, "Saving a
// component"): its frames and the guest's own map_grant_ref mappings (the
// entries themselves are in guest memory).
struct GrantTableState {
  struct Map {
    uint32_t handle = 0, ref = 0;
    uint64_t host_addr = 0, gfn = 0;
    bool readonly = false;
  };
  std::vector<uint64_t> frames;
  std::vector<Map> maps;
};

class GrantTable final : public GrantAccess {
 public:
  using DirtyHook = std::function<void(uint64_t gfn)>;

  GrantTable(const GuestMemory& memory, PvMmu& mmu);

  // setup_table with the frame lock held: 0 or a negative TG_E* (ABI.md 12.3).
  int setup(std::span<const uint64_t> gfns);
  uint32_t nr_frames() const;
  uint32_t nr_entries() const { return nr_frames() * TG_GRANT_ENTRIES_PER_FRAME; }

  // Backends (any thread): takes the frame lock itself.
  GrantUse use(uint16_t user, uint32_t ref, bool write) override;

  // The guest's map_grant_ref bookkeeping (frame lock held by the caller):
  // starts a use that lasts until unmap. 0 with the gfn and a handle.
  int map(uint32_t ref, bool readonly, uint64_t host_addr, uint64_t* gfn, uint32_t* handle);
  struct Mapping {
    uint64_t host_addr = 0;
    uint64_t gfn = 0;
    bool readonly = false;
  };
  // Ends the map made with handle if host_addr matches it: 0 or -EINVAL.
  int unmap(uint32_t handle, uint64_t host_addr, Mapping* was);
  // The mapping behind a handle, or nullptr.
  const Mapping* mapping(uint32_t handle) const;

  // The VMM wrote a page of the guest's own (grant copy to a gfn).
  void page_written(uint64_t gfn);

  // Save and restore (ABI.md 21), with the frame lock held. Backends hold
  // no grant at a save. restore() runs on a new table, checks everything
  // as setup() and map() would, and throws std::invalid_argument naming
  // the first problem.
  GrantTableState save() const;
  bool in_use_by_backends() const;
  void restore(const GrantTableState& state);
  // The mappings alone, for a restore that takes the frames first and the
  // mappings once page types are restored (they need RAM that is no page
  // table).
  void restore_maps(const std::vector<GrantTableState::Map>& maps);

  void set_dirty_hook(DirtyHook hook) { dirty_hook_ = std::move(hook); }
  uint64_t dirty_pages() const { return dirty_pages_.load(std::memory_order_relaxed); }

 protected:
  void end(uint32_t ref, uint64_t gfn, bool write) override;

 private:
  // The in-use bit is set in the entry while the VMM's count for it is
  // nonzero; uses by several requests at once share it.
  struct Active {
    uint16_t readers = 0, writers = 0;
  };
  struct MapSlot {
    bool used = false;
    uint32_t ref = 0;
    Mapping m;
  };
  tg_grant_entry_v1* entry(uint32_t ref) const;
  // ABI.md 12.2 step 2 with the frame lock held.
  GrantUse use_locked(uint16_t user, uint32_t ref, bool write);
  int claim_entry(tg_grant_entry_v1& e, uint16_t user, bool write);
  void end_locked(uint32_t ref, uint64_t gfn, bool write);

  const GuestMemory& memory_;
  PvMmu& mmu_;
  std::vector<uint64_t> frames_;
  std::vector<Active> active_;
  std::vector<MapSlot> maps_;
  DirtyHook dirty_hook_;
  std::atomic<uint64_t> dirty_pages_{0};
};

}  // namespace tortuga
