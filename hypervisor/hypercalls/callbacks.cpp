// TG_HC_set_trap_table and TG_HC_set_callbacks: where the guest kernel
// wants exceptions, user SYSCALLs, events and rejected irets delivered.
// Every address must be reachable guest kernel code; an address outside
// guest memory is a broken kernel, and the domain is killed.
#include <array>

#include <fmt/format.h>
#include <tortuga/cpu.h>
#include <tortuga/errno.h>

#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

constexpr unsigned kMaxTrapTableEntries = 256;

}  // namespace

int64_t set_trap_table(Vcpu& vcpu, const Args& args) {
  uint64_t table = args.a0;
  std::array<TrapTableEntry, TG_NR_EXCEPTION_VECTORS> traps{};
  if (table != 0) {  // 0 clears every handler
    GuestAddressSpace as = vcpu.address_space();
    for (unsigned i = 0;; ++i) {
      if (i == kMaxTrapTableEntries) return -TG_E2BIG;
      auto entry = as.read<tg_trap_info>(table + i * sizeof(tg_trap_info));
      if (entry.handler == 0) break;
      if (entry.vector >= TG_NR_EXCEPTION_VECTORS || (entry.flags & ~TG_TRAPF_MASK_EVENTS)) return -TG_EINVAL;
      std::string what = fmt::format("set_trap_table: handler for vector {}", entry.vector);
      require_guest_code_address(vcpu, entry.handler, what.c_str());
      traps[entry.vector] = {entry.handler, entry.flags};
    }
  }
  std::copy(traps.begin(), traps.end(), vcpu.state().traps);
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
