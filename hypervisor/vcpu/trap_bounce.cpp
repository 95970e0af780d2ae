// Trap bouncing: how exceptions and user SYSCALLs that left the guest at
// CPL3 are handed to the handlers the guest kernel registered, with the
// frames of <tortuga/cpu.h>, and how the virtual CPU switches between its
// kernel and user modes.
#include <array>

#include <fmt/format.h>
#include <tortuga/cpu.h>

#include "vcpu/descriptors.h"
#include "domain/domain.h"
#include "domain/guest_fault.h"
#include "vcpu/privileged_instruction.h"
#include "vcpu/reserved_area.h"
#include "vcpu/vcpu.h"

namespace tortuga {
namespace {

namespace ra = reserved_area;

const char* exception_name(unsigned vector) {
  // A table, several names a line.
  // clang-format off
  static constexpr std::array<const char*, TG_NR_EXCEPTION_VECTORS> kNames = {
      "divide error (#DE)", "debug (#DB)", "NMI", "breakpoint (#BP)", "overflow (#OF)",
      "bound range (#BR)", "invalid opcode (#UD)", "device not available (#NM)",
      "double fault (#DF)", "vector 9", "invalid TSS (#TS)", "segment not present (#NP)",
      "stack fault (#SS)", "general protection fault (#GP)", "page fault (#PF)", "vector 15",
      "x87 error (#MF)", "alignment check (#AC)", "machine check (#MC)", "SIMD error (#XM)",
      "virtualization exception (#VE)", "control protection (#CP)", "vector 22", "vector 23",
      "vector 24", "vector 25", "vector 26", "vector 27", "vector 28", "vector 29",
      "vector 30", "vector 31"};
  // clang-format on
  return vector < kNames.size() ? kNames[vector] : "unknown vector";
}

}  // namespace

uint64_t Vcpu::sanitize_rflags(uint64_t rflags) { return (rflags & TG_RFLAGS_USER_MASK) | 0x202; }

uint64_t Vcpu::virtual_rflags(uint64_t real_rflags) {
  uint64_t masked = __atomic_load_n(&info().upcall_mask, __ATOMIC_RELAXED);
  return (real_rflags & ~TG_RFLAGS_IF) | (masked ? 0 : TG_RFLAGS_IF);
}

void Vcpu::load_kernel_segments() {
  sregs().cs = code64_segment(ra::kKernelCs, 3);
  sregs().ss = data_segment(ra::kKernelSs, 3);
}

void Vcpu::switch_to_kernel_mode() {
  state_.kernel_mode = 1;
  sregs().cr3 = state_.kernel_cr3;
  sregs().gs.base = state_.gs_base_kernel;
  load_kernel_segments();
}

void Vcpu::switch_to_user_mode(bool compat) {
  state_.kernel_mode = 0;
  sregs().cr3 = state_.user_cr3 ? state_.user_cr3 : state_.kernel_cr3;
  sregs().gs.base = state_.gs_base_user;
  sregs().cs = compat ? code32_segment(ra::kUser32Cs, 3) : code64_segment(ra::kUserCs, 3);
  sregs().ss = data_segment(ra::kUserDs, 3);
}

InterruptedContext Vcpu::context_from_cpl0_frame(unsigned vector, std::optional<uint64_t>& error_code) {
  // The CPU switched to this vCPU's CPL0 stack (TSS.RSP0) and pushed
  // [error code,] rip, cs, rflags, rsp, ss; the stub pushed nothing.
  bool has_error = TG_VECTOR_HAS_ERROR_CODE(vector);
  uint64_t stack_top = ra::vcpu_offset(id_) + ra::kStackTopOffset;
  uint64_t frame_at = stack_top - (has_error ? 6 : 5) * 8;
  if (regs().rsp != ra::va(frame_at)) {
    throw GuestFault(
        fmt::format("{} raised inside the VMM's CPL0 stub (rsp {:#x})", exception_name(vector), regs().rsp));
  }
  const uint64_t* f = domain_.memory().reserved<uint64_t[6]>(frame_at)[0];
  if (has_error) error_code = *f++;
  uint64_t rip = f[0], cs = f[1], rflags = f[2], rsp = f[3];
  if ((cs & 3) != 3) {
    throw GuestFault(fmt::format("{} raised at CPL0 in the VMM's stub (rip {:#x})", exception_name(vector), rip));
  }
  InterruptedContext ctx{rip, 0, virtual_rflags(rflags), rsp, 0, regs().rcx, regs().r11};
  if (in_kernel_mode()) {
    ctx.cs = TG_KERNEL_CS;
    ctx.ss = TG_KERNEL_DS;
  } else {
    ctx.cs = (cs & 0xffff) == ra::kUser32Cs ? TG_USER32_CS : TG_USER_CS;
    ctx.ss = TG_USER_DS;
  }
  return ctx;
}

// Software interrupts never enter a gate, and hosts differ in what they
// raise for them (#GP on hardware, #UD on PVM). Rewrites the exception to
// what ABI.md specifies on every host; returns false when it is not one.
bool Vcpu::rewrite_software_interrupt(unsigned& vector, InterruptedContext& ctx, std::optional<uint64_t>& error) {
  if (vector != 6 && vector != 13) return false;
  GuestAddressSpace as = address_space();
  if (!as.translate(ctx.rip, Access::kRead).ok()) return false;
  uint8_t op = as.read<uint8_t>(ctx.rip);
  uint8_t n = 0;
  if (op == 0xcd) {
    if (!as.translate(ctx.rip + 1, Access::kRead).ok()) return false;
    n = as.read<uint8_t>(ctx.rip + 1);
  }
  if (op == 0xcc || (op == 0xcd && n == 3)) {  // int3, int $3: #BP after the instruction
    vector = 3;
    ctx.rip += op == 0xcc ? 1 : 2;
    error.reset();
  } else if (op == 0xf1) {  // int1
    vector = 1;
    ctx.rip += 1;
    error.reset();
  } else if (op == 0xcd) {
    if (in_kernel_mode()) {
      throw GuestFault(fmt::format("privileged instruction 'int ${:#x}' in guest kernel at rip {:#x}", n, ctx.rip));
    }
    vector = 13;  // what hardware raises for a DPL-0 gate
    error = (uint64_t{n} << 3) | 2;
  } else {
    return false;
  }
  return true;
}

void Vcpu::handle_exception(unsigned vector) {
  ++stats_.exceptions[vector];
  std::optional<uint64_t> error_code;
  InterruptedContext ctx = context_from_cpl0_frame(vector, error_code);
  rewrite_software_interrupt(vector, ctx, error_code);
  if (in_kernel_mode() && vector == 13) {
    // A guest kernel runs at CPL3, so its privileged instructions fault
    // here. They are bugs in the port, never something to emulate.
    std::array<uint8_t, 15> code{};
    size_t got = 0;
    for (; got < code.size(); ++got) {
      if (!kernel_address_space().translate(ctx.rip + got, Access::kRead).ok()) break;
      code[got] = kernel_address_space().read<uint8_t>(ctx.rip + got);
    }
    if (auto name = privileged_instruction_name(std::span(code.data(), got))) {
      throw GuestFault(fmt::format("privileged instruction '{}' in guest kernel at rip {:#x}", *name, ctx.rip));
    }
  }
  if (vector == 14) {
    // The hardware reports every fault as a user access (both modes run at
    // CPL3); the guest sees the U/S bit of its virtual mode.
    constexpr uint64_t kUserAccess = 1ULL << 2;
    if (in_kernel_mode()) *error_code &= ~kUserAccess;
  }
  if (vector == 14) info().cr2 = sregs().cr2;
  deliver_exception(vector, ctx, error_code);
}

void Vcpu::deliver_exception(unsigned vector, const InterruptedContext& ctx, std::optional<uint64_t> error_code) {
  const TrapTableEntry& trap = state_.traps[vector];
  if (trap.handler == 0) kill_for_exception(vector, ctx, error_code.value_or(0));
  bounce(trap.handler, ctx, error_code, trap.flags & TG_TRAPF_MASK_EVENTS, exception_name(vector));
}

void Vcpu::kill_for_exception(unsigned vector, const InterruptedContext& ctx, uint64_t error_code) {
  const char* mode = in_kernel_mode() ? "kernel" : "user";
  if (vector == 14) {
    throw GuestFault(
        fmt::format("page fault at {:#x} (error {:#x}) in guest {} mode at rip {:#x}, no handler registered",
                    sregs().cr2, error_code, mode, ctx.rip));
  }
  throw GuestFault(fmt::format("{} (vector {}, error {:#x}) in guest {} mode at rip {:#x}, no handler registered",
                               exception_name(vector), vector, error_code, mode, ctx.rip));
}

void Vcpu::bounce_user_syscall() {
  uint64_t handler = state_.callback[TG_CALLBACK_SYSCALL];
  if (handler == 0) {
    // No syscall callback: the instruction is invalid, as with EFER.SCE clear.
    constexpr uint64_t kSyscallLength = 2;
    InterruptedContext ud{regs().rcx - kSyscallLength,
                          TG_USER_CS,
                          virtual_rflags(regs().r11),
                          regs().rsp,
                          TG_USER_DS,
                          regs().rcx,
                          regs().r11};
    deliver_exception(6, ud, std::nullopt);
    return;
  }
  // SYSCALL left the return address in rcx and RFLAGS in r11.
  InterruptedContext ctx{regs().rcx, TG_USER_CS, virtual_rflags(regs().r11), regs().rsp, TG_USER_DS,
                         regs().rcx, regs().r11};
  bounce(handler, ctx, std::nullopt, state_.callback_flags[TG_CALLBACK_SYSCALL] & TG_CALLBACKF_MASK_EVENTS, "syscall");
}

void Vcpu::bounce(uint64_t handler, const InterruptedContext& ctx, std::optional<uint64_t> extra, bool mask_events,
                  const char* what, std::optional<uint64_t> kernel_stack) {
  bool from_user = !in_kernel_mode();
  // Checked at delivery too: the guest may have unmapped it since.
  Translation code = kernel_address_space().translate(handler, Access::kRead);
  if (!code.ok()) throw GuestFault(fmt::format("cannot deliver {}: handler {:#x} is {}", what, handler, code.error));
  uint64_t sp = from_user ? state_.kernel_sp : kernel_stack.value_or(ctx.rsp);
  if (from_user && sp == 0) {
    throw GuestFault(
        fmt::format("cannot deliver {} from user mode: no kernel stack (stack_switch was never called)", what));
  }
  if (from_user) switch_to_kernel_mode();
  std::array<uint64_t, 8> frame{};
  size_t n = 0;
  frame[n++] = ctx.rcx;
  frame[n++] = ctx.r11;
  if (extra) frame[n++] = *extra;
  for (uint64_t v : {ctx.rip, ctx.cs, ctx.rflags, ctx.rsp, ctx.ss}) frame[n++] = v;
  // As the CPU does: align, then the frame ends at the aligned address.
  sp = (sp & ~15ULL) - n * 8;
  try {
    kernel_address_space().copy_to(sp, frame.data(), n * 8);
  } catch (const BadGuestAddress& bad) {
    throw GuestFault(fmt::format("cannot deliver {}: guest kernel stack {:#x} is {}", what, bad.va(), bad.what()));
  }
  if (mask_events) __atomic_store_n(&info().upcall_mask, 1, __ATOMIC_RELEASE);
  regs().rip = handler;
  regs().rsp = sp;
  regs().rflags = 0x202;
  load_kernel_segments();
}

}  // namespace tortuga
