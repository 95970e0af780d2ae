// One virtual CPU of a domain: its KVM vCPU, the run loop on sync regs, and
// everything that happens at an exit. The loop is in vcpu.cpp, bouncing
// traps into the guest kernel in trap_bounce.cpp, hypercalls in
// hypercalls/.
#pragma once

#include <pthread.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <tortuga/shared_info.h>
#include <tortuga/vcpu.h>

#include "mmu/apply_program.h"
#include "vcpu/exit_stats.h"
#include "mmu/guest_address_space.h"
#include "kvm/kvm.h"
#include "vcpu/vcpu_state.h"
#include "vcpu/virtual_cpu_state.h"

namespace tortuga {

class Domain;
struct BootLayout;
namespace hypercalls {
struct Entry;
struct Args;
}  // namespace hypercalls

// The guest context at the moment of a trap, in guest terms: virtual
// selectors and the virtual interrupt flag in rflags.
struct InterruptedContext {
  uint64_t rip, cs, rflags, rsp, ss, rcx, r11;
};

class Vcpu {
 public:
  // Runs until the domain stops or the vCPU is taken down. A GuestFault
  // becomes the domain's kill reason.
  void run();
  Vcpu(Domain& domain, uint32_t id, KvmVcpu kvm_vcpu);
  Vcpu(const Vcpu&) = delete;
  Vcpu& operator=(const Vcpu&) = delete;

  // Sets the boot state: kernel mode at the entry point, events masked.
  void boot(const BootLayout& layout);
  // TG_VCPUOP_initialise: the state a down vCPU starts from. The context
  // was validated by the caller (hypercalls/vcpu_op.cpp).
  void initialise(const tg_vcpu_guest_context& ctx, const std::vector<TrapTableEntry>& traps);
  bool initialised() const { return initialised_; }
  // Starts the vCPU's thread (TG_VCPUOP_up, and vCPU 0 at boot).
  void start();
  // Asks the vCPU's thread to stop at its next exit (TG_VCPUOP_down).
  void request_down() {
    down_requested_.store(true);
    kick();
  }
  // Waits for the vCPU's thread to end; false if there was none to wait for.
  bool join();
  bool is_up() const { return up_.load(); }
  // The next time this vCPU enters the guest, flush its TLB first.
  void flush_before_entry() { flush_pending_.store(true); }
  // TG_VCPUOP_send_nmi.
  void raise_nmi();  // also wakes it from block
  void nmi_returned() { nmi_active_ = false; }
  tg_vcpu_runstate runstate();
  // Makes a running KVM_RUN return soon, from any thread.
  void kick();
  // Wakes a vCPU sleeping in sched_op block.
  void wake();

  uint32_t id() const { return id_; }
  uint64_t tsc_khz() { return kvm_.tsc_khz(); }
  Domain& domain() { return domain_; }
  VirtualCpuState& state() { return state_; }
  tg_vcpu_info& info();
  kvm_regs& regs() { return kvm_.regs(); }
  kvm_sregs& sregs() { return kvm_.sregs(); }
  ExitStats& stats() { return stats_; }
  const ExitStats& stats() const { return stats_; }
  bool in_kernel_mode() const { return state_.kernel_mode != 0; }

  // The address space the guest is running in now.
  GuestAddressSpace address_space() const;
  GuestAddressSpace kernel_address_space() const;
  // Runs one hypercall as dispatch does (a page-table call with the other
  // vCPUs stopped, under the frame lock): for calls made on the guest's
  // behalf by another, such as the batch an iret carries.
  int64_t call_hypercall(const hypercalls::Entry& entry, const hypercalls::Args& args);

  // Mode switches: page table, GS base and hardware selectors.
  void switch_to_kernel_mode();
  void switch_to_user_mode(bool compat);
  // Hardware segments for resuming in kernel mode.
  void load_kernel_segments();
  // Resumes the guest kernel at handler with a bounce frame describing ctx
  // (see <tortuga/cpu.h>); `extra` is the error code or failsafe reason.
  // In kernel mode the frame goes below `kernel_stack` when given, else
  // below ctx.rsp; from user mode it goes below the stack_switch stack.
  void bounce(uint64_t handler, const InterruptedContext& ctx, std::optional<uint64_t> extra, bool mask_events,
              const char* what, std::optional<uint64_t> kernel_stack = std::nullopt);
  // Completes a hypercall: result in rax, back to the hypercall page.
  void return_from_hypercall(int64_t result);
  // Real RFLAGS for the guest from guest-supplied ones: IF set, IOPL 0.
  static uint64_t sanitize_rflags(uint64_t rflags);
  // Sleeps until an event is pending for this vCPU or the domain stops.
  void block_until_event();
  // Sleeps until one of the ports is pending, system time reaches
  // deadline_ns (0: never), or the domain stops. True if a port is pending.
  bool poll_ports(const std::vector<uint32_t>& ports, uint64_t deadline_ns);
  // An event was raised for this vCPU (upcalls.cpp): kick it if it must
  // take an upcall, and wake it if it sleeps.
  void notify_event(bool unmasked);
  // Bounces to the event callback if an unmasked upcall is pending and
  // the vCPU is at a guest instruction; true when it did.
  bool deliver_pending_upcall();

  // Page-table writes and flushes validated during this exit. They are
  // applied by a CPL0 routine inside the guest (page_table_apply.cpp) on
  // the way back to the guest, at no extra exit.
  ApplyProgram& apply_program() { return apply_program_; }
  // Runs the pending program now and waits for it (one exit): when it is
  // full, or before the VMM needs guest RAM to hold the new entries.
  void apply_page_table_writes_now();
  // Makes sure the program can take `ops` more writes.
  void ensure_apply_room(size_t ops) {
    if (apply_program_.room() < ops) apply_page_table_writes_now();
  }
  // Save and restore (vcpu_state.cpp). save() runs while the domain is
  // paused from outside: the vCPU is parked at a guest instruction, or
  // asleep inside a hypercall, which then restarts on restore. restore()
  // runs before the vCPU's thread exists; it checks the state against the
  // domain (modes, selectors, base pointers) and throws
  // std::invalid_argument naming what is wrong.
  VcpuState save();
  void restore(const VcpuState& state, uint64_t saved_system_time_ns);
  // Rewrites the pvclock record for this host (ABI.md 6.1, 21).
  void refresh_time_record() { init_time_record(); }

  // NEW_BASEPTR / NEW_USER_BASEPTR: gpa of a pinned L4 (user: 0 = none).
  void set_kernel_page_table(uint64_t gpa);
  void set_user_page_table(uint64_t gpa);

 private:
  void set_boot_registers(const BootLayout& layout);
  void set_kernel_entry_registers(uint64_t cr3);
  void flush_tlb_now();
  void enter_runstate(uint32_t state);
  void sleep_until(const std::function<bool()>& woken, uint64_t deadline_ns);
  ApplyProgram::Encoded encode_apply_routine(const ApplyProgram& program, ApplyProgram::Ending ending,
                                             const ApplyProgram::GuestRegisters& restore);
  void enter_apply_routine(const ApplyProgram& program, uint64_t rsp);
  void resume_through_apply_routine();
  void on_kick();
  // For a pause from outside: true when the vCPU may park, i.e. it is at a
  // guest instruction with nothing of the VMM's in flight. Otherwise it
  // arranges for the next entry to end at such a point (an apply routine
  // made to exit) and the vCPU enters once more.
  bool ready_to_park();
  VcpuState::Registers save_registers(bool restart_hypercall);
  void restore_registers(const VcpuState& s);
  // Turns the in-flight routine's final iretq into an exit to the VMM, so
  // that an event can be delivered as soon as it is done.
  void make_apply_routine_exit();
  void finish_apply_routine_in_vmm();
  bool at_guest_instruction();
  // The context the vCPU would resume, as a bounce frame describes it.
  InterruptedContext current_context();
  void run_apply_routine_and_wait(const ApplyProgram& program);
  void note_apply_routine_progress();
  ApplyProgram::Layout apply_layout() const;
  void set_syscall_msrs();
  void set_cpuid();
  void init_time_record();
  void handle_exit();
  void handle_io_exit(uint16_t port);
  void handle_exception(unsigned vector);
  bool rewrite_software_interrupt(unsigned& vector, InterruptedContext& ctx, std::optional<uint64_t>& error);
  void handle_syscall();
  void handle_guest_port_io(uint16_t port);
  void handle_hypercall();
  int64_t call_with_others_stopped(const hypercalls::Entry& entry, const hypercalls::Args& args);
  void bounce_user_syscall();
  InterruptedContext context_from_cpl0_frame(unsigned vector, std::optional<uint64_t>& error_code);
  uint64_t virtual_rflags(uint64_t real_rflags);
  // Bounces an exception to the guest's handler for it, or kills the
  // domain when there is none.
  void deliver_exception(unsigned vector, const InterruptedContext& ctx, std::optional<uint64_t> error_code);
  [[noreturn]] void kill_for_exception(unsigned vector, const InterruptedContext& ctx, uint64_t error_code);

  Domain& domain_;
  uint32_t id_;
  KvmVcpu kvm_;
  VirtualCpuState& state_;
  ExitStats stats_;
  ApplyProgram apply_program_;
  bool apply_in_flight_ = false;   // a routine was entered and may not have finished
  uint64_t exit_cr3_ = 0;          // the page table the guest exited from: it maps the routine
  uint64_t apply_end_offset_ = 0;  // code bytes of the in-flight routine (its iretq is the last 2)
  std::atomic<pthread_t> thread_{};
  std::thread thread_object_;
  bool initialised_ = false;
  uint64_t xcr0_ = 0;                 // what set_cpuid fixed XCR0 to; 0: no XSAVE, and no CR4.OSXSAVE
  bool fresh_ = true;                 // not run since boot() or initialise()
  std::atomic<bool> in_exit_{false};  // between an exit and the end of its handling
  std::atomic<bool> up_{false};
  std::atomic<bool> down_requested_{false};
  std::atomic<bool> flush_pending_{false};
  std::atomic<bool> nmi_pending_{false};
  bool nmi_active_ = false;  // delivered, until the next iret
  std::mutex runstate_mutex_;
  tg_vcpu_runstate runstate_{};
  std::mutex wake_mutex_;
  std::condition_variable wake_cv_;
};

}  // namespace tortuga
