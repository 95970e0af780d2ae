// TG_HC_multicall: several hypercalls in one exit, each with its own
// result (ABI.md 14). Page-table writes of all of them are applied by one
// routine when the multicall returns.
#include <tortuga/errno.h>
#include <tortuga/hypercall.h>
#include <tortuga/memory.h>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"
#include "hypercalls/mmu_trace.h"

namespace tortuga::hypercalls {
namespace {

// Calls that cannot run inside a batch: they do not return to it, or they
// would sleep in the middle of it.
bool allowed_in_multicall(const tg_multicall_entry& e) {
  if (e.op == TG_HC_iret || e.op == TG_HC_multicall) return false;
  if (e.op == TG_HC_sched_op && (e.args[0] == TG_SCHEDOP_block || e.args[0] == TG_SCHEDOP_poll)) return false;
  return true;
}

}  // namespace

int64_t multicall(Vcpu& vcpu, const Args& args) {
  uint64_t entries = args.a0, count = args.a1;
  if (count > TG_MULTICALL_MAX) return -TG_E2BIG;
  vcpu.stats().multicall_batches.record(count);
  for (uint64_t i = 0; i < count && !vcpu.domain().stopping(); ++i) {
    uint64_t at = entries + i * sizeof(tg_multicall_entry);
    auto e = vcpu.kernel_address_space().read<tg_multicall_entry>(at);
    int64_t result;
    const Entry* call = find_hypercall(e.op);
    trace_single_entry(vcpu, args, count, "multicall", call != nullptr ? call->name : "unknown");
    if (call == nullptr) {
      result = -TG_ENOSYS;
    } else if (!allowed_in_multicall(e)) {
      result = -TG_EINVAL;
    } else {
      ++vcpu.stats().multicall_entries;
      ++vcpu.stats().multicall_calls[e.op];
      result = call->handler(vcpu, Args{e.args[0], e.args[1], e.args[2], e.args[3], e.args[4], true});
    }
    vcpu.kernel_address_space().copy_to(at + offsetof(tg_multicall_entry, result), &result, sizeof result);
    if (result < 0 && args.failed_entries != nullptr) ++*args.failed_entries;
  }
  return 0;
}

}  // namespace tortuga::hypercalls
