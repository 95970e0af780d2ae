// TG_HC_sched_op: yield the host CPU, sleep until an event, or shut down.
#include <sched.h>

#include <tortuga/errno.h>
#include <tortuga/hypercall.h>

#include "../domain.h"
#include "hypercall_table.h"

namespace tortuga::hypercalls {

int64_t sched_op(Vcpu& vcpu, const Args& args) {
  switch (args.a0) {
    case TG_SCHEDOP_yield:
      sched_yield();
      return 0;
    case TG_SCHEDOP_block:
      // Blocking enables events, as an idle loop's "sti; hlt" would.
      __atomic_store_n(&vcpu.info().upcall_mask, 0, __ATOMIC_RELEASE);
      vcpu.block_until_event();
      return 0;
    case TG_SCHEDOP_shutdown:
      if (args.a1 >= TG_NR_SHUTDOWN_REASONS) return -TG_EINVAL;
      vcpu.domain().shutdown(static_cast<uint32_t>(args.a1));
      return 0;
    case TG_SCHEDOP_poll:
      // Polling names event channel ports; it is offered with TG_FEAT_EVENTS.
      return -TG_ENOSYS;
    default:
      return -TG_ENOSYS;  // unknown sub-operation (ABI.md 1.4)
  }
}

}  // namespace tortuga::hypercalls
