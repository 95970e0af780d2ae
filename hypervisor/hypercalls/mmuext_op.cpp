// TG_HC_mmuext_op: pin and unpin tables, base pointers, TLB flushes
// (ABI.md 8.5). Like mmu_update, a batch in one exit.
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "domain/domain.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "hypercalls/hypercall_table.h"
#include "hypercalls/mmu_batch.h"
#include "hypercalls/mmu_trace.h"

namespace tortuga::hypercalls {
namespace {

bool uses_arg2(uint32_t cmd) { return cmd == TG_MMUEXT_TLB_FLUSH_MULTI || cmd == TG_MMUEXT_INVLPG_MULTI; }

// A vCPU bitmap naming only vCPUs that exist.
bool valid_vcpu_mask(Vcpu& vcpu, uint64_t mask) {
  uint32_t n = vcpu.domain().config().vcpus;
  return n >= 64 || (mask >> n) == 0;
}

bool valid_invlpg_address(uint64_t va) { return pte::is_canonical(va) && !reserved_area::contains_va(va); }

int64_t run_op(Vcpu& vcpu, const tg_mmuext_op& op) {
  PvMmu& mmu = vcpu.domain().mmu();
  ApplyProgram& program = vcpu.apply_program();
  if (op.cmd > TG_MMUEXT_INVLPG_ALL) return -TG_ENOSYS;
  if (op._pad0 != 0 || (!uses_arg2(op.cmd) && op.arg2 != 0)) return -TG_EINVAL;
  switch (op.cmd) {
    case TG_MMUEXT_PIN_L1_TABLE:
    case TG_MMUEXT_PIN_L2_TABLE:
    case TG_MMUEXT_PIN_L3_TABLE:
    case TG_MMUEXT_PIN_L4_TABLE: return mmu.pin(op.arg1, op.cmd - TG_MMUEXT_PIN_L1_TABLE + 1, program);
    case TG_MMUEXT_UNPIN_TABLE: return mmu.unpin(op.arg1);
    case TG_MMUEXT_NEW_BASEPTR:
      if (int err = mmu.set_kernel_base(vcpu.id(), op.arg1); err != 0) return err;
      vcpu.set_kernel_page_table(op.arg1 << 12);
      return 0;
    case TG_MMUEXT_NEW_USER_BASEPTR:
      if (int err = mmu.set_user_base(vcpu.id(), op.arg1); err != 0) return err;
      vcpu.set_user_page_table(op.arg1 << 12);
      return 0;
    case TG_MMUEXT_TLB_FLUSH_MULTI:
      if (!valid_vcpu_mask(vcpu, op.arg2)) return -TG_ESRCH;
      [[fallthrough]];
    case TG_MMUEXT_TLB_FLUSH_LOCAL:
    case TG_MMUEXT_TLB_FLUSH_ALL:
      // One vCPU per domain in v1: "all" and "multi" are this one.
      mmu.full_flush_requested(program);
      return 0;
    case TG_MMUEXT_INVLPG_MULTI:
      if (!valid_invlpg_address(op.arg1)) return -TG_EINVAL;
      if (!valid_vcpu_mask(vcpu, op.arg2)) return -TG_ESRCH;
      program.invlpg(op.arg1);
      return 0;
    case TG_MMUEXT_INVLPG_LOCAL:
    case TG_MMUEXT_INVLPG_ALL:
      if (!valid_invlpg_address(op.arg1)) return -TG_EINVAL;
      program.invlpg(op.arg1);
      return 0;
  }
  return -TG_ENOSYS;
}

}  // namespace

int64_t mmuext_op(Vcpu& vcpu, const Args& args) {
  ExitStats& stats = vcpu.stats();
  return run_mmu_batch<tg_mmuext_op>(vcpu, args.a0, args.a1, TG_MMUEXT_OP_MAX, args.a2, stats.mmuext_op_batches,
                                     [&](const tg_mmuext_op& op, uint64_t) {
                                       unsigned kind = mmuext_kind(op.cmd);
                                       ++stats.mmuext_ops[kind][args.in_multicall];
                                       trace_single_entry(vcpu, args, args.a1, "mmuext_op", mmuext_kind_name(kind));
                                       return run_op(vcpu, op);
                                     });
}

}  // namespace tortuga::hypercalls
