// The event channels of one domain (ABI.md 9): the port table, and raising
// ports in the 2-level pending/mask bitmaps of shared info. Thread-safe:
// vCPU threads, the timer thread and backends raise ports concurrently.
//
// The bitmaps live in guest memory the guest writes too, so every bit is
// changed with an atomic read-modify-write, in the order ABI.md 9.4 gives.
// Making a vCPU notice (kick or wake) is the owner's job: raise() calls
// `notify(vcpu, unmasked)` after setting the bits.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include <tortuga/event_channel.h>
#include <tortuga/shared_info.h>

namespace tortuga {

// What a save records of the event channels (README.md, "Saving a
// component"): every open port.
struct EventChannelsState {
  struct Port {
    uint32_t port = 0, state = 0, vcpu = 0, virq = 0;
  };
  std::vector<Port> ports;
};

class EventChannels {
 public:
  // unmasked: the vCPU's upcall_mask was clear, so it must take an upcall
  // (kick it if it runs); otherwise only a sleeper in poll cares.
  using Notify = std::function<void(uint32_t vcpu, bool unmasked)>;

  EventChannels(tg_shared_info& shared, uint32_t nr_vcpus, Notify notify);

  // The sub-operations of TG_HC_event_channel_op: 0 or a negative TG_E*.
  int alloc_unbound(uint16_t remote_dom, uint32_t* port);
  int bind_virq(uint32_t virq, uint32_t vcpu, uint32_t* port);
  int bind_ipi(uint32_t vcpu, uint32_t* port);
  int bind_vcpu(uint32_t port, uint32_t vcpu);
  int send(uint32_t port);
  int unmask(uint32_t port);
  int close(uint32_t port);
  int status(tg_evtchn_status& st) const;

  // The VMM's side: raise a VIRQ (discarded when unbound).
  void raise_virq(uint32_t vcpu, uint32_t virq);
  // A backend in the VMM takes an unbound port (ABI.md 17): the port goes
  // to state backend, `send` from the guest calls `notify`, and the backend
  // raises the port with raise_backend_port(). `closed` runs if the guest
  // closes the port.
  int bind_backend(uint32_t port, std::function<void()> notify, std::function<void()> closed);
  void raise_backend_port(uint32_t port);
  // The backend lets go of the port (ABI.md 17.3): it is unbound again,
  // and `closed` does not run. -EINVAL when it was not in state backend.
  int unbind_backend(uint32_t port);
  // Whether the port's pending bit is set (poll).
  bool pending(uint32_t port) const;
  // The vCPU a port is delivered to (0 for closed ports).
  uint32_t vcpu_of(uint32_t port) const;

  // Save and restore (ABI.md 21). save(): every open port. restore()
  // fills a table with no open port; ports that were a backend's come back
  // unbound, for the backend to bind again. Hostile input: a bad port,
  // state, vCPU or VIRQ, or a VIRQ bound twice, throws
  // std::invalid_argument and leaves the table closed.
  EventChannelsState save() const;
  void restore(const EventChannelsState& state);
  // Raises every port bound to a backend once more (after a restore,
  // so frontends and the guest look at their rings again; ABI.md 9.8, 21).
  void raise_all_backend_ports();

 private:
  struct Port {
    uint32_t state = TG_EVTCHNSTAT_closed;
    uint32_t vcpu = 0;
    uint32_t virq = 0;
  };
  static bool valid_port(uint32_t port) { return port != 0 && port < kNrPorts; }
  int allocate(uint32_t state, uint32_t vcpu, uint32_t virq, uint32_t* port);
  uint32_t& virq_port(uint32_t virq, uint32_t vcpu);
  // ABI.md 9.4 steps 1-4 for a port bound to vcpu (mutex held).
  void raise_locked(uint32_t port);
  // Steps 2-4 for a port already pending (unmask).
  void deliver_locked(uint32_t port);

  static constexpr uint32_t kNrPorts = TG_NR_EVENT_CHANNELS;
  tg_shared_info& shared_;
  uint32_t nr_vcpus_;
  Notify notify_;
  mutable std::mutex mutex_;
  std::vector<Port> ports_;
  struct Backend {
    std::function<void()> notify, closed;
  };
  std::vector<Backend> backends_;  // by port, for ports in state backend
  // Ports of the VIRQs: per vCPU for per-vCPU VIRQs, [0] for global ones.
  std::vector<std::vector<uint32_t>> virq_ports_;
};

}  // namespace tortuga
