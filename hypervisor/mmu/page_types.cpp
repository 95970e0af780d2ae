#include "mmu/page_types.h"

#include <limits>

#include <tortuga/errno.h>

#include "mmu/page_table_bits.h"

namespace tortuga {
namespace {

constexpr uint32_t kMaxCount = std::numeric_limits<uint32_t>::max();

uint64_t entry_gfn(uint64_t entry) { return (entry & TG_PTE_FRAME) >> 12; }

}  // namespace

FrameTable::FrameTable(uint64_t nr_frames, const EntryReader& reader, uint64_t first_doorbell_gfn,
                       uint64_t nr_doorbell_pages)
    : frames_(nr_frames), reader_(reader), first_doorbell_(first_doorbell_gfn), nr_doorbells_(nr_doorbell_pages) {}

PageTypesState FrameTable::save() const {
  PageTypesState s;
  for (uint64_t gfn = 0; gfn < frames_.size(); ++gfn) {
    const FrameInfo& f = frames_[gfn];
    if (f.absent) s.absent.push_back(gfn);
    if (f.pinned) s.pins.emplace_back(gfn, table_level(f.type));
    if (f.type != PageType::kWritable) s.typed.emplace_back(gfn, f.type);
  }
  return s;
}

int FrameTable::get_type(uint64_t gfn, unsigned level) {
  if (!is_ram(gfn)) return -TG_EPERM;
  FrameInfo& f = frames_[gfn];
  // A frame whose own entries are being checked is reachable from itself:
  // a recursive table, which typing at one level at a time forbids.
  if (f.validating) return -TG_EINVAL;
  if (f.type == table_type(level)) {
    if (f.type_refs == kMaxCount) return -TG_EBUSY;
    ++f.type_refs;
    return 0;
  }
  if (f.type == PageType::kVmm) return -TG_EBUSY;
  if (f.type != PageType::kWritable) return -TG_EINVAL;
  if (f.writable_mappings != 0 || f.io_refs != 0) return -TG_EBUSY;
  if (f.writable_dropped_epoch == epoch_ || f.table_dropped_epoch == epoch_) flush_needed_ = true;
  f.type = table_type(level);  // so that its entries cannot map it writable
  f.validating = true;
  ++typing_depth_;
  int err = validate_table(gfn, level);
  --typing_depth_;
  f.validating = false;
  if (err != 0) {
    f.type = PageType::kWritable;
    if (typing_depth_ == 0) rewrites_.clear();  // the whole typing failed: nothing to write
    return err;
  }
  f.type_refs = 1;
  return 0;
}

void FrameTable::put_type(uint64_t gfn) {
  FrameInfo& f = frames_.at(gfn);
  if (--f.type_refs != 0) return;
  unsigned level = table_level(f.type);
  put_table_entries(gfn, level, TG_PT_ENTRIES);
  f.type = PageType::kWritable;
  f.pinned = false;
  f.table_dropped_epoch = epoch_;
}

int FrameTable::validate_table(uint64_t gfn, unsigned level) {
  for (unsigned i = 0; i < TG_PT_ENTRIES; ++i) {
    if (level == 4 && is_reserved_l4_slot(i)) continue;
    uint64_t at = (gfn << 12) + 8 * i;
    uint64_t entry = reader_.read_entry(at);
    if (!(entry & TG_PTE_P)) continue;
    if (int err = get_entry_refs(entry, level); err != 0) {
      put_table_entries(gfn, level, i);  // all or nothing
      return err;
    }
    if (stored_form(entry) != entry) rewrites_.emplace_back(at, stored_form(entry));
  }
  return 0;
}

void FrameTable::put_table_entries(uint64_t gfn, unsigned level, unsigned upto) {
  for (unsigned i = 0; i < upto; ++i) {
    if (level == 4 && is_reserved_l4_slot(i)) continue;
    uint64_t entry = reader_.read_entry((gfn << 12) + 8 * i);
    if (entry & TG_PTE_P) put_entry_refs(entry, level);
  }
}

int FrameTable::get_entry_refs(uint64_t entry, unsigned level) {
  uint64_t allowed = level == 1 ? TG_PTE_L1_ALLOWED : TG_PTE_UPPER_ALLOWED;
  if (entry & ~allowed) return -TG_EINVAL;
  if (level == 1) return get_mapping(entry_gfn(entry), entry & TG_PTE_RW);
  return get_type(entry_gfn(entry), level - 1);
}

void FrameTable::put_entry_refs(uint64_t entry, unsigned level) {
  if (level == 1) {
    put_mapping(entry_gfn(entry), entry & TG_PTE_RW);
  } else {
    put_type(entry_gfn(entry));
  }
}

int FrameTable::get_mapping(uint64_t gfn, bool writable) {
  if (is_doorbell(gfn)) return 0;
  if (!is_ram(gfn)) return -TG_EPERM;
  FrameInfo& f = frames_[gfn];
  if (writable && is_table(f.type)) return -TG_EPERM;
  if (f.mappings == kMaxCount) return -TG_EBUSY;
  if (writable && f.table_dropped_epoch == epoch_) flush_needed_ = true;
  ++f.mappings;
  if (writable) ++f.writable_mappings;
  return 0;
}

void FrameTable::put_mapping(uint64_t gfn, bool writable) {
  if (is_doorbell(gfn)) return;
  FrameInfo& f = frames_.at(gfn);
  --f.mappings;
  if (writable) {
    --f.writable_mappings;
    f.writable_dropped_epoch = epoch_;
  }
}

}  // namespace tortuga
