// Running a vCPU's ApplyProgram: the CPL0 routine in the VMM's reserved
// area that performs validated page-table writes and TLB flushes in the
// guest's own context, where KVM's shadow MMU and dirty logging see them
// (PLATFORM.md; ABI.md 8.6).
//
// Normally the routine is entered on the way back from the exit that
// validated the writes and ends with iretq into the guest: the writes cost
// no exit of their own. When the VMM must wait for them (a full program,
// or RAM about to be released), it runs the routine to an `out` instead.
#include <utility>

#include <fmt/format.h>

#include "vcpu/descriptors.h"
#include "domain/domain.h"
#include "domain/guest_fault.h"
#include "vcpu/reserved_area.h"
#include "vcpu/vcpu.h"

namespace tortuga {
namespace {

namespace ra = reserved_area;

constexpr uint64_t kRoutineRflags = 0x2;  // IF clear: nothing interrupts it

// Where the frame the routine's iretq pops lies: the top of the CPL0 stack.
constexpr uint64_t iret_frame_offset(uint32_t vcpu) { return ra::vcpu_offset(vcpu) + ra::kStackTopOffset - 5 * 8; }

}  // namespace

ApplyProgram::Layout Vcpu::apply_layout() const {
  return {ra::va(ra::apply_code_offset(id_)), ra::va(ra::apply_values_offset(id_)), ra::kRamMapVa};
}

// Writes program's routine into this vCPU's slot of the reserved area.
ApplyProgram::Encoded Vcpu::encode_apply_routine(const ApplyProgram& program, ApplyProgram::Ending ending,
                                                 const ApplyProgram::GuestRegisters& restore) {
  const GuestMemory& m = domain_.memory();
  auto* code = m.reserved<uint8_t[ApplyProgram::kMaxCodeBytes]>(ra::apply_code_offset(id_));
  auto* values = m.reserved<uint64_t[ApplyProgram::kCapacity]>(ra::apply_values_offset(id_));
  return program.encode(*code, *values, apply_layout(), ending, restore, ra::kPortApplyDone);
}

// Points the vCPU at the routine, at CPL0 on the page table it exited from
// (a page table this exit made may lack the VMM's slot until the routine
// has run), and counts what the routine carries.
void Vcpu::enter_apply_routine(const ApplyProgram& program, uint64_t rsp) {
  regs().rip = ra::va(ra::apply_code_offset(id_));
  regs().rsp = rsp;
  regs().rflags = kRoutineRflags;
  sregs().cs = code64_segment(ra::kVmmCs, 0);
  sregs().ss = data_segment(ra::kVmmDs, 0);
  sregs().cr3 = exit_cr3_;
  ++stats_.apply_routines;
  stats_.applied_entries += program.store_count();
  if (program.flushes_tlb()) ++stats_.tlb_flushes;
}

void Vcpu::resume_through_apply_routine() {
  while (!apply_program_.fits()) run_apply_routine_and_wait(apply_program_.take_front(ApplyProgram::kCapacity));
  kvm_regs& r = regs();
  kvm_sregs& s = sregs();
  uint64_t target_cr3 = s.cr3;
  auto encoded = encode_apply_routine(apply_program_, ApplyProgram::Ending::kIretToGuest,
                                      {r.rax, r.rcx, r.rsi, r.rdi, target_cr3 != exit_cr3_ ? target_cr3 : 0});
  apply_end_offset_ = encoded.code_bytes;
  // The frame iretq pops: where the guest was about to resume.
  uint64_t frame_offset = iret_frame_offset(id_);
  auto* frame = domain_.memory().reserved<uint64_t[5]>(frame_offset);
  (*frame)[0] = r.rip;
  (*frame)[1] = s.cs.selector;
  (*frame)[2] = r.rflags;
  (*frame)[3] = r.rsp;
  (*frame)[4] = s.ss.selector;
  enter_apply_routine(apply_program_, ra::va(frame_offset));
  apply_program_.clear();
  apply_in_flight_ = true;
}

// Called at every exit: once the vCPU is out of the routine, the writes it
// was carrying are in guest RAM and no longer pending.
void Vcpu::note_apply_routine_progress() {
  if (!apply_in_flight_) return;
  uint64_t code = ra::va(ra::apply_code_offset(id_));
  bool inside = sregs().cs.selector == ra::kVmmCs && regs().rip >= code && regs().rip < code + ra::kApplyValuesOffset;
  if (inside) return;  // only a fault in the routine exits here; the exit handler reports it
  apply_in_flight_ = false;
  domain_.mmu().applied();
}

void Vcpu::make_apply_routine_exit() {
  uint8_t* ending = domain_.memory().reserved<uint8_t[2]>(ra::apply_code_offset(id_) + apply_end_offset_ - 2)[0];
  if (ending[0] == 0x48 && ending[1] == 0xcf) {  // iretq -> out %al, $kPortApplyDone
    ending[0] = 0xe6;
    ending[1] = static_cast<uint8_t>(ra::kPortApplyDone);
  }
}

// The routine stopped at its last instruction instead of iretq: do the
// iretq here, from the frame it would have popped.
void Vcpu::finish_apply_routine_in_vmm() {
  const uint64_t* frame = domain_.memory().reserved<uint64_t[5]>(iret_frame_offset(id_))[0];
  regs().rip = frame[0];
  regs().rflags = frame[2];
  regs().rsp = frame[3];
  if (frame[1] == ra::kKernelCs) {
    load_kernel_segments();
  } else {
    sregs().cs = code64_segment(static_cast<uint16_t>(frame[1]), 3);
    sregs().ss = data_segment(static_cast<uint16_t>(frame[4]), 3);
  }
  apply_in_flight_ = false;
  domain_.mmu().applied();
}

void Vcpu::apply_page_table_writes_now() {
  while (!apply_program_.empty()) {
    if (apply_program_.fits()) {
      run_apply_routine_and_wait(std::exchange(apply_program_, {}));
    } else {
      run_apply_routine_and_wait(apply_program_.take_front(ApplyProgram::kCapacity));
    }
  }
  domain_.mmu().applied();
}

// Runs one routine to its final `out` and puts the vCPU back as it was.
void Vcpu::run_apply_routine_and_wait(const ApplyProgram& program) {
  kvm_regs saved_regs = regs();
  kvm_sregs saved_sregs = sregs();
  auto encoded = encode_apply_routine(program, ApplyProgram::Ending::kExitToVmm, {});
  enter_apply_routine(program, ra::va(ra::vcpu_offset(id_) + ra::kStackTopOffset));
  kvm_.mark_regs_dirty();
  kvm_.mark_sregs_dirty();
  while (!kvm_.enter()) {  // a kick: the routine carries on where it was
    kvm_.run()->immediate_exit = 0;
    ++stats_.kicks;
    if (domain_.stopping()) throw GuestFault("domain stopped while applying page-table writes");
  }
  ++stats_.exits;
  kvm_run* run = kvm_.run();
  if (run->exit_reason != KVM_EXIT_IO || run->io.port != ra::kPortApplyDone || regs().rip != encoded.exit_rip) {
    throw GuestFault(
        fmt::format("the page-table apply routine stopped (exit {}, rip {:#x})", run->exit_reason, regs().rip));
  }
  ++stats_.apply_exits;
  regs() = saved_regs;
  sregs() = saved_sregs;
  kvm_.mark_regs_dirty();
  kvm_.mark_sregs_dirty();
}

void Vcpu::set_kernel_page_table(uint64_t gpa) {
  if (gpa == state_.kernel_cr3) {
    // Reloading the same CR3 changes nothing KVM sees, but the ABI promises
    // a flush: let the routine do a real one.
    domain_.mmu().full_flush_requested(apply_program_);
  }
  state_.kernel_cr3 = gpa;
  if (in_kernel_mode()) sregs().cr3 = gpa;
}

void Vcpu::set_user_page_table(uint64_t gpa) {
  state_.user_cr3 = gpa;
  if (!in_kernel_mode()) sregs().cr3 = gpa ? gpa : state_.kernel_cr3;
}

}  // namespace tortuga
