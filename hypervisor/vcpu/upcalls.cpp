// Event delivery to a vCPU (ABI.md 2.9, 9.4): kicking a vCPU that runs
// guest code, waking one that sleeps in block or poll, and bouncing to the
// guest's event callback when an unmasked upcall is pending. An upcall is
// folded into whatever exit the vCPU is already in; only a vCPU running
// guest code with events unmasked costs an exit (the kick).
#include <tortuga/cpu.h>

#include "domain/domain.h"
#include "vcpu/reserved_area.h"
#include "vcpu/vcpu.h"

namespace tortuga {
namespace {

namespace ra = reserved_area;

}  // namespace

void Vcpu::notify_event(bool unmasked) {
  // Kick even when upcall_mask looked set: the guest's "sti" is a store of
  // upcall_mask then a load of upcall_pending with no fence between (ABI.md
  // 9.5), so both sides may read the old value of the other's byte. The
  // kick makes the vCPU exit, and the exit looks again with fresh values.
  if (unmasked || __atomic_load_n(&info().upcall_pending, __ATOMIC_ACQUIRE) != 0) {
    kick();
  } else {
    wake();  // a poll may be waiting on a masked port
  }
}

// KVM_RUN returned because of a kick. The vCPU may be anywhere: in guest
// code (deliver now), in a VMM stub about to exit (it will exit at once and
// the upcall is delivered then), or in a page-table apply routine (let it
// finish into the VMM instead of the guest).
void Vcpu::on_kick() {
  if (domain_.stopping()) return;
  if (apply_in_flight_ && sregs().cs.selector == ra::kVmmCs) {
    make_apply_routine_exit();
    return;
  }
  // A kick can stop the vCPU while KVM is delivering an exception it took
  // (a user page fault, say): redirecting rip now would have KVM deliver
  // that exception again at the handler, with the old cr2. Let it exit to
  // the VMM's stub first; the upcall rides on that exit.
  if (kvm_.exception_in_flight()) return;
  if (deliver_pending_upcall()) {
    kvm_.mark_regs_dirty();
    kvm_.mark_sregs_dirty();
  }
}

bool Vcpu::at_guest_instruction() { return (sregs().cs.selector & 3) == 3 && !ra::contains_va(regs().rip); }

InterruptedContext Vcpu::current_context() {
  bool user = !in_kernel_mode();
  uint64_t cs = user ? TG_USER_CS : TG_KERNEL_CS, ss = user ? TG_USER_DS : TG_KERNEL_DS;
  return {regs().rip, cs, virtual_rflags(regs().rflags), regs().rsp, ss, regs().rcx, regs().r11};
}

bool Vcpu::deliver_pending_upcall() {
  // A virtual NMI goes first and ignores upcall_mask; they do not nest.
  if (nmi_pending_.load() && !nmi_active_ && at_guest_instruction()) {
    nmi_pending_.store(false);
    uint64_t nmi = state_.callback[TG_CALLBACK_NMI];
    if (nmi != 0) {
      nmi_active_ = true;
      bounce(nmi, current_context(), std::nullopt, state_.callback_flags[TG_CALLBACK_NMI] & TG_CALLBACKF_MASK_EVENTS,
             "NMI");
      return true;
    }
  }
  uint64_t handler = state_.callback[TG_CALLBACK_EVENT];
  tg_vcpu_info& vi = info();
  if (handler == 0 || __atomic_load_n(&vi.upcall_pending, __ATOMIC_ACQUIRE) == 0 ||
      __atomic_load_n(&vi.upcall_mask, __ATOMIC_ACQUIRE) != 0 || !at_guest_instruction()) {
    return false;
  }
  ++stats_.upcalls;
  bounce(handler, current_context(), std::nullopt, state_.callback_flags[TG_CALLBACK_EVENT] & TG_CALLBACKF_MASK_EVENTS,
         "event upcall");
  return true;
}

bool Vcpu::poll_ports(const std::vector<uint32_t>& ports, uint64_t deadline_ns) {
  EventChannels& events = domain_.events();
  auto any_pending = [&] {
    for (uint32_t p : ports) {
      if (events.pending(p)) return true;
    }
    return false;
  };
  sleep_until(any_pending, deadline_ns);
  return any_pending();
}

}  // namespace tortuga
