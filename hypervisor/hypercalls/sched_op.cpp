// TG_HC_sched_op: yield the host CPU, sleep until an event, or shut down.
#include <sched.h>

#include <tortuga/errno.h>
#include <tortuga/hypercall.h>
#include <tortuga/shared_info.h>

#include <vector>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {
namespace {

constexpr uint32_t kMaxPollPorts = 128;

// Sleeps until one of the listed ports is pending (masks do not matter)
// or the timeout passes; changes nothing.
int64_t poll(Vcpu& vcpu, uint64_t arg) {
  auto p = vcpu.kernel_address_space().read<tg_sched_poll>(arg);
  if (p.nr_ports == 0 || p.nr_ports > kMaxPollPorts || p._pad != 0) return -TG_EINVAL;
  std::vector<tg_evtchn_port_t> ports(p.nr_ports);
  vcpu.kernel_address_space().copy_from(p.ports, ports.data(), ports.size() * sizeof(tg_evtchn_port_t));
  for (auto port : ports) {
    if (port == 0 || port >= TG_NR_EVENT_CHANNELS) return -TG_EINVAL;
  }
  ++vcpu.stats().blocks;
  return vcpu.poll_ports({ports.begin(), ports.end()}, p.timeout_ns) ? 0 : -TG_ETIMEDOUT;
}

}  // namespace

int64_t sched_op(Vcpu& vcpu, const Args& args) {
  switch (args.a0) {
    case TG_SCHEDOP_yield: sched_yield(); return 0;
    case TG_SCHEDOP_block:
      // Blocking enables events, as an idle loop's "sti; hlt" would. The
      // upcall is delivered on the way back (dispatch), not here.
      __atomic_store_n(&vcpu.info().upcall_mask, 0, __ATOMIC_RELEASE);
      ++vcpu.stats().blocks;
      vcpu.block_until_event();
      return 0;
    case TG_SCHEDOP_shutdown:
      if (args.a1 >= TG_NR_SHUTDOWN_REASONS) return -TG_EINVAL;
      vcpu.domain().shutdown(static_cast<uint32_t>(args.a1));
      return 0;
    case TG_SCHEDOP_poll: return poll(vcpu, args.a1);
    default: return -TG_ENOSYS;  // unknown sub-operation (ABI.md 1.4)
  }
}

}  // namespace tortuga::hypercalls
