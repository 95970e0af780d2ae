#include "vcpu/vcpu.h"

#include <signal.h>

#include <chrono>
#include <cstring>
#include <ctime>

#include <fmt/format.h>
#include <tortuga/cpu.h>

#include "vcpu/descriptors.h"
#include "domain/domain.h"
#include "kvm/guest_cpuid.h"
#include "domain/guest_fault.h"
#include "events/pvclock.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

namespace ra = reserved_area;

constexpr uint64_t kCr0 = 0x80050033;         // PG AM WP NE ET MP PE
constexpr uint64_t kCr4 = 0x6a0;              // OSXMMEXCPT OSFXSR PGE PAE
constexpr uint64_t kCr4Osxsave = 1ULL << 18;  // with XSAVE in the view (ABI.md 2.4)
constexpr uint64_t kEfer = 0xd01;             // NXE LMA LME SCE
constexpr uint32_t kMsrStar = 0xc0000081, kMsrLstar = 0xc0000082, kMsrCstar = 0xc0000083, kMsrSfmask = 0xc0000084,
                   kMsrTsc = 0x10, kMsrTscAux = 0xc0000103;
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
  runstate_.state = TG_RUNSTATE_offline;
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
  set_kernel_entry_registers(state_.kernel_cr3);
  kvm_regs r{};
  r.rip = layout.entry;
  r.rsp = layout.va(layout.stack_top_gpa);
  r.rsi = layout.va(layout.start_info_gpa);
  r.rflags = 0x202;
  kvm_.set_regs(r);
  set_syscall_msrs();
  init_time_record();
  initialised_ = true;
}

void Vcpu::initialise(const tg_vcpu_guest_context& c, const std::vector<TrapTableEntry>& traps) {
  std::memset(&state_, 0, sizeof state_);
  state_.kernel_mode = 1;
  state_.kernel_cr3 = c.kernel_l4_gfn << 12;
  state_.user_cr3 = c.user_l4_gfn << 12;
  state_.kernel_ss = TG_KERNEL_DS;
  state_.kernel_sp = c.kernel_sp;
  state_.fs_base = c.fs_base;
  state_.gs_base_kernel = c.gs_base_kernel;
  state_.gs_base_user = c.gs_base_user;
  for (unsigned i = 0; i < TG_NR_CALLBACKS; ++i) {
    state_.callback[i] = c.callbacks[i].address;
    state_.callback_flags[i] = c.callbacks[i].flags;
  }
  for (size_t v = 0; v < traps.size() && v < TG_NR_EXCEPTION_VECTORS; ++v) state_.traps[v] = traps[v];
  // KVM refuses to change CPUID once a vCPU has run; it never changes here.
  if (!initialised_) set_cpuid();
  set_kernel_entry_registers(state_.kernel_cr3);
  kvm_sregs s = kvm_.get_sregs();
  s.fs.base = c.fs_base;
  s.gs.base = c.gs_base_kernel;
  kvm_.set_sregs(s);
  kvm_regs r{};
  r.rax = c.rax, r.rbx = c.rbx, r.rcx = c.rcx, r.rdx = c.rdx, r.rsi = c.rsi, r.rdi = c.rdi, r.rbp = c.rbp;
  r.rsp = c.rsp, r.r8 = c.r8, r.r9 = c.r9, r.r10 = c.r10, r.r11 = c.r11, r.r12 = c.r12, r.r13 = c.r13;
  r.r14 = c.r14, r.r15 = c.r15, r.rip = c.rip;
  r.rflags = sanitize_rflags(c.rflags);
  kvm_.set_regs(r);
  // What the sync area held from an earlier life must not override this.
  kvm_.run()->kvm_dirty_regs = 0;
  __atomic_store_n(&info().upcall_mask, (c.rflags & TG_RFLAGS_IF) ? 0 : 1, __ATOMIC_RELEASE);
  set_syscall_msrs();
  init_time_record();
  nmi_active_ = false;
  fresh_ = true;
  initialised_ = true;
}

// Kernel mode at CPL3 on this vCPU's GDT, TSS and the VMM's IDT.
void Vcpu::set_kernel_entry_registers(uint64_t cr3) {
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
  s.cr4 = xcr0_ != 0 ? kCr4 | kCr4Osxsave : kCr4;
  s.efer = kEfer;
  s.cr3 = cr3;
  kvm_.set_sregs(s);
}

// SYSCALL enters the VMM's stub at CPL0; the VMM decides from the virtual
// mode whether it was a hypercall or a guest user system call.
void Vcpu::set_syscall_msrs() {
  kvm_.set_msrs({
      {kMsrStar, 0, (uint64_t{ra::kSysretBase} << 48) | (uint64_t{ra::kVmmCs} << 32)},
      {kMsrLstar, 0, ra::va(ra::kSyscallStub)},
      {kMsrCstar, 0, ra::va(ra::kUnexpectedStub)},
      {kMsrSfmask, 0, kSyscallMask},
      {kMsrTscAux, 0, id_},  // RDTSCP and RDPID tell the vCPU number (ABI.md 2.4)
  });
}

// The guest's CPUID view (ABI.md 2.5, guest_cpuid.cpp), and the XCR0 that
// goes with it (2.4): the guest cannot set XCR0 itself, and KVM's default
// (x87 alone) would leave CPUID leaf 0xD describing state that is off.
void Vcpu::set_cpuid() {
  std::vector<kvm_cpuid_entry2> view = guest_cpuid(Kvm().supported_cpuid());
  kvm_.set_cpuid(view);
  xcr0_ = guest_xcr0(view);
  if (xcr0_ != 0) kvm_.set_xcrs({{0, xcr0_}});
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

// Sleeps on the host until `woken`, the deadline (system time; 0 = none),
// a stop or a down. Counts as blocked time, and as stopped for a quiesce.
void Vcpu::sleep_until(const std::function<bool()>& woken, uint64_t deadline_ns) {
  enter_runstate(TG_RUNSTATE_blocked);
  domain_.quiesce().sleeping(id_);
  {
    std::unique_lock lock(wake_mutex_);
    auto done = [&] { return domain_.stopping() || down_requested_.load() || woken(); };
    if (deadline_ns == 0) {
      wake_cv_.wait(lock, done);
    } else {
      int64_t left = static_cast<int64_t>(deadline_ns) - static_cast<int64_t>(domain_.system_time_ns());
      if (left > 0) wake_cv_.wait_for(lock, std::chrono::nanoseconds(left), done);
    }
  }
  domain_.quiesce().awake(id_);
  enter_runstate(TG_RUNSTATE_running);
}

void Vcpu::block_until_event() {
  sleep_until([&] { return nmi_pending_.load() || __atomic_load_n(&info().upcall_pending, __ATOMIC_ACQUIRE) != 0; }, 0);
}

void Vcpu::start() {
  if (domain_.stopping()) return;
  join();  // the thread of an earlier life, if it was taken down
  down_requested_.store(false);
  up_.store(true);
  domain_.quiesce().set_up(id_, true);
  enter_runstate(TG_RUNSTATE_running);
  thread_object_ = std::thread([this] { run(); });
}

bool Vcpu::join() {
  if (!thread_object_.joinable() || thread_object_.get_id() == std::this_thread::get_id()) return false;
  thread_object_.join();
  return true;
}

void Vcpu::run() {
  install_kick_handler();
  thread_.store(pthread_self());
  Quiesce& quiesce = domain_.quiesce();
  while (!domain_.stopping() && !down_requested_.load()) {
    try {
      // Safe points: nothing of the guest's is touched here, so another
      // vCPU may change the page tables meanwhile (quiesce.h). A pause
      // from outside waits until the vCPU is at a guest instruction.
      if (!quiesce.pause_requested() || ready_to_park()) quiesce.safe_point(id_);
      // A vCPU that has not run since its context was set has no TLB to
      // flush (and no registers in the sync area yet).
      if (flush_pending_.exchange(false) && !fresh_) flush_tlb_now();
      bool exited = kvm_.enter();
      fresh_ = false;
      quiesce.safe_point_after_exit(id_);
      if (!exited) {
        kvm_.run()->immediate_exit = 0;
        ++stats_.kicks;
        on_kick();
        continue;
      }
      ++stats_.exits;
      note_apply_routine_progress();
      exit_cr3_ = sregs().cr3;
      in_exit_.store(true);
      handle_exit();
      in_exit_.store(false);
    } catch (const GuestFault& fault) {
      domain_.kill(fmt::format("vcpu {}: {}", id_, fault.what()));
    } catch (const std::exception& e) {
      domain_.vmm_error(fmt::format("vcpu {}: {}", id_, e.what()));
    }
  }
  in_exit_.store(false);
  thread_.store(pthread_t{});
  enter_runstate(TG_RUNSTATE_offline);
  up_.store(false);
  quiesce.set_up(id_, false);
  domain_.vcpu_stopped();
}

void Vcpu::flush_tlb_now() {
  ApplyProgram flush;
  flush.flush_tlb();
  exit_cr3_ = sregs().cr3;
  run_apply_routine_and_wait(flush);
}

void Vcpu::raise_nmi() {
  nmi_pending_.store(true);
  kick();
  wake();
}

void Vcpu::enter_runstate(uint32_t state) {
  std::lock_guard lock(runstate_mutex_);
  uint64_t now = domain_.system_time_ns();
  if (runstate_.state_entry_time != 0 || runstate_.state != 0) {
    runstate_.time[runstate_.state] += now - runstate_.state_entry_time;
  }
  runstate_.state = state;
  runstate_.state_entry_time = now;
}

tg_vcpu_runstate Vcpu::runstate() {
  std::lock_guard lock(runstate_mutex_);
  tg_vcpu_runstate r = runstate_;
  r.time[r.state] += domain_.system_time_ns() - r.state_entry_time;  // up to now
  return r;
}

void Vcpu::handle_exit() {
  kvm_run* run = kvm_.run();
  switch (run->exit_reason) {
    case KVM_EXIT_IO: handle_io_exit(run->io.port); return;
    case KVM_EXIT_MMIO:
      if (domain_.doorbells().contains(run->mmio.phys_addr)) {
        // Not a doorbell store KVM completes itself (a load, another size,
        // a port with no backend): ignored, loads read 0 (ABI.md 9.6).
        ++stats_.doorbell_misses;
        if (!run->mmio.is_write) std::memset(run->mmio.data, 0, sizeof run->mmio.data);
        return;
      }
      ++stats_.other;
      throw GuestFault(fmt::format("access to guest-physical {:#x}, which is not memory (rip {:#x})",
                                   run->mmio.phys_addr, regs().rip));
    case KVM_EXIT_SHUTDOWN: ++stats_.other; throw GuestFault(fmt::format("triple fault (rip {:#x})", regs().rip));
    case KVM_EXIT_HLT: ++stats_.other; throw GuestFault(fmt::format("CPL0 stub halted at rip {:#x}", regs().rip));
    case KVM_EXIT_FAIL_ENTRY:
      ++stats_.other;
      throw GuestFault(
          fmt::format("KVM refused to enter the guest (reason {:#x})", run->fail_entry.hardware_entry_failure_reason));
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
    throw GuestFault(
        fmt::format("privileged instruction '{}' (port {:#x}) in guest kernel near rip {:#x}", what, port, regs().rip));
  }
  // In user mode, as on hardware: a #GP for the guest kernel to handle.
  ++stats_.exceptions[13];
  // The exit reports rip after the instruction: imm8 forms are 2 bytes, dx forms 1.
  uint64_t insn_length = 1;
  if (address_space().translate(regs().rip - 2, Access::kRead).ok()) {
    uint8_t opcode = address_space().read<uint8_t>(regs().rip - 2);
    if (opcode >= 0xe4 && opcode <= 0xe7) insn_length = 2;
  }
  InterruptedContext ctx{regs().rip - insn_length,
                         TG_USER_CS,
                         virtual_rflags(regs().rflags),
                         regs().rsp,
                         TG_USER_DS,
                         regs().rcx,
                         regs().r11};
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
