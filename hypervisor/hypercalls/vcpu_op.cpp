// TG_HC_vcpu_op: bringing vCPUs up and down, their timers, NMIs and
// run-state accounting (ABI.md 11).
#include <chrono>
#include <thread>
#include <vector>

#include <tortuga/errno.h>
#include <tortuga/vcpu.h>

#include "domain/domain.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

bool guest_address(uint64_t va) { return pte::is_canonical(va) && !reserved_area::contains_va(va); }

bool valid_context(const tg_vcpu_guest_context& c) {
  if (c.flags != 0) return false;
  for (uint8_t b : c._reserved) {
    if (b != 0) return false;
  }
  for (uint64_t va : {c.rip, c.rsp, c.kernel_sp, c.fs_base, c.gs_base_kernel, c.gs_base_user}) {
    if (!pte::is_canonical(va)) return false;
  }
  if (!guest_address(c.rip)) return false;
  for (const auto& cb : c.callbacks) {
    if ((cb.flags & ~uint64_t{TG_CALLBACKF_MASK_EVENTS}) != 0) return false;
    if (cb.address != 0 && !guest_address(cb.address)) return false;
  }
  return true;
}

// The trap table of a context, as set_trap_table reads one; nullopt when
// an entry is invalid.
std::optional<std::vector<TrapTableEntry>> read_trap_table(Vcpu& vcpu, uint64_t table) {
  std::vector<TrapTableEntry> traps(TG_NR_EXCEPTION_VECTORS);
  if (table == 0) return traps;
  for (size_t i = 0; i < kMaxTrapTableEntries; ++i) {
    auto e = vcpu.kernel_address_space().read<tg_trap_info>(table + i * sizeof(tg_trap_info));
    if (e.handler == 0) return traps;
    if (!valid_trap_entry(e) || !guest_address(e.handler)) return std::nullopt;
    traps[e.vector] = {e.handler, e.flags};
  }
  return std::nullopt;  // no terminating entry
}

int64_t initialise(Vcpu& vcpu, Vcpu& target, uint64_t arg) {
  if (target.is_up()) return -TG_EBUSY;
  auto c = vcpu.kernel_address_space().read<tg_vcpu_guest_context>(arg);
  if (!valid_context(c)) return -TG_EINVAL;
  auto traps = read_trap_table(vcpu, c.trap_table);
  if (!traps) return -TG_EINVAL;
  PvMmu& mmu = vcpu.domain().mmu();
  if (mmu.set_kernel_base(target.id(), c.kernel_l4_gfn) != 0) return -TG_EINVAL;
  if (mmu.set_user_base(target.id(), c.user_l4_gfn) != 0) return -TG_EINVAL;
  target.initialise(c, *traps);
  return 0;
}

int64_t down(Vcpu& vcpu, Vcpu& target) {
  Domain& domain = vcpu.domain();
  if (!target.is_up()) return 0;
  if (domain.vcpus_up() == 1) return -TG_EBUSY;  // the last one running
  if (&target == &vcpu) {
    // Stops when this exit is done; the call returns 0 when it is up again.
    target.request_down();
    return 0;
  }
  target.request_down();
  domain.quiesce().sleeping(vcpu.id());
  while (target.is_up() && !domain.stopping()) std::this_thread::sleep_for(std::chrono::microseconds(50));
  domain.quiesce().awake(vcpu.id());
  target.join();
  return 0;
}

}  // namespace

bool vcpu_op_changes_page_tables(uint64_t cmd) { return cmd == TG_VCPUOP_initialise; }

int64_t vcpu_op(Vcpu& vcpu, const Args& args) {
  uint64_t cmd = args.a0, id = args.a1, arg = args.a2;
  Domain& domain = vcpu.domain();
  if (id >= domain.config().vcpus) return -TG_ESRCH;
  Vcpu& target = domain.vcpu(static_cast<uint32_t>(id));
  switch (cmd) {
    case TG_VCPUOP_initialise: return initialise(vcpu, target, arg);
    case TG_VCPUOP_up:
      if (!target.initialised()) return -TG_EINVAL;
      if (!target.is_up()) target.start();
      return 0;
    case TG_VCPUOP_down: return down(vcpu, target);
    case TG_VCPUOP_is_up: return target.is_up() ? 1 : 0;
    case TG_VCPUOP_get_info: {
      tg_vcpu_runstate r = target.runstate();
      vcpu.kernel_address_space().copy_to(arg, &r, sizeof r);
      return 0;
    }
    case TG_VCPUOP_set_singleshot_timer: {
      if (&target != &vcpu) return -TG_EINVAL;
      auto t = vcpu.kernel_address_space().read<tg_vcpu_singleshot_timer>(arg);
      if (t.flags != 0 || t._pad0 != 0) return -TG_EINVAL;
      return arm_timer(vcpu, t.deadline_ns);
    }
    case TG_VCPUOP_stop_singleshot_timer:
      if (&target != &vcpu) return -TG_EINVAL;
      domain.timers().disarm(vcpu.id());
      return 0;
    case TG_VCPUOP_send_nmi: target.raise_nmi(); return 0;
    default: return -TG_ENOSYS;
  }
}

}  // namespace tortuga::hypercalls
