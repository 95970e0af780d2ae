// TG_HC_iret: return from a bounce to kernel or user mode, restoring the
// context in a struct tg_iret_frame at the guest's rsp. A context that
// cannot be resumed goes to the failsafe callback (or kills the domain).
#include <fmt/format.h>
#include <tortuga/cpu.h>
#include <tortuga/memory.h>

#include "domain/guest_fault.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

// Why the frame cannot be resumed, as a TG_FAILSAFE_* reason, or 0.
uint64_t rejection(const tg_iret_frame& f) {
  if (f.flags != 0 && !(f.flags & TG_IRET_BATCH)) return TG_FAILSAFE_BAD_FLAGS;
  if (!pte::is_canonical(f.rip) || reserved_area::contains_va(f.rip)) return TG_FAILSAFE_BAD_RIP;
  bool kernel = f.cs == TG_KERNEL_CS && f.ss == TG_KERNEL_DS;
  // Compatibility mode (TG_USER32_CS) is reserved in v1: there is no 32-bit
  // syscall callback, so user code must never get there.
  bool user = f.cs == TG_USER_CS && f.ss == TG_USER_DS;
  if (!kernel && !user) return TG_FAILSAFE_BAD_SELECTOR;
  return 0;
}

// ABI.md 2.11: runs the batch the frame carries, as a multicall would, and
// marks it done. Returns 0, or TG_FAILSAFE_BATCH when the batch descriptor
// is malformed or one of its calls failed (the results stay in the entries).
uint64_t run_carried_batch(Vcpu& vcpu, uint64_t batch_at) {
  auto batch = vcpu.kernel_address_space().read<tg_iret_batch>(batch_at);
  if (batch.count == 0) return 0;
  if (batch._pad != 0 || batch.count > TG_MULTICALL_MAX) return TG_FAILSAFE_BATCH;
  ++vcpu.stats().carried_batches;
  uint32_t failed = 0;
  Args args{batch.calls, batch.count, 0, 0, 0};
  args.failed_entries = &failed;
  vcpu.call_hypercall(*find_hypercall(TG_HC_multicall), args);
  uint32_t done = 0;
  vcpu.kernel_address_space().copy_to(batch_at + offsetof(tg_iret_batch, count), &done, sizeof done);
  return failed != 0 ? TG_FAILSAFE_BATCH : 0;
}

uint64_t rejection_or_batch_failure(Vcpu& vcpu, const tg_iret_frame& f) {
  if (uint64_t reason = rejection(f)) return reason;
  if (f.flags & TG_IRET_BATCH) return run_carried_batch(vcpu, f.flags & ~uint64_t{TG_IRET_BATCH});
  return 0;
}

}  // namespace

int64_t iret(Vcpu& vcpu, const Args&) {
  uint64_t frame_at = vcpu.regs().rsp;
  auto f = vcpu.address_space().read<tg_iret_frame>(frame_at);
  if (uint64_t reason = rejection_or_batch_failure(vcpu, f)) {
    uint64_t failsafe = vcpu.state().callback[TG_CALLBACK_FAILSAFE];
    if (failsafe == 0) {
      throw GuestFault(
          fmt::format("iret to an invalid context (cs {:#x} ss {:#x} rip {:#x} flags {:#x}) "
                      "and no failsafe callback registered",
                      f.cs, f.ss, f.rip, f.flags));
    }
    vcpu.regs().rax = f.rax;
    InterruptedContext bad{f.rip, f.cs, f.rflags, f.rsp, f.ss, f.rcx, f.r11};
    vcpu.bounce(failsafe, bad, reason, true, "failsafe callback", frame_at + sizeof f);
    return 0;
  }
  vcpu.nmi_returned();  // virtual NMIs do not nest until the next iret
  kvm_regs& r = vcpu.regs();
  r.rax = f.rax;
  r.rcx = f.rcx;
  r.r11 = f.r11;
  r.rip = f.rip;
  r.rsp = f.rsp;
  r.rflags = Vcpu::sanitize_rflags(f.rflags);
  __atomic_store_n(&vcpu.info().upcall_mask, (f.rflags & TG_RFLAGS_IF) ? 0 : 1, __ATOMIC_RELEASE);
  if (f.cs & 3) {
    vcpu.switch_to_user_mode(false);
  } else {
    vcpu.load_kernel_segments();
  }
  return 0;
}

}  // namespace tortuga::hypercalls
