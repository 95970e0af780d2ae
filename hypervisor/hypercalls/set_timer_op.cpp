// TG_HC_set_timer_op: this vCPU's one-shot timer (ABI.md 7.2, 10).
#include <tortuga/errno.h>
#include <tortuga/event_channel.h>
#include <tortuga/vcpu.h>
#include <tortuga/hypercall.h>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {

int64_t arm_timer(Vcpu& vcpu, uint64_t deadline_ns) {
  Domain& domain = vcpu.domain();
  uint64_t now = domain.system_time_ns();
  if (deadline_ns > now && deadline_ns - now > TG_TIMER_MAX_AHEAD_NS) return -TG_EINVAL;
  if (deadline_ns <= now) {
    // Already due: the VIRQ is pending before the call returns.
    domain.timers().disarm(vcpu.id());
    domain.events().raise_virq(vcpu.id(), TG_VIRQ_TIMER);
    return 0;
  }
  domain.timers().arm(vcpu.id(), deadline_ns);
  return 0;
}

int64_t set_timer_op(Vcpu& vcpu, const Args& args) {
  if (args.a0 == 0) {
    vcpu.domain().timers().disarm(vcpu.id());
    return 0;
  }
  return arm_timer(vcpu, args.a0);
}

}  // namespace tortuga::hypercalls
