// TG_HC_update_va_mapping: rewrite the L1 entry that maps one address in
// the current kernel page table, then flush as asked (ABI.md 8.7).
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "domain/domain.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "hypercalls/hypercall_table.h"
#include "hypercalls/mmu_trace.h"

namespace tortuga::hypercalls {
namespace {

// The trace's kind for a call: the flush it asked for.
constexpr const char* flush_name(uint64_t flush) {
  return flush == TG_UVMF_INVLPG ? "invlpg" : flush == TG_UVMF_TLB_FLUSH ? "tlb_flush" : "no_flush";
}

}  // namespace

int64_t update_va_mapping(Vcpu& vcpu, const Args& args) {
  uint64_t va = args.a0 & ~0xfffULL, entry = args.a1, flags = args.a2;
  constexpr uint64_t kKnownFlags = TG_UVMF_FLUSH_MASK | TG_UVMF_ALL;
  uint64_t flush = flags & TG_UVMF_FLUSH_MASK;
  if ((flags & ~kKnownFlags) != 0 || flush == TG_UVMF_FLUSH_MASK) return -TG_EINVAL;
  if (!pte::is_canonical(args.a0) || reserved_area::contains_va(va)) return -TG_EINVAL;
  PvMmu& mmu = vcpu.domain().mmu();
  ++vcpu.stats().mmu_requests;
  ++vcpu.stats().update_va_mappings[args.in_multicall];
  trace_single_entry(vcpu, args, 1, "update_va_mapping", flush_name(flush));
  uint64_t entry_gpa = 0;
  if (int err = mmu.l1_entry_for(vcpu.state().kernel_cr3, va, &entry_gpa); err != 0) return err;
  if (int err = mmu.update(entry_gpa | TG_MMU_NORMAL_PT_UPDATE, entry, vcpu.apply_program()); err != 0) return err;
  // One vCPU per domain in v1: TG_UVMF_ALL is this one.
  if (flush == TG_UVMF_TLB_FLUSH) mmu.full_flush_requested(vcpu.apply_program());
  if (flush == TG_UVMF_INVLPG) vcpu.apply_program().invlpg(va);
  return 0;
}

}  // namespace tortuga::hypercalls
