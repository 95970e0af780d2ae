// Exit accounting: every return from KVM_RUN is counted by what caused it,
// because guest exits are the cost of every operation (PLATFORM.md).
#pragma once

#include <cstdint>
#include <string>

#include <tortuga/cpu.h>
#include <tortuga/hypercall.h>

#include "vcpu/batch_histogram.h"
#include "vcpu/mmu_request_kinds.h"

namespace tortuga {

// How a page-table hypercall reached the VMM: alone (an exit of its own) or
// as an entry of a multicall (sharing the multicall's exit).
enum CallContext : unsigned { kAlone = 0, kInMulticall = 1 };
inline constexpr unsigned kCallContexts = 2;

// Plain counters, summed over vCPUs with add(): no invariants between them.
struct ExitStats {
  uint64_t exits = 0;  // KVM_RUN returns caused by the guest
  uint64_t kicks = 0;  // KVM_RUN interrupted by the VMM itself
  uint64_t hypercalls[TG_NR_HYPERCALLS] = {};
  uint64_t bad_hypercalls = 0;  // numbers outside the table
  uint64_t exceptions[TG_NR_EXCEPTION_VECTORS] = {};
  uint64_t syscall_bounces = 0;  // guest user SYSCALLs bounced to the kernel
  uint64_t other = 0;            // MMIO, shutdown and internal exits
  uint64_t upcalls = 0;          // event upcalls bounced to the guest
  uint64_t doorbell_misses = 0;  // doorbell-page accesses KVM could not complete
  uint64_t blocks = 0;           // sched_op block and poll sleeps
  // The PV MMU (ABI.md 8).
  uint64_t mmu_requests = 0;       // mmu_update requests and mmuext ops
  uint64_t multicall_entries = 0;  // hypercalls run inside multicalls
  uint64_t apply_routines = 0;     // CPL0 page-table apply routines run in the guest
  uint64_t apply_exits = 0;        // ...of which the VMM waited for (1 exit each)
  uint64_t applied_entries = 0;    // page-table entries those routines wrote
  uint64_t tlb_flushes = 0;        // full flushes they did
  uint64_t carried_batches = 0;    // multicall batches an iret carried (ABI.md 2.11)
  // Which guest operations the page-table calls were (issue 15), by kind
  // (mmu_request_kinds.h) and CallContext.
  uint64_t mmu_updates[kMmuUpdateKinds][kCallContexts] = {};  // requests, by TG_MMU_* type
  uint64_t mmuext_ops[kMmuextKinds][kCallContexts] = {};      // operations, by TG_MMUEXT_* cmd
  uint64_t update_va_mappings[kCallContexts] = {};            // calls
  uint64_t multicall_calls[TG_NR_HYPERCALLS] = {};            // multicall entries, by hypercall number
  BatchHistogram mmu_update_batches;                          // requests per mmu_update call
  BatchHistogram mmuext_op_batches;                           // operations per mmuext_op call
  BatchHistogram multicall_batches;                           // entries per multicall

  void add(const ExitStats& o);
  uint64_t hypercall_total() const;
  // A table, one counter per line, zero rows omitted; the page-table kinds
  // as "alone  in multicall" pairs and each histogram on one line.
  std::string format() const;
};

const char* hypercall_name(uint64_t nr);

}  // namespace tortuga
