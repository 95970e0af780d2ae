#include "events/event_channels.h"

#include <atomic>
#include <stdexcept>
#include <string>
#include <utility>

#include <tortuga/errno.h>

namespace tortuga {
namespace {

// Atomically sets bit `bit` of word; returns whether it was set before.
bool test_and_set(uint64_t& word, unsigned bit) {
  uint64_t mask = 1ULL << bit;
  return (std::atomic_ref<uint64_t>(word).fetch_or(mask, std::memory_order_acq_rel) & mask) != 0;
}

bool test(const uint64_t& word, unsigned bit) {
  return (std::atomic_ref<const uint64_t>(word).load(std::memory_order_acquire) >> bit) & 1;
}

}  // namespace

EventChannels::EventChannels(tg_shared_info& shared, uint32_t nr_vcpus, Notify notify)
    : shared_(shared),
      nr_vcpus_(nr_vcpus),
      notify_(std::move(notify)),
      ports_(kNrPorts),
      backends_(kNrPorts),
      virq_ports_(nr_vcpus, std::vector<uint32_t>(TG_NR_VIRQS, 0)) {}

// Per-vCPU VIRQs have a port on each vCPU; a global one has a single port.
uint32_t& EventChannels::virq_port(uint32_t virq, uint32_t vcpu) {
  return virq_ports_[TG_VIRQ_IS_PER_VCPU(virq) ? vcpu : 0][virq];
}

int EventChannels::allocate(uint32_t state, uint32_t vcpu, uint32_t virq, uint32_t* port) {
  for (uint32_t p = 1; p < kNrPorts; ++p) {
    if (ports_[p].state != TG_EVTCHNSTAT_closed) continue;
    ports_[p] = {state, vcpu, virq};
    // A new port starts with nothing pending; its mask is the guest's.
    std::atomic_ref<uint64_t>(shared_.evtchn_pending[p / 64]).fetch_and(~(1ULL << (p % 64)));
    *port = p;
    return 0;
  }
  return -TG_ENOSPC;
}

int EventChannels::alloc_unbound(uint16_t remote_dom, uint32_t* port) {
  if (remote_dom != TG_DOMID_VMM) return -TG_ESRCH;
  std::lock_guard lock(mutex_);
  return allocate(TG_EVTCHNSTAT_unbound, 0, 0, port);
}

int EventChannels::bind_virq(uint32_t virq, uint32_t vcpu, uint32_t* port) {
  if (virq != TG_VIRQ_TIMER && virq != TG_VIRQ_DEBUG && virq != TG_VIRQ_CONSOLE) return -TG_EINVAL;
  if (vcpu >= nr_vcpus_) return -TG_ESRCH;
  std::lock_guard lock(mutex_);
  uint32_t& slot = virq_port(virq, vcpu);
  if (slot != 0) return -TG_EEXIST;
  if (int err = allocate(TG_EVTCHNSTAT_virq, vcpu, virq, port); err != 0) return err;
  slot = *port;
  return 0;
}

int EventChannels::bind_ipi(uint32_t vcpu, uint32_t* port) {
  if (vcpu >= nr_vcpus_) return -TG_ESRCH;
  std::lock_guard lock(mutex_);
  return allocate(TG_EVTCHNSTAT_ipi, vcpu, 0, port);
}

int EventChannels::bind_vcpu(uint32_t port, uint32_t vcpu) {
  if (!valid_port(port)) return -TG_EINVAL;
  if (vcpu >= nr_vcpus_) return -TG_ESRCH;
  std::lock_guard lock(mutex_);
  Port& p = ports_[port];
  if (p.state == TG_EVTCHNSTAT_closed) return -TG_ENOENT;
  if (p.state == TG_EVTCHNSTAT_ipi || (p.state == TG_EVTCHNSTAT_virq && TG_VIRQ_IS_PER_VCPU(p.virq))) {
    return -TG_EINVAL;
  }
  p.vcpu = vcpu;
  // A pending event follows the port to its new vCPU.
  if (test(shared_.evtchn_pending[port / 64], port % 64)) deliver_locked(port);
  return 0;
}

int EventChannels::send(uint32_t port) {
  if (!valid_port(port)) return -TG_EINVAL;
  std::function<void()> notify;
  {
    std::lock_guard lock(mutex_);
    switch (ports_[port].state) {
      case TG_EVTCHNSTAT_closed: return -TG_ENOENT;
      case TG_EVTCHNSTAT_virq: return -TG_EINVAL;
      case TG_EVTCHNSTAT_ipi: raise_locked(port); return 0;
      case TG_EVTCHNSTAT_backend: notify = backends_[port].notify; break;
      default:  // unbound: nobody listens yet
        return 0;
    }
  }
  if (notify) notify();  // outside the lock: the backend may raise the port
  return 0;
}

int EventChannels::bind_backend(uint32_t port, std::function<void()> notify, std::function<void()> closed) {
  if (!valid_port(port)) return -TG_EINVAL;
  std::lock_guard lock(mutex_);
  if (ports_[port].state != TG_EVTCHNSTAT_unbound) return -TG_EINVAL;
  ports_[port].state = TG_EVTCHNSTAT_backend;
  backends_[port] = {std::move(notify), std::move(closed)};
  return 0;
}

int EventChannels::unbind_backend(uint32_t port) {
  if (!valid_port(port)) return -TG_EINVAL;
  std::lock_guard lock(mutex_);
  if (ports_[port].state != TG_EVTCHNSTAT_backend) return -TG_EINVAL;
  ports_[port].state = TG_EVTCHNSTAT_unbound;
  backends_[port] = {};
  return 0;
}

void EventChannels::raise_backend_port(uint32_t port) {
  if (!valid_port(port)) return;
  std::lock_guard lock(mutex_);
  if (ports_[port].state == TG_EVTCHNSTAT_backend) raise_locked(port);
}

int EventChannels::unmask(uint32_t port) {
  if (!valid_port(port)) return -TG_EINVAL;
  std::lock_guard lock(mutex_);
  if (ports_[port].state == TG_EVTCHNSTAT_closed) return -TG_ENOENT;
  std::atomic_ref<uint64_t>(shared_.evtchn_mask[port / 64]).fetch_and(~(1ULL << (port % 64)));
  if (test(shared_.evtchn_pending[port / 64], port % 64)) deliver_locked(port);
  return 0;
}

int EventChannels::close(uint32_t port) {
  if (!valid_port(port)) return -TG_EINVAL;
  std::lock_guard lock(mutex_);
  Port& p = ports_[port];
  if (p.state == TG_EVTCHNSTAT_closed) return -TG_ENOENT;
  if (p.state == TG_EVTCHNSTAT_virq) virq_port(p.virq, p.vcpu) = 0;
  std::function<void()> closed;
  if (p.state == TG_EVTCHNSTAT_backend) closed = std::exchange(backends_[port], {}).closed;
  p = Port{};
  if (closed) closed();  // the backend disconnects (its doorbell goes quiet)
  return 0;
}

int EventChannels::status(tg_evtchn_status& st) const {
  if (!valid_port(st.port)) return -TG_EINVAL;
  std::lock_guard lock(mutex_);
  const Port& p = ports_[st.port];
  st.status = p.state;
  st.vcpu = p.state == TG_EVTCHNSTAT_closed ? 0 : p.vcpu;
  st.virq = p.state == TG_EVTCHNSTAT_virq ? p.virq : 0;
  st.remote_dom = (p.state == TG_EVTCHNSTAT_unbound || p.state == TG_EVTCHNSTAT_backend) ? TG_DOMID_VMM : 0;
  return 0;
}

void EventChannels::raise_virq(uint32_t vcpu, uint32_t virq) {
  if (vcpu >= nr_vcpus_ || virq >= TG_NR_VIRQS) return;
  std::lock_guard lock(mutex_);
  uint32_t port = virq_port(virq, vcpu);
  if (port != 0) raise_locked(port);
}

EventChannelsState EventChannels::save() const {
  std::lock_guard lock(mutex_);
  EventChannelsState out;
  for (uint32_t p = 1; p < kNrPorts; ++p) {
    const Port& port = ports_[p];
    if (port.state != TG_EVTCHNSTAT_closed) out.ports.push_back({p, port.state, port.vcpu, port.virq});
  }
  return out;
}

void EventChannels::restore(const EventChannelsState& saved) {
  std::vector<Port> ports(kNrPorts);
  auto virq_ports = std::vector<std::vector<uint32_t>>(nr_vcpus_, std::vector<uint32_t>(TG_NR_VIRQS, 0));
  for (const EventChannelsState::Port& s : saved.ports) {
    if (!valid_port(s.port) || ports[s.port].state != TG_EVTCHNSTAT_closed) {
      throw std::invalid_argument("event channels: port " + std::to_string(s.port) + " invalid or listed twice");
    }
    if (s.vcpu >= nr_vcpus_) throw std::invalid_argument("event channels: port bound to a vCPU the domain lacks");
    switch (s.state) {
      case TG_EVTCHNSTAT_unbound:
      case TG_EVTCHNSTAT_backend: ports[s.port] = {TG_EVTCHNSTAT_unbound, s.vcpu, 0}; break;
      case TG_EVTCHNSTAT_ipi: ports[s.port] = {TG_EVTCHNSTAT_ipi, s.vcpu, 0}; break;
      case TG_EVTCHNSTAT_virq: {
        if (s.virq != TG_VIRQ_TIMER && s.virq != TG_VIRQ_DEBUG && s.virq != TG_VIRQ_CONSOLE) {
          throw std::invalid_argument("event channels: unknown VIRQ " + std::to_string(s.virq));
        }
        // A global VIRQ may have been moved to another vCPU (bind_vcpu); its slot is [0].
        uint32_t& slot = virq_ports[TG_VIRQ_IS_PER_VCPU(s.virq) ? s.vcpu : 0][s.virq];
        if (slot != 0) throw std::invalid_argument("event channels: a VIRQ bound twice");
        slot = s.port;
        ports[s.port] = {TG_EVTCHNSTAT_virq, s.vcpu, s.virq};
        break;
      }
      default: throw std::invalid_argument("event channels: port " + std::to_string(s.port) + " in unknown state");
    }
  }
  std::lock_guard lock(mutex_);
  ports_ = std::move(ports);
  virq_ports_ = std::move(virq_ports);
  backends_.assign(kNrPorts, {});
}

void EventChannels::raise_all_backend_ports() {
  std::lock_guard lock(mutex_);
  for (uint32_t p = 1; p < kNrPorts; ++p) {
    if (ports_[p].state == TG_EVTCHNSTAT_backend) raise_locked(p);
  }
}

bool EventChannels::pending(uint32_t port) const {
  return valid_port(port) && test(shared_.evtchn_pending[port / 64], port % 64);
}

uint32_t EventChannels::vcpu_of(uint32_t port) const {
  std::lock_guard lock(mutex_);
  return valid_port(port) ? ports_[port].vcpu : 0;
}

void EventChannels::raise_locked(uint32_t port) {
  if (test_and_set(shared_.evtchn_pending[port / 64], port % 64)) return;  // merged
  deliver_locked(port);
}

void EventChannels::deliver_locked(uint32_t port) {
  uint32_t vcpu = ports_[port].vcpu;
  tg_vcpu_info& info = shared_.vcpu_info[vcpu];
  if (test(shared_.evtchn_mask[port / 64], port % 64)) {
    notify_(vcpu, false);  // only a poll on this port cares
    return;
  }
  test_and_set(info.pending_sel, port / 64);
  std::atomic_ref<uint8_t>(info.upcall_pending).store(1, std::memory_order_release);
  bool unmasked = std::atomic_ref<uint8_t>(info.upcall_mask).load(std::memory_order_acquire) == 0;
  notify_(vcpu, unmasked);
}

}  // namespace tortuga
