// TG_HC_stack_switch and TG_HC_set_segment_base: the kernel stack used for
// bounces out of user mode, and the FS and GS bases of both modes.
#include <tortuga/cpu.h>
#include <tortuga/errno.h>

#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

bool valid_guest_address(uint64_t va) { return pte::is_canonical(va) && !reserved_area::contains_va(va); }

}  // namespace

int64_t stack_switch(Vcpu& vcpu, const Args& args) {
  uint64_t ss = args.a0, sp = args.a1;
  // ss 0 stands for the kernel's (ABI.md 7.6). The stack must be an
  // address a guest could map (a restore refuses a non-canonical one), but
  // is not dereferenced now: a stack that is unmapped when a bounce needs
  // it kills the domain then, with the address.
  if ((ss != TG_KERNEL_DS && ss != 0) || !valid_guest_address(sp)) return -TG_EINVAL;
  vcpu.state().kernel_ss = TG_KERNEL_DS;
  vcpu.state().kernel_sp = sp;
  return 0;
}

int64_t set_segment_base(Vcpu& vcpu, const Args& args) {
  uint64_t which = args.a0, base = args.a1;
  if (!pte::is_canonical(base)) return -TG_EINVAL;
  switch (which) {
    case TG_SEGBASE_FS:
      vcpu.state().fs_base = base;
      vcpu.sregs().fs.base = base;
      return 0;
    case TG_SEGBASE_GS_USER:
      vcpu.state().gs_base_user = base;  // loaded on the next return to user mode
      return 0;
    case TG_SEGBASE_GS_KERNEL:
      vcpu.state().gs_base_kernel = base;
      if (vcpu.in_kernel_mode()) vcpu.sregs().gs.base = base;
      return 0;
    default: return -TG_EINVAL;
  }
}

}  // namespace tortuga::hypercalls
