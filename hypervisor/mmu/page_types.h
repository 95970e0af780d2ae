// Page types and reference counts for every frame of a domain's RAM
// (ABI.md 8.2-8.4), in the spirit of Xen's: a frame is writable memory, a
// validated page table of exactly one level, or memory the VMM shares with
// the guest. The invariants this class keeps:
//   - a frame typed as a page table has no writable mapping in any typed
//     L1, and a frame with a writable mapping is never typed;
//   - every present entry of a typed table refers to domain RAM (and, above
//     L1, to a table of the next level down);
//   - type_refs, mappings and writable_mappings equal a recount over the
//     typed tables (check_invariants() in pv_mmu.h does that recount).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <tortuga/cpu.h>
#include <tortuga/memory.h>

namespace tortuga {

enum class PageType : uint8_t {
  kWritable = TG_PGT_WRITABLE,
  kL1 = TG_PGT_L1,
  kL2 = TG_PGT_L2,
  kL3 = TG_PGT_L3,
  kL4 = TG_PGT_L4,
  kVmm = TG_PGT_VMM,
};

constexpr PageType table_type(unsigned level) { return static_cast<PageType>(level); }
constexpr bool is_table(PageType t) { return t >= PageType::kL1 && t <= PageType::kL4; }
constexpr unsigned table_level(PageType t) { return static_cast<unsigned>(t); }

struct FrameInfo {
  PageType type = PageType::kWritable;
  bool pinned = false;
  bool absent = false;             // released by decrease_reservation: not domain RAM
  bool validating = false;         // its entries are being checked right now
  uint16_t base_pointer_refs = 0;  // vCPUs using this L4 as a base pointer
  uint32_t type_refs = 0;          // the pin, plus present entries of typed tables one level up
  uint32_t mappings = 0;           // present entries of typed L1s that map this frame
  uint32_t writable_mappings = 0;
  // Uses of the frame through a grant (a backend's I/O, a grant copy or
  // map): while nonzero the frame cannot become a page table or be released.
  uint32_t io_refs = 0;
  // Equal to the frame table's epoch while a TLB may still hold a writable
  // mapping dropped since the last full flush / walk through it as a table.
  uint32_t writable_dropped_epoch = 0;
  uint32_t table_dropped_epoch = 0;
};

// What a save records of the frame table (README.md, "Saving a component").
// A restore does not copy it back: Domain::restore_page_types derives the
// types again by pinning the same tables, and checks they come out so.
struct PageTypesState {
  std::vector<std::pair<uint64_t, unsigned>> pins;  // gfn, level
  std::vector<uint64_t> absent;
  std::vector<std::pair<uint64_t, PageType>> typed;  // every frame not writable
};

// Reads the current value of a page-table entry (guest RAM plus pending writes).
class EntryReader {
 public:
  virtual ~EntryReader() = default;
  virtual uint64_t read_entry(uint64_t gpa) const = 0;
};

// What the VMM stores for a present entry: US set (guest kernel and user
// both run at CPL3 and are kept apart by page tables, not by US), G clear
// (no kernel translation may survive the switch to a user page table).
constexpr uint64_t stored_form(uint64_t entry) { return (entry & TG_PTE_P) ? (entry | TG_PTE_US) & ~TG_PTE_G : entry; }

// True for the L4 slots the VMM owns (256-271): never validated, never counted.
constexpr bool is_reserved_l4_slot(unsigned index) {
  return index >= TG_RESERVED_L4_FIRST && index <= TG_RESERVED_L4_LAST;
}

class FrameTable {
 public:
  FrameTable(uint64_t nr_frames, const EntryReader& reader, uint64_t first_doorbell_gfn = 0,
             uint64_t nr_doorbell_pages = 0);

  uint64_t nr_frames() const { return frames_.size(); }
  // The pins, released frames and types, with the frame lock held.
  PageTypesState save() const;
  // Domain RAM: inside the domain and populated.
  bool is_ram(uint64_t gfn) const { return gfn < frames_.size() && !frames_[gfn].absent; }
  // A doorbell page: L1 entries may map it (writable too); it has no type.
  bool is_doorbell(uint64_t gfn) const { return gfn - first_doorbell_ < nr_doorbells_; }
  FrameInfo& at(uint64_t gfn) { return frames_.at(gfn); }
  const FrameInfo& at(uint64_t gfn) const { return frames_.at(gfn); }

  // Gives gfn type L<level> (validating all its entries the first time) or
  // adds a reference to that type. 0 or a negative TG_E* code; on error
  // nothing changed.
  int get_type(uint64_t gfn, unsigned level);
  // Drops one type reference; at zero the frame becomes writable and drops
  // the references its own entries held.
  void put_type(uint64_t gfn);

  // Checks a present entry of a level-<level> table (ABI.md 8.4) and takes
  // the reference it implies; the inverse below.
  int get_entry_refs(uint64_t entry, unsigned level);
  void put_entry_refs(uint64_t entry, unsigned level);

  // TLB hygiene. A TLB may keep a writable mapping after its entry is gone,
  // and paging-structure caches may keep walking a frame that stopped being
  // a table. So a frame that lost a writable mapping must not become a
  // table, and a frame that stopped being a table must not become one again
  // or be mapped writable, until a full flush has run: flush_needed() says
  // the VMM must put one in the batch (before the guest runs again).
  bool flush_needed() const { return flush_needed_; }
  // Entries of tables typed by the last successful get_type that must be
  // rewritten in their stored form (stored_form() differs from what the
  // guest wrote while the frame was ordinary memory). The caller writes
  // them; they are discarded when the typing fails (all or nothing).
  std::vector<std::pair<uint64_t, uint64_t>> take_rewrites() { return std::exchange(rewrites_, {}); }
  // A paging-structure cache may still walk gfn as the table it was.
  bool table_maybe_cached(uint64_t gfn) const { return frames_.at(gfn).table_dropped_epoch == epoch_; }
  // A TLB may still hold a mapping of gfn, or walk through it.
  bool maybe_cached(uint64_t gfn) const {
    const FrameInfo& f = frames_.at(gfn);
    return f.writable_dropped_epoch == epoch_ || f.table_dropped_epoch == epoch_;
  }
  void flushed() {
    ++epoch_;
    flush_needed_ = false;
  }

 private:
  int get_mapping(uint64_t gfn, bool writable);
  void put_mapping(uint64_t gfn, bool writable);
  int validate_table(uint64_t gfn, unsigned level);
  void put_table_entries(uint64_t gfn, unsigned level, unsigned upto);

  std::vector<FrameInfo> frames_;
  std::vector<std::pair<uint64_t, uint64_t>> rewrites_;  // (entry gpa, stored form)
  unsigned typing_depth_ = 0;
  const EntryReader& reader_;
  uint64_t first_doorbell_, nr_doorbells_;
  uint32_t epoch_ = 1;
  bool flush_needed_ = false;
};

}  // namespace tortuga
