// TG_HC_memory_op: the domain's reservation (ballooning) and its memory
// map (ABI.md 13). Released frames go back to the host with MADV_REMOVE
// and are not domain RAM until they are populated again.
#include <vector>

#include <tortuga/errno.h>
#include <tortuga/memory.h>
#include <tortuga/event_channel.h>
#include <tortuga/start_info.h>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

using FrameOp = bool (*)(Vcpu& vcpu, uint64_t gfn);

bool release_frame(Vcpu& vcpu, uint64_t gfn) { return vcpu.domain().mmu().release(gfn, vcpu.apply_program()); }
bool populate_frame(Vcpu& vcpu, uint64_t gfn) { return vcpu.domain().mmu().populate(gfn); }

int64_t change_reservation(Vcpu& vcpu, uint64_t arg, FrameOp op) {
  auto r = vcpu.kernel_address_space().read<tg_memory_reservation>(arg);
  if (r.extent_order != 0 || r.domid != TG_DOMID_SELF || r._pad0 != 0) return -TG_EINVAL;
  if (r.nr_extents > TG_RESERVATION_MAX) return -TG_E2BIG;
  // Writes still pending could land in a frame about to be released.
  vcpu.apply_page_table_writes_now();
  uint64_t done = 0;
  for (; done < r.nr_extents; ++done) {
    auto gfn = vcpu.kernel_address_space().read<tg_gfn_t>(r.extent_start + done * sizeof(tg_gfn_t));
    if (!op(vcpu, gfn)) break;
  }
  return static_cast<int64_t>(done);
}

int64_t reservation_size(Vcpu& vcpu, uint64_t arg, uint64_t frames) {
  auto domid = vcpu.kernel_address_space().read<tg_domid_t>(arg);
  if (domid != TG_DOMID_SELF) return -TG_EINVAL;
  return static_cast<int64_t>(frames);
}

int64_t memory_map(Vcpu& vcpu, uint64_t arg) {
  auto map = vcpu.kernel_address_space().read<tg_memory_map>(arg);
  if (map._pad0 != 0) return -TG_EINVAL;
  const GuestMemory& m = vcpu.domain().memory();
  std::vector<tg_memmap_entry> entries = {{0, m.ram_size(), TG_MEMMAP_RAM, 0}};
  uint32_t capacity = map.nr_entries;
  map.nr_entries = static_cast<uint32_t>(entries.size());
  if (capacity < entries.size()) {
    vcpu.kernel_address_space().copy_to(arg, &map, sizeof map);
    return -TG_EOVERFLOW;
  }
  vcpu.kernel_address_space().copy_to(map.buffer, entries.data(), entries.size() * sizeof(tg_memmap_entry));
  vcpu.kernel_address_space().copy_to(arg, &map, sizeof map);
  return 0;
}

}  // namespace

// A reservation change populates or releases frames: the frame table changes.
bool memory_op_changes_page_tables(uint64_t cmd) {
  return cmd == TG_MEMOP_increase_reservation || cmd == TG_MEMOP_decrease_reservation;
}

int64_t memory_op(Vcpu& vcpu, const Args& args) {
  PvMmu& mmu = vcpu.domain().mmu();
  switch (args.a0) {
    case TG_MEMOP_increase_reservation: return change_reservation(vcpu, args.a1, populate_frame);
    case TG_MEMOP_decrease_reservation: return change_reservation(vcpu, args.a1, release_frame);
    case TG_MEMOP_current_reservation: return reservation_size(vcpu, args.a1, mmu.populated_frames());
    case TG_MEMOP_maximum_reservation: return reservation_size(vcpu, args.a1, mmu.maximum_frames());
    case TG_MEMOP_memory_map: return memory_map(vcpu, args.a1);
    default: return -TG_ENOSYS;
  }
}

}  // namespace tortuga::hypercalls
