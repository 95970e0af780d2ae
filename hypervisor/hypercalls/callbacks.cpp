// TG_HC_set_trap_table and TG_HC_set_callbacks: where the guest kernel
// wants exceptions, user SYSCALLs, events and rejected irets delivered.
// Every address must be reachable guest kernel code; an address outside
// guest memory is a broken kernel, and the domain is killed.
#include <algorithm>
#include <iterator>
#include <vector>

#include <fmt/format.h>
#include <tortuga/cpu.h>
#include <tortuga/errno.h>

#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

// Reads and checks the whole table before anything is set, so that a
// refused table changes nothing.
int64_t read_trap_table(Vcpu& vcpu, uint64_t table, std::vector<tg_trap_info>& entries) {
  GuestAddressSpace as = vcpu.address_space();
  for (unsigned i = 0; i < kMaxTrapTableEntries; ++i) {
    auto entry = as.read<tg_trap_info>(table + i * sizeof(tg_trap_info));
    if (entry.handler == 0) return 0;
    if (!valid_trap_entry(entry)) return -TG_EINVAL;
    std::string what = fmt::format("set_trap_table: handler for vector {}", entry.vector);
    require_guest_code_address(vcpu, entry.handler, what.c_str());
    entries.push_back(entry);
  }
  return -TG_E2BIG;  // no terminating entry
}

}  // namespace

bool valid_trap_entry(const tg_trap_info& e) {
  return e.vector < TG_NR_EXCEPTION_VECTORS && (e.flags & ~TG_TRAPF_MASK_EVENTS) == 0 && e._pad0 == 0 && e._pad1 == 0;
}

int64_t set_trap_table(Vcpu& vcpu, const Args& args) {
  uint64_t table = args.a0;
  if (table == 0) {  // 0 removes every handler
    std::fill(std::begin(vcpu.state().traps), std::end(vcpu.state().traps), TrapTableEntry{});
    return 0;
  }
  std::vector<tg_trap_info> entries;
  if (int64_t rc = read_trap_table(vcpu, table, entries); rc != 0) return rc;
  // Vectors the table does not list keep their handlers (ABI.md 7.3).
  for (const auto& e : entries) vcpu.state().traps[e.vector] = {e.handler, e.flags};
  return 0;
}

int64_t set_callbacks(Vcpu& vcpu, const Args& args) {
  uint64_t type = args.a0, address = args.a1, flags = args.a2;
  if (type >= TG_NR_CALLBACKS || (flags & ~uint64_t{TG_CALLBACKF_MASK_EVENTS})) return -TG_EINVAL;
  if (address != 0) {
    std::string what = fmt::format("set_callbacks: callback {}", type);
    require_guest_code_address(vcpu, address, what.c_str());
  }
  vcpu.state().callback[type] = address;
  vcpu.state().callback_flags[type] = flags;
  return 0;
}

}  // namespace tortuga::hypercalls
