// Vcpu::save() and Vcpu::restore(): what save() takes from a paused vCPU
// (VcpuState, vcpu_state.h) and how restore() sets a new vCPU up from it.
// Only what the guest can influence travels (general registers, selectors
// and bases, cr2 and cr3, the XSAVE area, a few MSRs, the VMM's virtual
// state); the VMM rebuilds descriptor tables, control registers and hidden
// segment parts from its own constants, so an image cannot hand the guest
// CPL0.
#include <stdexcept>

#include <fmt/format.h>
#include <tortuga/hypercall.h>

#include "vcpu/descriptors.h"
#include "domain/domain.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"
#include "vcpu/vcpu.h"

namespace tortuga {
namespace {

namespace ra = reserved_area;

constexpr uint32_t kMsrTsc = 0x10, kMsrKernelGsBase = 0xc0000102, kMsrPat = 0x277;
// The MSRs that travel; the syscall MSRs and TSC_AUX are the VMM's own and
// are set afresh.
constexpr uint32_t kSavedMsrs[] = {kMsrTsc, kMsrKernelGsBase, kMsrPat};

VcpuState::Segment segment_of(const kvm_segment& s) { return {s.selector, s.base}; }

bool is_data_selector(uint16_t s) { return s == 0 || s == ra::kUserDs || s == ra::kKernelSs; }

// A data segment register as the CPU would hold it after loading selector.
kvm_segment data_register(uint16_t selector, uint64_t base) {
  kvm_segment s = data_segment(selector, 3);
  if (selector == 0) {
    s.unusable = 1;
    s.present = 0;
  }
  s.base = base;
  return s;
}

[[noreturn]] void refuse(uint32_t id, const std::string& what) {
  throw std::invalid_argument(fmt::format("vcpu {}: {}", id, what));
}

}  // namespace

bool Vcpu::ready_to_park() {
  if (fresh_) return true;  // its context is what boot() or initialise() set
  note_apply_routine_progress();
  if (apply_in_flight_) {
    make_apply_routine_exit();  // the routine ends in the VMM, not the guest
    return false;
  }
  // In a stub on its way to an exit, or with an exception KVM holds: one
  // more entry brings it to the exit, whose handling ends at the guest.
  return at_guest_instruction() && !kvm_.exception_in_flight();
}

VcpuState::Registers Vcpu::save_registers(bool restart_hypercall) {
  // A vCPU that never ran since its context was set has it in KVM; any
  // other has it in the sync area, with the VMM's changes on top.
  kvm_regs r = fresh_ ? kvm_.get_regs() : regs();
  kvm_sregs s = fresh_ ? kvm_.get_sregs() : sregs();
  if (restart_hypercall) {
    // Back to the SYSCALL (2 bytes before the return address it saved in
    // rcx), with the flags it saved in r11: the hypercall runs again.
    r.rip = r.rcx - 2;
    r.rflags = sanitize_rflags(r.r11);
    s.cs = code64_segment(ra::kKernelCs, 3);
    s.ss = data_segment(ra::kKernelSs, 3);
  }
  VcpuState::Registers c;
  c.regs = r;
  c.cs = segment_of(s.cs);
  c.ss = segment_of(s.ss);
  c.ds = segment_of(s.ds);
  c.es = segment_of(s.es);
  c.fs = segment_of(s.fs);
  c.gs = segment_of(s.gs);
  c.cr2 = s.cr2;
  c.cr3 = s.cr3;
  c.xsave = kvm_.get_xsave();
  c.xcrs = kvm_.get_xcrs();
  for (uint32_t msr : kSavedMsrs) c.msrs.emplace_back(msr, kvm_.get_msr(msr));
  return c;
}

VcpuState Vcpu::save() {
  VcpuState s;
  s.id = id_;
  s.up = up_.load();
  s.initialised = initialised_;
  // Quiet while handling an exit: asleep in block, poll or down, or waiting
  // for another vCPU's section. All are hypercalls that have changed
  // nothing a second run would not redo.
  bool mid_hypercall = s.up && in_exit_.load();
  if (mid_hypercall) {
    bool syscall_exit = in_kernel_mode() && regs().rip == ra::va(ra::kSyscallStub) + ra::kStubOutLength;
    if (!syscall_exit) {
      throw std::runtime_error(
          fmt::format("vcpu {} stopped inside an exit that is not a hypercall (rip {:#x})", id_, regs().rip));
    }
  }
  s.restart_hypercall = mid_hypercall;
  s.mask_events = mid_hypercall && regs().rax == TG_HC_sched_op && regs().rdi == TG_SCHEDOP_block;
  if (s.initialised) s.cpu = save_registers(mid_hypercall);
  s.virt = state_;
  s.nmi_pending = nmi_pending_.load();
  s.nmi_active = nmi_active_;
  s.timer_deadline_ns = domain_.timers().deadline(id_);
  s.kernel_base_gfn = domain_.mmu().kernel_base(id_);
  s.user_base_gfn = domain_.mmu().user_base(id_);
  tg_vcpu_runstate rs = runstate();
  for (unsigned i = 0; i < TG_NR_RUNSTATES; ++i) s.runstate_time[i] = rs.time[i];
  return s;
}

void Vcpu::restore(const VcpuState& s, uint64_t saved_system_time_ns) {
  const VirtualCpuState& v = s.virt;
  if (v.kernel_mode > 1) refuse(id_, "virtual mode is neither kernel nor user");
  uint64_t kernel_base = domain_.mmu().kernel_base(id_), user_base = domain_.mmu().user_base(id_);
  uint64_t want_kernel_cr3 = kernel_base == kNoBasePointer ? 0 : kernel_base << 12;
  uint64_t want_user_cr3 = user_base == kNoBasePointer ? 0 : user_base << 12;
  if (v.kernel_cr3 != want_kernel_cr3 || v.user_cr3 != want_user_cr3) {
    refuse(id_, "its page tables are not its pinned base pointers");
  }
  if (v.kernel_ss != 0 && v.kernel_ss != TG_KERNEL_DS) refuse(id_, "kernel stack selector is not the kernel's");
  for (uint64_t va : {v.kernel_sp, v.fs_base, v.gs_base_kernel, v.gs_base_user}) {
    if (!pte::is_canonical(va)) refuse(id_, fmt::format("non-canonical address {:#x}", va));
  }
  for (unsigned i = 0; i < TG_NR_CALLBACKS; ++i) {
    if (v.callback_flags[i] & ~uint64_t{TG_CALLBACKF_MASK_EVENTS}) refuse(id_, "unknown callback flags");
  }
  for (const TrapTableEntry& t : v.traps) {
    if (t.flags & ~uint64_t{TG_TRAPF_MASK_EVENTS}) refuse(id_, "unknown trap flags");
  }
  state_ = v;
  nmi_pending_.store(s.nmi_pending);
  nmi_active_ = s.nmi_active;
  {
    std::lock_guard lock(runstate_mutex_);
    for (unsigned i = 0; i < TG_NR_RUNSTATES; ++i) runstate_.time[i] = s.runstate_time[i];
    // Offline since the save: the gap counts as offline (ABI.md 21).
    runstate_.state = TG_RUNSTATE_offline;
    runstate_.state_entry_time = saved_system_time_ns;
  }
  if (s.initialised) {
    if (kernel_base == kNoBasePointer) refuse(id_, "initialised without a kernel page table");
    restore_registers(s);
    initialised_ = true;
  }
}

void Vcpu::restore_registers(const VcpuState& saved) {
  const VcpuState::Registers& c = saved.cpu;
  uint16_t cs = c.cs.selector, ss = c.ss.selector;
  bool kernel = cs == ra::kKernelCs, user64 = cs == ra::kUserCs, user32 = cs == ra::kUser32Cs;
  if (!kernel && !user64 && !user32) refuse(id_, fmt::format("code selector {:#x} is no guest mode's", cs));
  if (kernel != in_kernel_mode()) refuse(id_, "code selector and virtual mode disagree");
  if (ss != (kernel ? ra::kKernelSs : ra::kUserDs))
    refuse(id_, fmt::format("stack selector {:#x} does not fit the mode", ss));
  for (const VcpuState::Segment* d : {&c.ds, &c.es, &c.fs, &c.gs}) {
    if (!is_data_selector(d->selector))
      refuse(id_, fmt::format("data selector {:#x} is no guest selector", d->selector));
  }
  if (!pte::is_canonical(c.fs.base) || !pte::is_canonical(c.gs.base)) refuse(id_, "non-canonical segment base");
  uint64_t want_cr3 = kernel ? state_.kernel_cr3 : (state_.user_cr3 ? state_.user_cr3 : state_.kernel_cr3);
  if (c.cr3 != want_cr3) refuse(id_, fmt::format("cr3 {:#x} is not the page table of its mode", c.cr3));

  set_cpuid();
  set_kernel_entry_registers(c.cr3);  // the VMM's GDT, IDT, TSS, control registers
  kvm_sregs s = kvm_.get_sregs();
  s.cs = kernel || user64 ? code64_segment(cs, 3) : code32_segment(cs, 3);
  s.ss = data_segment(ss, 3);
  s.ds = data_register(c.ds.selector, 0);
  s.es = data_register(c.es.selector, 0);
  s.fs = data_register(c.fs.selector, c.fs.base);
  s.gs = data_register(c.gs.selector, c.gs.base);
  s.cr2 = c.cr2;
  kvm_.set_sregs(s);
  kvm_regs r = c.regs;
  r.rflags = sanitize_rflags(r.rflags);
  kvm_.set_regs(r);
  try {
    if (!c.xsave.empty()) kvm_.set_xsave(c.xsave);
    if (!c.xcrs.empty()) kvm_.set_xcrs(c.xcrs);
  } catch (const KvmError& e) {
    refuse(id_, fmt::format("KVM refused its FPU state: {}", e.what()));
  }
  set_syscall_msrs();
  std::vector<kvm_msr_entry> msrs;
  for (auto [index, value] : c.msrs) {
    if (std::find(std::begin(kSavedMsrs), std::end(kSavedMsrs), index) == std::end(kSavedMsrs)) {
      refuse(id_, fmt::format("MSR {:#x} does not travel", index));
    }
    msrs.push_back({index, 0, value});
  }
  try {
    kvm_.set_msrs(msrs);
  } catch (const KvmError& e) {
    refuse(id_, fmt::format("KVM refused an MSR: {}", e.what()));
  }
  // The VMM's working copy: what it reads (upcalls at the first kick)
  // must be what KVM has, and nothing in the sync area may override it.
  regs() = r;
  sregs() = s;
  kvm_.run()->kvm_dirty_regs = 0;
  fresh_ = true;
}

}  // namespace tortuga
