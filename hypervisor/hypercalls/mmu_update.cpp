// TG_HC_mmu_update: a batch of page-table entry writes, each validated
// (ABI.md 8.6), all applied by one CPL0 routine on the way back: one exit
// for the whole batch.
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"
#include "hypercalls/mmu_batch.h"
#include "hypercalls/mmu_trace.h"

namespace tortuga::hypercalls {

int64_t mmu_update(Vcpu& vcpu, const Args& args) {
  PvMmu& mmu = vcpu.domain().mmu();
  ExitStats& stats = vcpu.stats();
  return run_mmu_batch<tg_mmu_update>(
      vcpu, args.a0, args.a1, TG_MMU_UPDATE_MAX, args.a2, stats.mmu_update_batches,
      [&](const tg_mmu_update& req, uint64_t at) -> int64_t {
        unsigned kind = mmu_update_kind(req.ptr);
        ++stats.mmu_updates[kind][args.in_multicall];
        trace_single_entry(vcpu, args, args.a1, "mmu_update", mmu_update_kind_name(kind));
        uint64_t previous = 0;
        if (int err = mmu.update(req.ptr, req.val, vcpu.apply_program(), &previous); err != 0) return err;
        if ((req.ptr & TG_MMU_REQ_TYPE_MASK) == TG_MMU_PT_CLEAR_BITS) {
          vcpu.kernel_address_space().copy_to(at + offsetof(tg_mmu_update, val), &previous, sizeof previous);
        }
        return 0;
      });
}

}  // namespace tortuga::hypercalls
