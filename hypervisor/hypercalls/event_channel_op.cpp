// TG_HC_event_channel_op: the ports of this domain (ABI.md 9.2).
#include <tortuga/errno.h>
#include <tortuga/event_channel.h>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

// Reads the argument structure, runs op on the copy, and writes it back
// only on success ("out fields are written only on success").
template <typename T, typename Op>
int64_t with_argument(Vcpu& vcpu, uint64_t va, Op op) {
  T arg = vcpu.kernel_address_space().read<T>(va);
  int64_t result = op(arg);
  if (result == 0) vcpu.kernel_address_space().copy_to(va, &arg, sizeof arg);
  return result;
}

}  // namespace

int64_t event_channel_op(Vcpu& vcpu, const Args& args) {
  EventChannels& events = vcpu.domain().events();
  uint64_t va = args.a1;
  switch (args.a0) {
    case TG_EVTCHNOP_alloc_unbound:
      return with_argument<tg_evtchn_alloc_unbound>(vcpu, va, [&](auto& a) -> int64_t {
        if (a._pad0 != 0) return -TG_EINVAL;
        return events.alloc_unbound(a.remote_dom, &a.port);
      });
    case TG_EVTCHNOP_bind_virq:
      return with_argument<tg_evtchn_bind_virq>(vcpu, va, [&](auto& a) -> int64_t {
        if (a._pad0 != 0) return -TG_EINVAL;
        return events.bind_virq(a.virq, a.vcpu, &a.port);
      });
    case TG_EVTCHNOP_bind_ipi:
      return with_argument<tg_evtchn_bind_ipi>(vcpu, va,
                                               [&](auto& a) -> int64_t { return events.bind_ipi(a.vcpu, &a.port); });
    case TG_EVTCHNOP_bind_vcpu: {
      auto a = vcpu.kernel_address_space().read<tg_evtchn_bind_vcpu>(va);
      return events.bind_vcpu(a.port, a.vcpu);
    }
    case TG_EVTCHNOP_send:
    case TG_EVTCHNOP_unmask:
    case TG_EVTCHNOP_close: {
      auto a = vcpu.kernel_address_space().read<tg_evtchn_port_op>(va);
      if (a._pad0 != 0) return -TG_EINVAL;
      if (args.a0 == TG_EVTCHNOP_send) return events.send(a.port);
      if (args.a0 == TG_EVTCHNOP_unmask) return events.unmask(a.port);
      return events.close(a.port);
    }
    case TG_EVTCHNOP_status:
      return with_argument<tg_evtchn_status>(vcpu, va, [&](auto& a) -> int64_t {
        if (a._pad0 != 0 || a._pad1 != 0) return -TG_EINVAL;
        return events.status(a);
      });
    default: return -TG_ENOSYS;
  }
}

}  // namespace tortuga::hypercalls
