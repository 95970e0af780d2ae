#include "mmu/pv_mmu.h"

#include <cstdint>
#include <stdexcept>

#include <fmt/format.h>
#include <tortuga/cpu.h>
#include <tortuga/errno.h>

#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

constexpr uint64_t kNoBase = ~0ULL;
constexpr uint64_t kAccessedDirty = TG_PTE_A | TG_PTE_D;

uint64_t entry_gfn(uint64_t entry) { return (entry & TG_PTE_FRAME) >> 12; }

}  // namespace

PvMmu::PvMmu(const GuestMemory& memory, uint32_t nr_vcpus, uint64_t first_doorbell_gfn, uint64_t nr_doorbell_pages)
    : memory_(memory),
      frames_(memory.ram_pages(), *this, first_doorbell_gfn, nr_doorbell_pages),
      kernel_base_(nr_vcpus, kNoBase),
      user_base_(nr_vcpus, kNoBase),
      populated_(memory.ram_pages()) {}

uint64_t PvMmu::read_entry(uint64_t gpa) const {
  auto v = tortuga::read_entry(memory_, &pending_, gpa);
  if (!v) throw std::logic_error(fmt::format("page-table entry {:#x} is outside guest RAM", gpa));
  return *v;
}

void PvMmu::write_entry(uint64_t gpa, uint64_t value, ApplyProgram& program) {
  pending_.record(gpa, value);
  program.store(gpa, value);
}

void PvMmu::full_flush_requested(ApplyProgram& program) {
  program.flush_tlb();
  frames_.flushed();
}

void PvMmu::flush_if_needed(ApplyProgram& program) {
  if (frames_.flush_needed()) full_flush_requested(program);
}

void PvMmu::write_rewrites(ApplyProgram& program) {
  for (auto [gpa, value] : frames_.take_rewrites()) write_entry(gpa, value, program);
}

void PvMmu::set_vmm_frame(uint64_t gfn) {
  FrameInfo& f = frames_.at(gfn);
  if (f.type != PageType::kWritable || f.mappings != 0) throw std::logic_error("VMM frame already in use");
  f.type = PageType::kVmm;
}

int PvMmu::hold_for_io(uint64_t gfn) {
  if (!frames_.is_ram(gfn)) return -TG_EPERM;
  FrameInfo& f = frames_.at(gfn);
  if (f.type != PageType::kWritable) return -TG_EPERM;
  if (f.io_refs == UINT32_MAX) return -TG_EBUSY;
  ++f.io_refs;
  return 0;
}

void PvMmu::release_io(uint64_t gfn) {
  FrameInfo& f = frames_.at(gfn);
  if (f.io_refs == 0) throw std::logic_error("release_io without hold_for_io");
  --f.io_refs;
}

int PvMmu::take_vmm_frame(uint64_t gfn) {
  if (!frames_.is_ram(gfn)) return -TG_EPERM;
  FrameInfo& f = frames_.at(gfn);
  if (f.type != PageType::kWritable || f.io_refs != 0) return -TG_EBUSY;
  f.type = PageType::kVmm;
  return 0;
}

void PvMmu::adopt_boot_tables(uint64_t l4_gfn, ApplyProgram& program) {
  if (int err = pin(l4_gfn, 4, program); err != 0) {
    throw std::logic_error(fmt::format("the bootstrap page tables do not validate (error {})", err));
  }
  if (set_kernel_base(0, l4_gfn) != 0) throw std::logic_error("bootstrap L4 cannot be a base pointer");
}

int PvMmu::update(uint64_t ptr, uint64_t val, ApplyProgram& program, uint64_t* previous) {
  uint64_t kind = ptr & TG_MMU_REQ_TYPE_MASK;
  if (kind > TG_MMU_PT_CLEAR_BITS) return -TG_EINVAL;
  uint64_t gpa = ptr & ~TG_MMU_REQ_TYPE_MASK;
  uint64_t gfn = gpa >> 12;
  if (!frames_.is_ram(gfn)) return -TG_EPERM;
  const FrameInfo& f = frames_.at(gfn);
  if (f.type == PageType::kVmm) return -TG_EPERM;

  uint64_t old = read_entry(gpa);
  uint64_t next = val;
  if (kind == TG_MMU_PT_UPDATE_PRESERVE_AD) next = val | (old & kAccessedDirty);
  if (kind == TG_MMU_PT_CLEAR_BITS) next = old & ~val;
  if (previous != nullptr) *previous = old;

  if (!is_table(f.type)) {  // not a page table the CPU can use: written as is
    // ...unless a paging-structure cache may still walk it as the table it
    // was: then flush before the guest runs on.
    if (frames_.table_maybe_cached(gfn)) full_flush_requested(program);
    write_entry(gpa, next, program);
    return 0;
  }
  unsigned level = table_level(f.type);
  if (level == 4 && is_reserved_l4_slot(static_cast<unsigned>((gpa & 4095) / 8))) return -TG_EPERM;
  uint64_t stored = stored_form(next);
  // Take the new reference before dropping the old one, so that rewriting
  // an entry with the same target never drops a table's type in between.
  if (stored & TG_PTE_P) {
    if (int err = frames_.get_entry_refs(stored, level); err != 0) return err;
  }
  if (old & TG_PTE_P) frames_.put_entry_refs(old, level);
  write_rewrites(program);
  write_entry(gpa, stored, program);
  flush_if_needed(program);
  return 0;
}

int PvMmu::l1_entry_for(uint64_t l4_gpa, uint64_t va, uint64_t* entry_gpa) const {
  uint64_t table = l4_gpa & TG_PTE_FRAME;
  for (unsigned level = 4; level > 1; --level) {
    uint64_t e = read_entry(table + 8 * pte::index(va, level));
    if (!(e & TG_PTE_P)) return -TG_ENOENT;
    table = e & TG_PTE_FRAME;
  }
  *entry_gpa = table + 8 * pte::index(va, 1);
  return 0;
}

void PvMmu::install_reserved_slots(uint64_t l4_gfn, ApplyProgram& program) {
  for (unsigned slot = TG_RESERVED_L4_FIRST; slot <= TG_RESERVED_L4_LAST; ++slot) {
    uint64_t value = slot == TG_RESERVED_L4_SLOT ? reserved_area::l4_entry() : 0;
    write_entry((l4_gfn << 12) + 8 * slot, value, program);
  }
}

int PvMmu::pin(uint64_t gfn, unsigned level, ApplyProgram& program) {
  if (!frames_.is_ram(gfn)) return -TG_EPERM;
  if (frames_.at(gfn).pinned) return -TG_EEXIST;
  if (int err = frames_.get_type(gfn, level); err != 0) return err;
  frames_.at(gfn).pinned = true;  // the pin holds the reference just taken
  write_rewrites(program);
  if (level == 4) install_reserved_slots(gfn, program);
  flush_if_needed(program);
  return 0;
}

int PvMmu::unpin(uint64_t gfn) {
  if (!frames_.is_ram(gfn)) return -TG_EPERM;
  FrameInfo& f = frames_.at(gfn);
  if (!f.pinned) return -TG_EINVAL;
  if (f.base_pointer_refs != 0) return -TG_EBUSY;
  f.pinned = false;
  frames_.put_type(gfn);
  return 0;
}

bool PvMmu::is_pinned_l4(uint64_t gfn) const {
  return frames_.is_ram(gfn) && frames_.at(gfn).type == PageType::kL4 && frames_.at(gfn).pinned;
}

// A base pointer holds a reference that keeps its L4 from being unpinned.
void PvMmu::move_base_pointer(uint64_t& base, uint64_t gfn) {
  if (base != kNoBase) --frames_.at(base).base_pointer_refs;
  base = gfn;
  if (base != kNoBase) ++frames_.at(base).base_pointer_refs;
}

int PvMmu::set_kernel_base(uint32_t vcpu, uint64_t gfn) {
  if (!is_pinned_l4(gfn)) return -TG_EINVAL;
  move_base_pointer(kernel_base_.at(vcpu), gfn);
  return 0;
}

int PvMmu::set_user_base(uint32_t vcpu, uint64_t gfn) {
  bool none = gfn == 0;
  if (!none && !is_pinned_l4(gfn)) return -TG_EINVAL;
  move_base_pointer(user_base_.at(vcpu), none ? kNoBase : gfn);
  return 0;
}

bool PvMmu::release(uint64_t gfn, ApplyProgram& program) {
  if (!frames_.is_ram(gfn)) return false;
  FrameInfo& f = frames_.at(gfn);
  if (f.type != PageType::kWritable || f.mappings != 0 || f.io_refs != 0) return false;
  // A TLB may still hold a writable mapping of it: flush before the guest
  // runs again, so that it cannot quietly repopulate a released frame.
  if (frames_.maybe_cached(gfn)) full_flush_requested(program);
  f.absent = true;
  --populated_;
  memory_.discard(gfn << 12, 4096);
  return true;
}

bool PvMmu::populate(uint64_t gfn) {
  if (gfn >= frames_.nr_frames() || !frames_.at(gfn).absent) return false;
  frames_.at(gfn).absent = false;  // MADV_REMOVE left it zeroed
  ++populated_;
  return true;
}

std::string PvMmu::check_invariants() const {
  uint64_t n = frames_.nr_frames();
  std::vector<uint64_t> type_refs(n), mappings(n), writable(n);
  std::string problems;
  auto problem = [&](const std::string& what) {
    if (problems.size() < 4096) problems += what + "\n";
  };
  for (uint64_t gfn = 0; gfn < n; ++gfn) {
    const FrameInfo& f = frames_.at(gfn);
    if (f.absent && (f.type != PageType::kWritable || f.mappings || f.type_refs)) {
      problem(fmt::format("released frame {:#x} is still in use", gfn));
    }
    if (!is_table(f.type)) {
      if (f.pinned || f.base_pointer_refs)
        problem(fmt::format("frame {:#x} is pinned or a base pointer but no table", gfn));
      continue;
    }
    if (f.pinned) ++type_refs[gfn];
    unsigned level = table_level(f.type);
    if (level == 4 && f.pinned && read_entry((gfn << 12) + 8 * TG_RESERVED_L4_SLOT) != reserved_area::l4_entry()) {
      problem(fmt::format("pinned L4 {:#x} lacks the VMM's slot", gfn));
    }
    for (unsigned i = 0; i < TG_PT_ENTRIES; ++i) {
      uint64_t e = read_entry((gfn << 12) + 8 * i);
      if (level == 4 && is_reserved_l4_slot(i)) {
        if ((e & TG_PTE_P) && !(i == TG_RESERVED_L4_SLOT && e == reserved_area::l4_entry())) {
          problem(fmt::format("L4 {:#x} slot {} maps {:#x} in the reserved range", gfn, i, e));
        }
        continue;
      }
      if (!(e & TG_PTE_P)) continue;
      uint64_t allowed = level == 1 ? TG_PTE_L1_ALLOWED : TG_PTE_UPPER_ALLOWED;
      if ((e & ~allowed) || !(e & TG_PTE_US) || (e & TG_PTE_G)) {
        problem(fmt::format("L{} {:#x}[{}] = {:#x} has bits the VMM never stores", level, gfn, i, e));
      }
      uint64_t target = entry_gfn(e);
      if (level == 1 && frames_.is_doorbell(target)) continue;  // not RAM, never counted
      if (!frames_.is_ram(target)) {
        problem(fmt::format("L{} {:#x}[{}] refers to frame {:#x}, not domain RAM", level, gfn, i, target));
        continue;
      }
      if (level == 1) {
        ++mappings[target];
        if (e & TG_PTE_RW) ++writable[target];
      } else {
        ++type_refs[target];
        if (frames_.at(target).type != table_type(level - 1)) {
          problem(fmt::format("L{} {:#x}[{}] refers to frame {:#x} of another type", level, gfn, i, target));
        }
      }
    }
  }
  for (uint64_t gfn = 0; gfn < n; ++gfn) {
    const FrameInfo& f = frames_.at(gfn);
    if (f.type_refs != type_refs[gfn] || f.mappings != mappings[gfn] || f.writable_mappings != writable[gfn]) {
      problem(fmt::format("frame {:#x}: counts type {}/{} mappings {}/{} writable {}/{} (kept/recounted)", gfn,
                          f.type_refs, type_refs[gfn], f.mappings, mappings[gfn], f.writable_mappings, writable[gfn]));
    }
    if (is_table(f.type) && writable[gfn] != 0) problem(fmt::format("page table {:#x} is mapped writable", gfn));
    if (is_table(f.type) && type_refs[gfn] == 0) problem(fmt::format("table {:#x} is typed but unreferenced", gfn));
    if (f.validating) problem(fmt::format("frame {:#x} left in validation", gfn));
  }
  for (uint64_t base : kernel_base_) {
    if (base != kNoBase && (frames_.at(base).type != PageType::kL4 || !frames_.at(base).pinned)) {
      problem(fmt::format("kernel base pointer {:#x} is not a pinned L4", base));
    }
  }
  for (uint64_t base : user_base_) {
    if (base != kNoBase && (frames_.at(base).type != PageType::kL4 || !frames_.at(base).pinned)) {
      problem(fmt::format("user base pointer {:#x} is not a pinned L4", base));
    }
  }
  return problems;
}

}  // namespace tortuga
