// TG_HC_mmu_update: a batch of page-table entry writes, each validated
// (ABI.md 8.6), all applied by one CPL0 routine on the way back: one exit
// for the whole batch.
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "../domain.h"
#include "hypercall_table.h"

namespace tortuga::hypercalls {

// Room kept in the apply program before each request, so that a batch's
// writes normally fit one routine. A request can add more (typing a tree
// may rewrite entries to their stored form); the vCPU then applies the
// program in chunks.
constexpr size_t kMaxWritesPerRequest = 32;

int64_t mmu_update(Vcpu& vcpu, const Args& args) {
  uint64_t reqs = args.a0, count = args.a1, done_at = args.a2;
  if (count > TG_MMU_UPDATE_MAX) return -TG_E2BIG;
  PvMmu& mmu = vcpu.domain().mmu();
  int64_t result = 0;
  uint32_t done = 0;
  for (; done < count; ++done) {
    vcpu.ensure_apply_room(kMaxWritesPerRequest);
    uint64_t at = reqs + done * sizeof(tg_mmu_update);
    auto req = vcpu.kernel_address_space().read<tg_mmu_update>(at);
    ++vcpu.stats().mmu_requests;
    uint64_t previous = 0;
    if (int err = mmu.update(req.ptr, req.val, vcpu.apply_program(), &previous); err != 0) {
      result = err;
      break;
    }
    if ((req.ptr & TG_MMU_REQ_TYPE_MASK) == TG_MMU_PT_CLEAR_BITS) {
      vcpu.kernel_address_space().copy_to(at + offsetof(tg_mmu_update, val), &previous, sizeof previous);
    }
  }
  if (done_at != 0) vcpu.kernel_address_space().copy_to(done_at, &done, sizeof done);
  return result;
}

}  // namespace tortuga::hypercalls
