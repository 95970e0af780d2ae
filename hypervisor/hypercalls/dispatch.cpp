// Hypercall dispatch: a SYSCALL executed in guest kernel mode is a
// hypercall. rax holds the number; arguments are in rdi, rsi, rdx, r10, r8.
#include <string>

#include <fmt/format.h>
#include <tortuga/errno.h>
#include <tortuga/hypercall.h>

#include "domain/guest_fault.h"
#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga {
namespace {

using namespace hypercalls;

// Backends check frame types from their own threads (grant_table.h): a call
// that changes them holds the frame lock. grant_table_op takes it itself,
// around the parts that need it (its copies end grant uses, which lock).
std::unique_lock<std::mutex> frame_lock_for(Domain& domain, const Entry& entry, const Args& a) {
  if (entry.nr == TG_HC_grant_table_op || !changes_page_tables(entry, a.a0)) return {};
  return std::unique_lock(domain.mmu().frame_lock());
}

// Why the domain dies when a handler met a pointer it cannot follow: the
// call, the pointer, where it was made, and what the guest passed.
std::string bad_pointer_message(const Entry& entry, const Args& a, const BadGuestAddress& bad, uint64_t rip) {
  return fmt::format(
      "hypercall {}: bad guest pointer {:#x} ({}) at rip {:#x}; arguments {} in rdi, rsi, rdx, r10, r8: "
      "{:#x} {:#x} {:#x} {:#x} {:#x}",
      entry.name, bad.va(), bad.what(), rip, entry.arguments, a.a0, a.a1, a.a2, a.a3, a.a4);
}

}  // namespace

void Vcpu::return_from_hypercall(int64_t result) {
  regs().rax = static_cast<uint64_t>(result);
  regs().rip = regs().rcx;                      // SYSCALL saved the return address in rcx...
  regs().rflags = sanitize_rflags(regs().r11);  // ...and RFLAGS in r11
  load_kernel_segments();
}

// The other vCPUs wait at safe points while this one changes page tables,
// and the writes are applied before they resume: nothing is pending and no
// accessed or dirty bit moves meanwhile. They flush their TLBs before they
// next run if this call flushed. Costs each running vCPU a kick, and this
// one an exit for the apply routine.
int64_t Vcpu::call_with_others_stopped(const hypercalls::Entry& entry, const hypercalls::Args& args) {
  QuiesceSection section(
      domain_.quiesce(), id_, [&](uint32_t v) { domain_.vcpu(v).kick(); }, [&] { return domain_.stopping(); });
  if (!section.active()) return -TG_EAGAIN;  // the domain is stopping
  int64_t result;
  {
    auto lock = frame_lock_for(domain_, entry, args);
    result = entry.handler(*this, args);
  }
  bool flushed = apply_program_.flushes_tlb() || !apply_program_.invlpgs().empty();
  apply_page_table_writes_now();
  if (flushed) {
    for (uint32_t v = 0; v < domain_.config().vcpus; ++v) {
      if (v != id_) domain_.vcpu(v).flush_before_entry();
    }
  }
  return result;
}

int64_t Vcpu::call_hypercall(const hypercalls::Entry& entry, const hypercalls::Args& args) {
  if (domain_.config().vcpus > 1 && changes_page_tables(entry, args.a0)) return call_with_others_stopped(entry, args);
  auto lock = frame_lock_for(domain_, entry, args);
  return entry.handler(*this, args);
}

void Vcpu::handle_hypercall() {
  uint64_t nr = regs().rax;
  const Entry* entry = find_hypercall(nr);
  if (entry == nullptr) {
    ++stats_.bad_hypercalls;
    return_from_hypercall(-TG_ENOSYS);
    return;
  }
  ++stats_.hypercalls[nr];
  Args args{regs().rdi, regs().rsi, regs().rdx, regs().r10, regs().r8};
  int64_t result;
  try {
    result = call_hypercall(*entry, args);
  } catch (const BadGuestAddress& bad) {
    throw GuestFault(bad_pointer_message(*entry, args, bad, regs().rcx));
  }
  if (entry->returns) return_from_hypercall(result);
}

namespace hypercalls {

void require_guest_code_address(Vcpu& vcpu, uint64_t va, const char* what) {
  Translation t = vcpu.kernel_address_space().translate(va, Access::kRead);
  if (!t.ok()) {
    throw GuestFault(fmt::format("{} {:#x} is outside guest memory ({})", what, va, t.error));
  }
}

}  // namespace hypercalls
}  // namespace tortuga
