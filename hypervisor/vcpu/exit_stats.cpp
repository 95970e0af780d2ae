#include "vcpu/exit_stats.h"

#include <fmt/format.h>

#include "hypercalls/hypercall_table.h"

namespace tortuga {

const char* hypercall_name(uint64_t nr) {
  const hypercalls::Entry* entry = hypercalls::find_hypercall(nr);
  return entry != nullptr ? entry->name : "unknown";
}

void ExitStats::add(const ExitStats& o) {
  exits += o.exits;
  kicks += o.kicks;
  for (unsigned i = 0; i < TG_NR_HYPERCALLS; ++i) hypercalls[i] += o.hypercalls[i];
  bad_hypercalls += o.bad_hypercalls;
  for (unsigned i = 0; i < TG_NR_EXCEPTION_VECTORS; ++i) exceptions[i] += o.exceptions[i];
  syscall_bounces += o.syscall_bounces;
  other += o.other;
  upcalls += o.upcalls;
  doorbell_misses += o.doorbell_misses;
  blocks += o.blocks;
  mmu_requests += o.mmu_requests;
  multicall_entries += o.multicall_entries;
  apply_routines += o.apply_routines;
  apply_exits += o.apply_exits;
  applied_entries += o.applied_entries;
  tlb_flushes += o.tlb_flushes;
  carried_batches += o.carried_batches;
}

uint64_t ExitStats::hypercall_total() const {
  uint64_t n = bad_hypercalls;
  for (auto h : hypercalls) n += h;
  return n;
}

std::string ExitStats::format() const {
  std::string out = fmt::format("{:<28}{:>12}\n", "exits", exits);
  auto row = [&](const std::string& name, uint64_t n) {
    if (n) out += fmt::format("  {:<26}{:>12}\n", name, n);
  };
  for (unsigned i = 0; i < TG_NR_HYPERCALLS; ++i) row(fmt::format("hypercall {}", hypercall_name(i)), hypercalls[i]);
  row("hypercall (bad number)", bad_hypercalls);
  row("syscall bounce", syscall_bounces);
  for (unsigned v = 0; v < TG_NR_EXCEPTION_VECTORS; ++v) row(fmt::format("exception vector {}", v), exceptions[v]);
  row("other", other);
  row("event upcalls", upcalls);
  row("doorbell misses", doorbell_misses);
  row("blocks and polls", blocks);
  row("mmu requests", mmu_requests);
  row("multicall entries", multicall_entries);
  row("apply routines", apply_routines);
  row("apply routine exits", apply_exits);
  row("page-table entries applied", applied_entries);
  row("TLB flushes", tlb_flushes);
  row("batches carried by iret", carried_batches);
  row("kicks (not guest exits)", kicks);
  return out;
}

}  // namespace tortuga
