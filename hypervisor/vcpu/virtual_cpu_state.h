// The transition state of one virtual CPU: which mode the guest is in, its
// kernel and user page tables, stacks, segment bases, callbacks and trap
// table. It lives in the VMM's reserved area of guest memory (which the
// guest cannot map), not in VMM heap objects, so that save/restore copies
// it with memory and a later in-guest CPL0 switcher can read the same data.
// (What a save records of a vCPU is VcpuState, vcpu_state.h.)
#pragma once

#include <cstdint>

#include <tortuga/cpu.h>

namespace tortuga {

struct TrapTableEntry {
  uint64_t handler;  // 0: no handler; the exception kills the domain
  uint64_t flags;    // TG_TRAPF_*
};

struct VirtualCpuState {
  uint64_t kernel_mode;  // 1 while the guest kernel runs, 0 in user mode
  uint64_t kernel_cr3;   // guest-physical address of the kernel L4
  uint64_t user_cr3;     // user L4, or 0 to use the kernel L4 in user mode
  uint64_t kernel_ss;    // from stack_switch (virtual selector)
  uint64_t kernel_sp;    // stack for bounces out of user mode
  uint64_t fs_base;
  uint64_t gs_base_kernel;
  uint64_t gs_base_user;
  uint64_t callback[TG_NR_CALLBACKS];
  uint64_t callback_flags[TG_NR_CALLBACKS];
  TrapTableEntry traps[TG_NR_EXCEPTION_VECTORS];
};

}  // namespace tortuga
