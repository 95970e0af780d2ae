// Hypercall dispatch: a SYSCALL executed in guest kernel mode is a
// hypercall. rax holds the number; arguments are in rdi, rsi, rdx, r10, r8.
#include <array>

#include <fmt/format.h>
#include <tortuga/errno.h>
#include <tortuga/hypercall.h>
#include <tortuga/memory.h>

#include "domain/guest_fault.h"
#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga {
namespace {

using namespace hypercalls;

constexpr std::array<Entry, TG_NR_HYPERCALLS> make_table() {
  std::array<Entry, TG_NR_HYPERCALLS> t{};
  t[TG_HC_console_io] = {console_io, true};
  t[TG_HC_sched_op] = {sched_op, true};
  t[TG_HC_set_trap_table] = {set_trap_table, true};
  t[TG_HC_set_callbacks] = {set_callbacks, true};
  t[TG_HC_iret] = {iret, false};
  t[TG_HC_stack_switch] = {stack_switch, true};
  t[TG_HC_set_segment_base] = {set_segment_base, true};
  t[TG_HC_version] = {version, true};
  t[TG_HC_mmu_update] = {mmu_update, true};
  t[TG_HC_mmuext_op] = {mmuext_op, true};
  t[TG_HC_update_va_mapping] = {update_va_mapping, true};
  t[TG_HC_multicall] = {multicall, true};
  t[TG_HC_memory_op] = {memory_op, true};
  t[TG_HC_event_channel_op] = {event_channel_op, true};
  t[TG_HC_set_timer_op] = {set_timer_op, true};
  t[TG_HC_vcpu_op] = {vcpu_op, true};
  t[TG_HC_grant_table_op] = {grant_table_op, true};
  return t;
}

constexpr auto kTable = make_table();

// Calls that read or change page-table state (the frame table, base
// pointers). With several vCPUs they run in a quiesce section (quiesce.h).
bool changes_page_tables(uint64_t nr, const Args& a) {
  switch (nr) {
    case TG_HC_mmu_update:
    case TG_HC_mmuext_op:
    case TG_HC_update_va_mapping:
    case TG_HC_multicall:
    case TG_HC_grant_table_op:  // types grant frames, writes L1 entries
      return true;
    case TG_HC_memory_op:
      return a.a0 == TG_MEMOP_increase_reservation || a.a0 == TG_MEMOP_decrease_reservation;
    case TG_HC_vcpu_op:
      return vcpu_op_changes_page_tables(a.a0);
    default:
      return false;
  }
}

// Backends check frame types from their own threads (grant_table.h): a call
// that changes them holds the frame lock. grant_table_op takes it itself,
// around the parts that need it (its copies end grant uses, which lock).
std::unique_lock<std::mutex> frame_lock_for(Domain& domain, uint64_t nr, const Args& a) {
  if (nr == TG_HC_grant_table_op || !changes_page_tables(nr, a)) return {};
  return std::unique_lock(domain.mmu().frame_lock());
}

}  // namespace

void Vcpu::return_from_hypercall(int64_t result) {
  regs().rax = static_cast<uint64_t>(result);
  regs().rip = regs().rcx;  // SYSCALL saved the return address in rcx...
  regs().rflags = sanitize_rflags(regs().r11);  // ...and RFLAGS in r11
  load_kernel_segments();
}

// The other vCPUs wait at safe points while this one changes page tables,
// and the writes are applied before they resume: nothing is pending and no
// accessed or dirty bit moves meanwhile. They flush their TLBs before they
// next run if this call flushed. Costs each running vCPU a kick, and this
// one an exit for the apply routine.
int64_t Vcpu::call_with_others_stopped(uint64_t nr, const hypercalls::Entry& entry, const hypercalls::Args& args) {
  QuiesceSection section(
      domain_.quiesce(), id_, [&](uint32_t v) { domain_.vcpu(v).kick(); }, [&] { return domain_.stopping(); });
  if (!section.active()) return -TG_EAGAIN;  // the domain is stopping
  int64_t result;
  {
    auto lock = frame_lock_for(domain_, nr, args);
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

void Vcpu::handle_hypercall() {
  uint64_t nr = regs().rax;
  if (nr >= kTable.size() || kTable[nr].handler == nullptr) {
    if (nr >= kTable.size()) ++stats_.bad_hypercalls; else ++stats_.hypercalls[nr];
    return_from_hypercall(-TG_ENOSYS);
    return;
  }
  ++stats_.hypercalls[nr];
  const Entry& entry = kTable[nr];
  Args args{regs().rdi, regs().rsi, regs().rdx, regs().r10, regs().r8};
  int64_t result;
  try {
    if (domain_.config().vcpus > 1 && changes_page_tables(nr, args)) {
      result = call_with_others_stopped(nr, entry, args);
    } else {
      auto lock = frame_lock_for(domain_, nr, args);
      result = entry.handler(*this, args);
    }
  } catch (const BadGuestAddress& bad) {
    throw GuestFault(fmt::format("hypercall {}: bad guest pointer {:#x} ({}) at rip {:#x}", hypercall_name(nr),
                                 bad.va(), bad.what(), regs().rcx));
  }
  if (entry.returns) return_from_hypercall(result);
}

namespace hypercalls {

const Entry* find_hypercall(uint64_t nr) {
  return nr < kTable.size() && kTable[nr].handler != nullptr ? &kTable[nr] : nullptr;
}

void require_guest_code_address(Vcpu& vcpu, uint64_t va, const char* what) {
  Translation t = vcpu.kernel_address_space().translate(va, Access::kRead);
  if (!t.ok()) {
    throw GuestFault(fmt::format("{} {:#x} is outside guest memory ({})", what, va, t.error));
  }
}

}  // namespace hypercalls
}  // namespace tortuga
