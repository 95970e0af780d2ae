// Exit accounting: every return from KVM_RUN is counted by what caused it,
// because guest exits are the cost of every operation (PLATFORM.md).
#pragma once

#include <cstdint>
#include <string>

#include <tortuga/cpu.h>
#include <tortuga/hypercall.h>

namespace tortuga {

struct ExitStats {
  uint64_t exits = 0;             // KVM_RUN returns caused by the guest
  uint64_t kicks = 0;             // KVM_RUN interrupted by the VMM itself
  uint64_t hypercalls[TG_NR_HYPERCALLS] = {};
  uint64_t bad_hypercalls = 0;    // numbers outside the table
  uint64_t exceptions[TG_NR_EXCEPTION_VECTORS] = {};
  uint64_t syscall_bounces = 0;   // guest user SYSCALLs bounced to the kernel
  uint64_t other = 0;             // MMIO, shutdown and internal exits

  void add(const ExitStats& o);
  uint64_t hypercall_total() const;
  // A table, one counter per line, zero rows omitted.
  std::string format() const;
};

const char* hypercall_name(uint64_t nr);

}  // namespace tortuga
