// tortuga-vmm --trace-mmu FILE: one line per page-table hypercall that
// carried a single entry (an mmu_update or mmuext_op of one, every
// update_va_mapping, a multicall of one entry), naming the guest code that
// made it, so that the calls worth batching can be found (issue 15;
// scripts/exit-profile.sh sums a trace by call site). A line is
//
//   CALL KIND CONTEXT VCPU RET0 [RET1 ...]
//
// e.g. "mmu_update normal alone 0 0xffffffff8108a1b2 0xffffffff81083c40":
// CALL the hypercall, KIND the request type or mmuext command (the entry's
// hypercall for a multicall), CONTEXT "alone" (its own exit) or "multicall"
// (an entry of a multicall), then the return addresses on the guest's
// kernel stack (vcpu/guest_call_stack.h), the caller of the hypercall page
// slot first.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga {

class MmuTrace {
 public:
  // Creates (truncates) the file; throws std::runtime_error naming it.
  explicit MmuTrace(const std::string& path);

  // Writes one line for a call `vcpu` is handling. Thread-safe.
  void record(Vcpu& vcpu, const char* call, const char* kind, bool in_multicall);

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::mutex mutex_;
  std::unique_ptr<std::FILE, Closer> file_;
};

namespace hypercalls {

// The handlers' hook: a line when tracing is on and the call carried one
// entry. Off, it costs the one test of the domain's trace pointer.
inline void trace_single_entry(Vcpu& vcpu, const Args& args, uint64_t count, const char* call, const char* kind) {
  if (MmuTrace* trace = vcpu.domain().mmu_trace(); trace != nullptr) [[unlikely]] {
    if (count == 1) trace->record(vcpu, call, kind, args.in_multicall);
  }
}

}  // namespace hypercalls
}  // namespace tortuga
