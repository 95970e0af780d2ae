#include "vcpu.h"

#include <signal.h>

#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <tortuga/cpu.h>

#include "descriptors.h"
#include "domain.h"
#include "guest_fault.h"
#include "pvclock.h"
#include "reserved_area.h"

namespace tortuga {
namespace {

namespace ra = reserved_area;

constexpr uint64_t kCr0 = 0x80050033;  // PG AM WP NE ET MP PE
constexpr uint64_t kCr4 = 0x6a0;       // OSXMMEXCPT OSFXSR PGE PAE
constexpr uint64_t kEfer = 0xd01;      // NXE LMA LME SCE
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083,
                   kMsrSfmask = 0xc0000084, kMsrTsc = 0x10;
constexpr uint64_t kSyscallMask = 0x44700;  // AC NT DF IF TF: the CPL0 stub runs clean

void install_kick_handler() {
  static bool installed = [] {
    struct sigaction sa {};
    sa.sa_handler = [](int) {};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, nullptr);
    return true;
  }();
  (void)installed;
}

}  // namespace

Vcpu::Vcpu(Domain& domain, uint32_t id, KvmVcpu kvm_vcpu)
    : domain_(domain), id_(id), kvm_(std::move(kvm_vcpu)), state_(ra::vcpu_state(domain.memory(), id)) {
  std::memset(&state_, 0, sizeof state_);
}

tg_vcpu_info& Vcpu::info() { return domain_.shared_info().vcpu_info[id_]; }

GuestAddressSpace Vcpu::address_space() const {
  uint64_t cr3 = (!state_.kernel_mode && state_.user_cr3) ? state_.user_cr3 : state_.kernel_cr3;
  return GuestAddressSpace(domain_.memory(), cr3, &domain_.mmu().pending());
}

GuestAddressSpace Vcpu::kernel_address_space() const {
  return GuestAddressSpace(domain_.memory(), state_.kernel_cr3, &domain_.mmu().pending());
}

void Vcpu::boot(const BootLayout& layout) {
  state_.kernel_mode = 1;
  state_.kernel_cr3 = layout.page_tables_gpa;
  state_.kernel_ss = TG_KERNEL_DS;
  set_cpuid();
  set_boot_registers(layout);
  set_syscall_msrs();
  init_time_record();
}

void Vcpu::set_boot_registers(const BootLayout& layout) {
  kvm_sregs s = kvm_.get_sregs();
  s.cs = code64_segment(ra::kKernelCs, 3);
  s.ss = s.ds = s.es = s.fs = s.gs = data_segment(ra::kKernelSs, 3);
  uint64_t vcpu_base = ra::vcpu_offset(id_);
  s.tr = tss_segment(ra::kTssSelector, ra::va(vcpu_base + ra::kTssOffset), ra::kTssLimit);
  s.gdt.base = ra::va(vcpu_base + ra::kGdtOffset);
  s.gdt.limit = ra::kGdtLimit;
  s.idt.base = ra::va(ra::kIdt);
  s.idt.limit = 256 * 16 - 1;
  s.ldt = {};
  s.ldt.unusable = 1;
  s.cr0 = kCr0;
  s.cr4 = kCr4;
  s.efer = kEfer;
  s.cr3 = state_.kernel_cr3;
  kvm_.set_sregs(s);

  kvm_regs r{};
  r.rip = layout.entry;
  r.rsp = layout.va(layout.stack_top_gpa);
  r.rsi = layout.va(layout.start_info_gpa);
  r.rflags = 0x202;
  kvm_.set_regs(r);
}

// SYSCALL enters the VMM's stub at CPL0; the VMM decides from the virtual
// mode whether it was a hypercall or a guest user system call.
void Vcpu::set_syscall_msrs() {
  kvm_.set_msrs({
      {kMsrStar, 0, (uint64_t{ra::kSysretBase} << 48) | (uint64_t{ra::kVmmCs} << 32)},
      {kMsrLstar, 0, ra::va(ra::kSyscallStub)},
      {kMsrCstar, 0, ra::va(ra::kUnexpectedStub)},
      {kMsrSfmask, 0, kSyscallMask},
  });
}

// The guest's CPUID view: what KVM supports, with Tortuga's signature in
// the hypervisor leaves instead of KVM's.
void Vcpu::set_cpuid() {
  std::vector<kvm_cpuid_entry2> cpuid;
  for (const auto& e : Kvm().supported_cpuid()) {
    if (e.function < TG_CPUID_LEAF_BASE || e.function > TG_CPUID_LEAF_BASE + 0xff) cpuid.push_back(e);
  }
  kvm_cpuid_entry2 base{};
  base.function = TG_CPUID_LEAF_BASE;
  base.eax = TG_CPUID_LEAF_BASE + 1;
  std::memcpy(&base.ebx, TG_CPUID_SIGNATURE, 4);
  std::memcpy(&base.ecx, TG_CPUID_SIGNATURE + 4, 4);
  std::memcpy(&base.edx, TG_CPUID_SIGNATURE + 8, 4);
  kvm_cpuid_entry2 version{};
  version.function = TG_CPUID_LEAF_BASE + 1;
  version.eax = TG_ABI_VERSION;
  cpuid.push_back(base);
  cpuid.push_back(version);
  kvm_.set_cpuid(cpuid);
}

void Vcpu::init_time_record() {
  uint64_t khz = domain_.tsc_khz();
  if (khz == 0) return;  // no TSC frequency: the record stays invalid (mul 0)
  PvclockScale scale = pvclock_scale(khz * 1000);
  auto& t = info().time;
  t.version += 1;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  t.tsc_timestamp = kvm_.get_msr(kMsrTsc);
  t.system_time = domain_.system_time_ns();
  t.tsc_to_system_mul = scale.mul;
  t.tsc_shift = scale.shift;
  t.flags = TG_PVCLOCK_TSC_STABLE;
  __atomic_thread_fence(__ATOMIC_RELEASE);
  t.version += 1;
}

void Vcpu::kick() {
  pthread_t t = thread_.load();
  // The vCPU's own thread is in the VMM already: whatever it must notice
  // is checked before it re-enters the guest, at no extra exit.
  if (t == pthread_self()) return;
  kvm_.run()->immediate_exit = 1;
  if (t != pthread_t{}) pthread_kill(t, SIGUSR1);
  wake();
}

void Vcpu::wake() {
  std::lock_guard lock(wake_mutex_);
  wake_cv_.notify_all();
}

void Vcpu::block_until_event() {
  std::unique_lock lock(wake_mutex_);
  wake_cv_.wait(lock, [&] {
    return domain_.stopping() || __atomic_load_n(&info().upcall_pending, __ATOMIC_ACQUIRE) != 0;
  });
}

void Vcpu::run() {
  install_kick_handler();
  thread_.store(pthread_self());
  while (!domain_.stopping()) {
    try {
      if (!kvm_.enter()) {
        kvm_.run()->immediate_exit = 0;
        ++stats_.kicks;
        on_kick();
        continue;
      }
      ++stats_.exits;
      note_apply_routine_progress();
      exit_cr3_ = sregs().cr3;
      handle_exit();
    } catch (const GuestFault& fault) {
      domain_.kill(fmt::format("vcpu {}: {}", id_, fault.what()));
    } catch (const std::exception& e) {
      domain_.vmm_error(fmt::format("vcpu {}: {}", id_, e.what()));
    }
  }
  thread_.store(pthread_t{});
}

void Vcpu::handle_exit() {
  kvm_run* run = kvm_.run();
  switch (run->exit_reason) {
    case KVM_EXIT_IO:
      handle_io_exit(run->io.port);
      return;
    case KVM_EXIT_MMIO:
      ++stats_.other;
      throw GuestFault(fmt::format("access to guest-physical {:#x}, which is not memory (rip {:#x})",
                                   run->mmio.phys_addr, regs().rip));
    case KVM_EXIT_SHUTDOWN:
      ++stats_.other;
      throw GuestFault(fmt::format("triple fault (rip {:#x})", regs().rip));
    case KVM_EXIT_HLT:
      ++stats_.other;
      throw GuestFault(fmt::format("CPL0 stub halted at rip {:#x}", regs().rip));
    case KVM_EXIT_FAIL_ENTRY:
      ++stats_.other;
      throw GuestFault(fmt::format("KVM refused to enter the guest (reason {:#x})",
                                   run->fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
      ++stats_.other;
      throw GuestFault(fmt::format("KVM internal error {} at rip {:#x}", run->internal.suberror, regs().rip));
    default:
      ++stats_.other;
      throw GuestFault(fmt::format("unexpected KVM exit {} at rip {:#x}", run->exit_reason, regs().rip));
  }
}

void Vcpu::handle_io_exit(uint16_t port) {
  // A stub's `out` leaves rip right after it. Anything else is an I/O
  // instruction of the guest's own, which some hosts (PVM) turn into an
  // I/O exit instead of the #GP that CPL3 gets on hardware.
  bool from_vmm_cs = sregs().cs.selector == ra::kVmmCs;
  if (port < TG_NR_EXCEPTION_VECTORS && from_vmm_cs &&
      regs().rip == ra::va(ra::exception_stub(port)) + ra::kStubOutLength) {
    handle_exception(port);
  } else if (port == ra::kPortSyscall && regs().rip == ra::va(ra::kSyscallStub) + ra::kStubOutLength) {
    handle_syscall();
  } else if (port == ra::kPortApplyDone && from_vmm_cs && apply_in_flight_ &&
             regs().rip == ra::va(ra::apply_code_offset(id_)) + apply_end_offset_) {
    finish_apply_routine_in_vmm();
  } else if (port == ra::kPortUnexpectedVector && from_vmm_cs &&
             regs().rip == ra::va(ra::kUnexpectedStub) + ra::kStubOutLength) {
    ++stats_.other;
    throw GuestFault("interrupt on a vector the guest cannot use (software int or a stray event)");
  } else {
    handle_guest_port_io(port);
  }
  deliver_pending_upcall();
  if (!apply_program_.empty()) resume_through_apply_routine();
  // Every handled exit resumes the guest at CPL3 with registers we set.
  kvm_.mark_regs_dirty();
  kvm_.mark_sregs_dirty();
}

void Vcpu::handle_guest_port_io(uint16_t port) {
  const char* what = kvm_.run()->io.direction == KVM_EXIT_IO_OUT ? "out" : "in";
  if (in_kernel_mode()) {
    ++stats_.other;
    throw GuestFault(fmt::format("privileged instruction '{}' (port {:#x}) in guest kernel near rip {:#x}", what,
                                 port, regs().rip));
  }
  // In user mode, as on hardware: a #GP for the guest kernel to handle.
  ++stats_.exceptions[13];
  // The exit reports rip after the instruction: imm8 forms are 2 bytes, dx forms 1.
  uint64_t insn_length = 1;
  if (address_space().translate(regs().rip - 2, Access::kRead).ok()) {
    uint8_t opcode = address_space().read<uint8_t>(regs().rip - 2);
    if (opcode >= 0xe4 && opcode <= 0xe7) insn_length = 2;
  }
  InterruptedContext ctx{regs().rip - insn_length, TG_USER_CS, virtual_rflags(regs().rflags), regs().rsp,
                         TG_USER_DS, regs().rcx, regs().r11};
  deliver_exception(13, ctx, uint64_t{0});
}

void Vcpu::handle_syscall() {
  if (in_kernel_mode()) {
    handle_hypercall();
  } else {
    ++stats_.syscall_bounces;
    bounce_user_syscall();
  }
}

}  // namespace tortuga
