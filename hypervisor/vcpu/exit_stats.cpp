#include "vcpu/exit_stats.h"

#include <fmt/format.h>

#include "hypercalls/hypercall_table.h"

namespace tortuga {
namespace {

template <typename T, size_t N>
void sum_into(T (&into)[N], const T (&from)[N]) {
  for (size_t i = 0; i < N; ++i) into[i] += from[i];
}

template <typename T, size_t N, size_t M>
void sum_into(T (&into)[N][M], const T (&from)[N][M]) {
  for (size_t i = 0; i < N; ++i) sum_into(into[i], from[i]);
}

// "  mmu_update normal        120      4": the kinds seen, alone and batched.
void format_kind(std::string& out, const std::string& name, const uint64_t (&n)[kCallContexts]) {
  if (n[kAlone] != 0 || n[kInMulticall] != 0) {
    out += fmt::format("  {:<26}{:>12}{:>14}\n", name, n[kAlone], n[kInMulticall]);
  }
}

void format_kinds(std::string& out, const ExitStats& s) {
  std::string rows;
  for (unsigned k = 0; k < kMmuUpdateKinds; ++k) {
    format_kind(rows, fmt::format("mmu_update {}", mmu_update_kind_name(k)), s.mmu_updates[k]);
  }
  for (unsigned k = 0; k < kMmuextKinds; ++k) {
    format_kind(rows, fmt::format("mmuext {}", mmuext_kind_name(k)), s.mmuext_ops[k]);
  }
  format_kind(rows, "update_va_mapping", s.update_va_mappings);
  if (!rows.empty()) out += fmt::format("{:<28}{:>12}{:>14}\n{}", "page-table requests", "alone", "in multicall", rows);
}

void format_batches(std::string& out, const ExitStats& s) {
  std::string rows;
  auto row = [&rows](const char* name, const BatchHistogram& h) {
    if (h.total() != 0) rows += fmt::format("  {:<26}{}\n", name, h.format());
  };
  row("mmu_update", s.mmu_update_batches);
  row("mmuext_op", s.mmuext_op_batches);
  row("multicall", s.multicall_batches);
  if (!rows.empty()) out += "batch sizes (items:calls)\n" + rows;
}

void format_multicall_calls(std::string& out, const ExitStats& s) {
  std::string rows;
  for (unsigned i = 0; i < TG_NR_HYPERCALLS; ++i) {
    if (s.multicall_calls[i] != 0) rows += fmt::format("  {:<26}{:>12}\n", hypercall_name(i), s.multicall_calls[i]);
  }
  if (!rows.empty()) out += "multicall entries by hypercall\n" + rows;
}

}  // namespace

const char* hypercall_name(uint64_t nr) {
  const hypercalls::Entry* entry = hypercalls::find_hypercall(nr);
  return entry != nullptr ? entry->name : "unknown";
}

void ExitStats::add(const ExitStats& o) {
  exits += o.exits;
  kicks += o.kicks;
  sum_into(hypercalls, o.hypercalls);
  bad_hypercalls += o.bad_hypercalls;
  sum_into(exceptions, o.exceptions);
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
  sum_into(mmu_updates, o.mmu_updates);
  sum_into(mmuext_ops, o.mmuext_ops);
  sum_into(update_va_mappings, o.update_va_mappings);
  sum_into(multicall_calls, o.multicall_calls);
  mmu_update_batches.add(o.mmu_update_batches);
  mmuext_op_batches.add(o.mmuext_op_batches);
  multicall_batches.add(o.multicall_batches);
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
  format_kinds(out, *this);
  format_multicall_calls(out, *this);
  format_batches(out, *this);
  return out;
}

}  // namespace tortuga
