// TG_HC_grant_table_op: the guest's side of its grant table (ABI.md 12.3).
// setup_table and query_size size the table; map_grant_ref, unmap_grant_ref
// and copy let the guest use its own grants through exactly the checks the
// backends get (GrantTable::use), which is what the test guest exercises.
#include <cstring>
#include <vector>

#include <tortuga/errno.h>
#include <tortuga/grant_table.h>
#include <tortuga/memory.h>

#include "domain/domain.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

// Reads an array of count structures, handles each, writes them back.
template <typename T, typename Op>
int64_t for_each_element(Vcpu& vcpu, uint64_t va, uint64_t count, Op op) {
  auto as = vcpu.kernel_address_space();
  for (uint64_t i = 0; i < count; ++i) {
    T arg = as.read<T>(va + i * sizeof(T));
    op(arg);
    as.copy_to(va + i * sizeof(T), &arg, sizeof arg);
  }
  return 0;
}

int setup_table(Vcpu& vcpu, tg_gnttab_setup_table& a) {
  if (a.nr_frames == 0 || a.nr_frames > TG_GNTTAB_MAX_FRAMES) return -TG_EINVAL;
  std::vector<uint64_t> gfns(a.nr_frames);
  for (uint32_t i = 0; i < a.nr_frames; ++i) {
    gfns[i] = vcpu.kernel_address_space().read<tg_gfn_t>(a.frame_list + i * sizeof(tg_gfn_t));
  }
  std::lock_guard lock(vcpu.domain().mmu().frame_lock());
  return vcpu.domain().grants().setup(gfns);
}

bool valid_map_address(uint64_t va) {
  return (va & 0xfff) == 0 && pte::is_canonical(va) && !reserved_area::contains_va(va);
}

int map_grant_ref(Vcpu& vcpu, tg_gnttab_map_grant_ref& a) {
  if (a.dom != TG_DOMID_SELF) return -TG_ESRCH;
  if ((a.flags & ~TG_GNTMAP_readonly) != 0 || !valid_map_address(a.host_addr)) return -TG_EINVAL;
  PvMmu& mmu = vcpu.domain().mmu();
  std::lock_guard lock(mmu.frame_lock());
  uint64_t entry_gpa = 0;
  if (mmu.l1_entry_for(vcpu.state().kernel_cr3, a.host_addr, &entry_gpa) != 0) return -TG_EINVAL;
  if (mmu.current_entry(entry_gpa) & TG_PTE_P) return -TG_EBUSY;
  bool readonly = a.flags & TG_GNTMAP_readonly;
  uint64_t gfn = 0;
  uint32_t handle = 0;
  if (int err = vcpu.domain().grants().map(a.ref, readonly, a.host_addr, &gfn, &handle); err != 0) return err;
  uint64_t pte = (gfn << 12) | TG_PTE_P | TG_PTE_NX | (readonly ? 0 : TG_PTE_RW);
  if (int err = mmu.update(entry_gpa | TG_MMU_NORMAL_PT_UPDATE, pte, vcpu.apply_program()); err != 0) {
    GrantTable::Mapping was;
    vcpu.domain().grants().unmap(handle, a.host_addr, &was);
    return err;
  }
  a.handle = handle;
  return 0;
}

int unmap_grant_ref(Vcpu& vcpu, tg_gnttab_unmap_grant_ref& a) {
  if (a._pad0 != 0) return -TG_EINVAL;
  PvMmu& mmu = vcpu.domain().mmu();
  std::lock_guard lock(mmu.frame_lock());
  const GrantTable::Mapping* m = vcpu.domain().grants().mapping(a.handle);
  if (m == nullptr || m->host_addr != a.host_addr) return -TG_EINVAL;
  // Clear the entry only if it still maps the granted frame: the guest may
  // have put something else there since, which is not ours to remove.
  uint64_t entry_gpa = 0;
  if (mmu.l1_entry_for(vcpu.state().kernel_cr3, a.host_addr, &entry_gpa) == 0) {
    uint64_t e = mmu.current_entry(entry_gpa);
    if ((e & TG_PTE_P) && ((e & TG_PTE_FRAME) >> 12) == m->gfn) {
      if (int err = mmu.update(entry_gpa | TG_MMU_NORMAL_PT_UPDATE, 0, vcpu.apply_program()); err != 0) return err;
      vcpu.apply_program().invlpg(a.host_addr);
    }
  }
  GrantTable::Mapping was;
  return vcpu.domain().grants().unmap(a.handle, a.host_addr, &was);
}

// One side of a copy, held for the copy: a grant (checked like a backend's
// use) or a frame of the caller's own (ordinary domain RAM).
class CopySide {
 public:
  CopySide(Vcpu& vcpu, const tg_gnttab_copy_ptr& p, bool by_ref, bool write) : vcpu_(vcpu), write_(write) {
    if (by_ref) {
      if (p.domid != TG_DOMID_SELF) {
        error_ = -TG_ESRCH;
        return;
      }
      use_ = vcpu.domain().grants().use(TG_DOMID_VMM, p.u.ref, write);
      error_ = use_.error();
      page_ = use_.page();
      return;
    }
    std::lock_guard lock(vcpu.domain().mmu().frame_lock());
    error_ = vcpu.domain().mmu().hold_for_io(p.u.gfn);
    if (error_ == 0) {
      gfn_ = p.u.gfn;
      page_ = vcpu.domain().memory().ram(gfn_ << 12, 4096);
    }
  }
  ~CopySide() {
    if (gfn_ == kNone) return;
    if (write_) vcpu_.domain().grants().page_written(gfn_);
    std::lock_guard lock(vcpu_.domain().mmu().frame_lock());
    vcpu_.domain().mmu().release_io(gfn_);
  }
  CopySide(const CopySide&) = delete;
  CopySide& operator=(const CopySide&) = delete;
  int error() const { return error_; }
  uint8_t* page() const { return page_; }

 private:
  static constexpr uint64_t kNone = ~0ULL;
  Vcpu& vcpu_;
  bool write_;
  GrantUse use_;
  uint64_t gfn_ = kNone;
  uint8_t* page_ = nullptr;
  int error_ = 0;
};

int copy(Vcpu& vcpu, const tg_gnttab_copy& a) {
  constexpr uint16_t kKnown = TG_GNTCOPY_source_gref | TG_GNTCOPY_dest_gref;
  if ((a.flags & ~kKnown) != 0 || a._pad0 != 0 || a.len == 0) return -TG_EINVAL;
  if (a.source.offset + a.len > TG_PAGE_SIZE || a.dest.offset + a.len > TG_PAGE_SIZE) return -TG_EINVAL;
  CopySide src(vcpu, a.source, a.flags & TG_GNTCOPY_source_gref, false);
  if (src.error() != 0) return src.error();
  CopySide dst(vcpu, a.dest, a.flags & TG_GNTCOPY_dest_gref, true);
  if (dst.error() != 0) return dst.error();
  // The guest may be writing either page: bytes, not objects.
  std::memmove(dst.page() + a.dest.offset, src.page() + a.source.offset, a.len);
  return 0;
}

}  // namespace

int64_t grant_table_op(Vcpu& vcpu, const Args& args) {
  uint64_t cmd = args.a0, va = args.a1, count = args.a2;
  if (cmd > TG_GNTTABOP_copy) return -TG_ENOSYS;
  if (count > TG_GNTTAB_OP_MAX) return -TG_E2BIG;
  switch (cmd) {
    case TG_GNTTABOP_setup_table:
      if (count != 1) return -TG_EINVAL;
      return for_each_element<tg_gnttab_setup_table>(vcpu, va, 1, [&](auto& a) { a.status = setup_table(vcpu, a); });
    case TG_GNTTABOP_query_size:
      if (count != 1) return -TG_EINVAL;
      return for_each_element<tg_gnttab_query_size>(vcpu, va, 1, [&](auto& a) {
        std::lock_guard lock(vcpu.domain().mmu().frame_lock());
        a.nr_frames = vcpu.domain().grants().nr_frames();
        a.max_nr_frames = TG_GNTTAB_MAX_FRAMES;
        a.status = 0;
      });
    case TG_GNTTABOP_map_grant_ref:
      return for_each_element<tg_gnttab_map_grant_ref>(
          vcpu, va, count, [&](auto& a) { a.status = static_cast<int16_t>(map_grant_ref(vcpu, a)); });
    case TG_GNTTABOP_unmap_grant_ref:
      return for_each_element<tg_gnttab_unmap_grant_ref>(
          vcpu, va, count, [&](auto& a) { a.status = static_cast<int16_t>(unmap_grant_ref(vcpu, a)); });
    default:
      return for_each_element<tg_gnttab_copy>(vcpu, va, count,
                                              [&](auto& a) { a.status = static_cast<int16_t>(copy(vcpu, a)); });
  }
}

}  // namespace tortuga::hypercalls
