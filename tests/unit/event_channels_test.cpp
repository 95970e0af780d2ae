// EventChannels: the port table and the 2-level pending/mask bitmaps of
// ABI.md 9, on a zeroed tg_shared_info with 2 vCPUs and a Notify that
// records what it is told. Every sub-operation and error of 9.2, the
// delivery order of 9.4, masking (9.5), VIRQs (9.7) and, under threads,
// that no event is lost (9.8).
#include "events/event_channels.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <ostream>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <tortuga/errno.h>
#include <tortuga/event_channel.h>
#include <tortuga/shared_info.h>

namespace tortuga {
namespace {

constexpr uint32_t kNrVcpus = 2;
constexpr uint32_t kUntouched = 0xdeadbeef;

struct Notification {
  uint32_t vcpu;
  bool unmasked;
  bool operator==(const Notification&) const = default;
};

void PrintTo(const Notification& n, std::ostream* os) {
  *os << "{vcpu " << n.vcpu << (n.unmasked ? ", unmasked}" : ", masked}");
}

uint64_t bit(uint32_t port) { return 1ULL << (port % 64); }

class EventChannelTest : public ::testing::Test {
 protected:
  // 4 KiB, zeroed: every port unmasked, nothing pending, events unmasked.
  tg_shared_info shared_{};
  std::vector<Notification> notes_;
  EventChannels ev_{shared_, kNrVcpus, [this](uint32_t vcpu, bool unmasked) { notes_.push_back({vcpu, unmasked}); }};

  bool pending_bit(uint32_t port) const { return (shared_.evtchn_pending[port / 64] & bit(port)) != 0; }
  bool mask_bit(uint32_t port) const { return (shared_.evtchn_mask[port / 64] & bit(port)) != 0; }
  void guest_mask(uint32_t port) { shared_.evtchn_mask[port / 64] |= bit(port); }
  void guest_unmask_bit(uint32_t port) { shared_.evtchn_mask[port / 64] &= ~bit(port); }
  void guest_clear_pending(uint32_t port) { shared_.evtchn_pending[port / 64] &= ~bit(port); }
  uint64_t sel(uint32_t vcpu) const { return shared_.vcpu_info[vcpu].pending_sel; }
  uint8_t upcall_pending(uint32_t vcpu) const { return shared_.vcpu_info[vcpu].upcall_pending; }
  // What the guest's event callback does before looking (9.4).
  void guest_ack(uint32_t vcpu) {
    shared_.vcpu_info[vcpu].upcall_pending = 0;
    shared_.vcpu_info[vcpu].pending_sel = 0;
  }

  bool no_unmasked_notification() const {
    for (const auto& n : notes_) {
      if (n.unmasked) return false;
    }
    return true;
  }

  uint32_t ipi(uint32_t vcpu) {
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.bind_ipi(vcpu, &port), 0);
    return port;
  }
  uint32_t virq(uint32_t virq, uint32_t vcpu) {
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.bind_virq(virq, vcpu, &port), 0);
    return port;
  }
  uint32_t unbound() {
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.alloc_unbound(TG_DOMID_VMM, &port), 0);
    return port;
  }
  tg_evtchn_status status(uint32_t port) {
    tg_evtchn_status st{};
    st.port = port;
    st.status = st.vcpu = st.virq = kUntouched;
    st.remote_dom = 0xbeef;
    EXPECT_EQ(ev_.status(st), 0) << "port " << port;
    return st;
  }
  // Allocates IPI ports on vCPU 0 until `port` is the last one allocated.
  void fill_up_to(uint32_t port) {
    for (uint32_t p = 1; p <= port; ++p) EXPECT_EQ(ipi(0), p);
  }
};

// ---------------------------------------------------------------------------
// 9.2: arguments and errors common to the sub-operations.

using EventChannelArgs = EventChannelTest;

TEST_F(EventChannelArgs, PortZeroAndOutOfRangeAreInvalidForEveryPortOperation) {
  for (uint32_t bad : {0u, uint32_t{TG_NR_EVENT_CHANNELS}, uint32_t{TG_NR_EVENT_CHANNELS} + 1, 0xffffffffu}) {
    SCOPED_TRACE(bad);
    EXPECT_EQ(ev_.bind_vcpu(bad, 0), -TG_EINVAL);
    EXPECT_EQ(ev_.send(bad), -TG_EINVAL);
    EXPECT_EQ(ev_.unmask(bad), -TG_EINVAL);
    EXPECT_EQ(ev_.close(bad), -TG_EINVAL);
    tg_evtchn_status st{};
    st.port = bad;
    st.status = st.vcpu = st.virq = kUntouched;
    EXPECT_EQ(ev_.status(st), -TG_EINVAL);
    EXPECT_EQ(st.status, kUntouched) << "out fields are written only on success";
    EXPECT_EQ(st.vcpu, kUntouched);
    EXPECT_EQ(st.virq, kUntouched);
    EXPECT_FALSE(ev_.pending(bad));
  }
  EXPECT_TRUE(notes_.empty());
}

TEST_F(EventChannelArgs, HighestPortIsValid) {
  fill_up_to(TG_NR_EVENT_CHANNELS - 1);
  const uint32_t last = TG_NR_EVENT_CHANNELS - 1;
  EXPECT_EQ(status(last).status, uint32_t{TG_EVTCHNSTAT_ipi});
  EXPECT_EQ(ev_.send(last), 0);
  EXPECT_TRUE(pending_bit(last));
  EXPECT_EQ(sel(0), 1ULL << 63);
  EXPECT_EQ(ev_.close(last), 0);
}

TEST_F(EventChannelArgs, VcpuOutOfRangeIsEsrch) {
  uint32_t port = kUntouched;
  EXPECT_EQ(ev_.bind_ipi(kNrVcpus, &port), -TG_ESRCH);
  EXPECT_EQ(ev_.bind_ipi(0xffffffffu, &port), -TG_ESRCH);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_TIMER, kNrVcpus, &port), -TG_ESRCH);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_CONSOLE, kNrVcpus, &port), -TG_ESRCH);
  EXPECT_EQ(port, kUntouched) << "out fields are written only on success";
  uint32_t u = unbound();
  EXPECT_EQ(ev_.bind_vcpu(u, kNrVcpus), -TG_ESRCH);
  EXPECT_EQ(ev_.vcpu_of(u), 0u);
  EXPECT_EQ(status(u).vcpu, 0u);
}

// ---------------------------------------------------------------------------
// alloc_unbound and allocation order.

using EventChannelAlloc = EventChannelTest;

TEST_F(EventChannelAlloc, UnboundForTheVmmIsDeliveredToVcpu0) {
  uint32_t port = unbound();
  EXPECT_EQ(port, 1u);
  tg_evtchn_status st = status(port);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_unbound});
  EXPECT_EQ(st.vcpu, 0u);
  EXPECT_EQ(st.virq, 0u);
  EXPECT_EQ(st.remote_dom, TG_DOMID_VMM);
  EXPECT_EQ(ev_.vcpu_of(port), 0u);
}

TEST_F(EventChannelAlloc, UnboundForAnotherDomainIsEsrch) {
  for (uint16_t dom : {uint16_t{TG_DOMID_FIRST_GUEST}, uint16_t{TG_DOMID_MAX_GUEST}, uint16_t{TG_DOMID_SELF},
                       uint16_t{TG_DOMID_INVALID}, uint16_t{0xffff}}) {
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.alloc_unbound(dom, &port), -TG_ESRCH) << "domid " << dom;
    EXPECT_EQ(port, kUntouched);
  }
  EXPECT_EQ(status(1).status, uint32_t{TG_EVTCHNSTAT_closed}) << "nothing was allocated";
}

TEST_F(EventChannelAlloc, LowestFreePortFirst) {
  EXPECT_EQ(unbound(), 1u);
  EXPECT_EQ(ipi(1), 2u);
  EXPECT_EQ(virq(TG_VIRQ_TIMER, 0), 3u);
  EXPECT_EQ(virq(TG_VIRQ_CONSOLE, 1), 4u);
  EXPECT_EQ(ipi(0), 5u);
  EXPECT_EQ(ev_.close(2), 0);
  EXPECT_EQ(ev_.close(4), 0);
  EXPECT_EQ(unbound(), 2u);
  EXPECT_EQ(virq(TG_VIRQ_DEBUG, 1), 4u);
  EXPECT_EQ(ipi(1), 6u);
  EXPECT_EQ(ev_.close(1), 0);
  EXPECT_EQ(ev_.close(3), 0);
  EXPECT_EQ(ipi(0), 1u);
  EXPECT_EQ(ipi(0), 3u);
  EXPECT_EQ(ipi(0), 7u);
}

TEST_F(EventChannelAlloc, FailedBindingsAllocateNothing) {
  uint32_t port = kUntouched;
  EXPECT_EQ(ev_.bind_virq(3, 0, &port), -TG_EINVAL);
  EXPECT_EQ(ev_.bind_ipi(kNrVcpus, &port), -TG_ESRCH);
  EXPECT_EQ(ev_.alloc_unbound(TG_DOMID_SELF, &port), -TG_ESRCH);
  EXPECT_EQ(ipi(0), 1u);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_TIMER, 0, &port), 0);
  EXPECT_EQ(port, 2u);
  port = kUntouched;
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_TIMER, 0, &port), -TG_EEXIST);
  EXPECT_EQ(port, kUntouched);
  EXPECT_EQ(ipi(0), 3u);
}

TEST_F(EventChannelAlloc, AllPortsTakenIsEnospc) {
  fill_up_to(TG_NR_EVENT_CHANNELS - 1);
  uint32_t port = kUntouched;
  EXPECT_EQ(ev_.alloc_unbound(TG_DOMID_VMM, &port), -TG_ENOSPC);
  EXPECT_EQ(ev_.bind_ipi(1, &port), -TG_ENOSPC);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_TIMER, 1, &port), -TG_ENOSPC);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_CONSOLE, 0, &port), -TG_ENOSPC);
  EXPECT_EQ(port, kUntouched);
  // A failed bind_virq leaves the VIRQ unbound: it can be bound once a port frees up.
  EXPECT_EQ(ev_.close(1234), 0);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_TIMER, 1, &port), 0);
  EXPECT_EQ(port, 1234u);
}

// A new port starts with its pending bit clear and its mask bit as the guest left it.
TEST_F(EventChannelAlloc, NewPortClearsPendingAndKeepsGuestMask) {
  shared_.evtchn_pending[0] = ~0ULL;  // stale bits the guest never cleared
  guest_mask(1);
  guest_mask(3);
  EXPECT_EQ(unbound(), 1u);
  EXPECT_EQ(ipi(1), 2u);
  EXPECT_EQ(virq(TG_VIRQ_TIMER, 0), 3u);
  for (uint32_t p : {1u, 2u, 3u}) EXPECT_FALSE(pending_bit(p)) << "port " << p;
  EXPECT_TRUE(pending_bit(4)) << "ports not allocated are not touched";
  EXPECT_TRUE(mask_bit(1));
  EXPECT_FALSE(mask_bit(2));
  EXPECT_TRUE(mask_bit(3));
  EXPECT_TRUE(notes_.empty()) << "allocating raises nothing";
  EXPECT_EQ(sel(0) | sel(1), 0u);
}

// ---------------------------------------------------------------------------
// bind_virq (9.7).

using EventChannelVirq = EventChannelTest;

TEST_F(EventChannelVirq, UnknownOrReservedVirqIsInvalid) {
  for (uint32_t v = 3; v < TG_NR_VIRQS; ++v) {
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.bind_virq(v, 0, &port), -TG_EINVAL) << "reserved VIRQ " << v;
    EXPECT_EQ(port, kUntouched);
  }
  for (uint32_t v : {uint32_t{TG_NR_VIRQS}, 33u, 1000u, 0xffffffffu}) {
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.bind_virq(v, 0, &port), -TG_EINVAL) << "unknown VIRQ " << v;
    EXPECT_EQ(port, kUntouched);
  }
  EXPECT_EQ(status(1).status, uint32_t{TG_EVTCHNSTAT_closed});
}

TEST_F(EventChannelVirq, PerVcpuVirqOnceOnEachVcpu) {
  for (uint32_t v : {uint32_t{TG_VIRQ_TIMER}, uint32_t{TG_VIRQ_DEBUG}}) {
    SCOPED_TRACE(v);
    uint32_t p0 = virq(v, 0);
    uint32_t port = kUntouched;
    EXPECT_EQ(ev_.bind_virq(v, 0, &port), -TG_EEXIST);
    EXPECT_EQ(port, kUntouched);
    uint32_t p1 = virq(v, 1);
    EXPECT_NE(p0, p1);
    EXPECT_EQ(ev_.bind_virq(v, 1, &port), -TG_EEXIST);
    tg_evtchn_status st = status(p1);
    EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_virq});
    EXPECT_EQ(st.vcpu, 1u);
    EXPECT_EQ(st.virq, v);
    EXPECT_EQ(st.remote_dom, 0);
  }
}

TEST_F(EventChannelVirq, GlobalVirqOncePerDomain) {
  uint32_t p = virq(TG_VIRQ_CONSOLE, 1);
  uint32_t port = kUntouched;
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_CONSOLE, 1, &port), -TG_EEXIST);
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_CONSOLE, 0, &port), -TG_EEXIST);
  EXPECT_EQ(port, kUntouched);
  tg_evtchn_status st = status(p);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_virq});
  EXPECT_EQ(st.vcpu, 1u);
  EXPECT_EQ(st.virq, uint32_t{TG_VIRQ_CONSOLE});
}

TEST_F(EventChannelVirq, ClosingAVirqPortLetsItBeBoundAgain) {
  uint32_t t1 = virq(TG_VIRQ_TIMER, 1);
  uint32_t c = virq(TG_VIRQ_CONSOLE, 1);
  EXPECT_EQ(ev_.close(t1), 0);
  EXPECT_EQ(ev_.close(c), 0);
  EXPECT_EQ(virq(TG_VIRQ_TIMER, 1), t1);
  EXPECT_EQ(virq(TG_VIRQ_CONSOLE, 0), c);
}

TEST_F(EventChannelVirq, UnboundVirqIsDiscarded) {
  ev_.raise_virq(0, TG_VIRQ_TIMER);
  ev_.raise_virq(1, TG_VIRQ_DEBUG);
  ev_.raise_virq(0, TG_VIRQ_CONSOLE);
  // Bound on the other vCPU only: not bound for this one.
  uint32_t t1 = virq(TG_VIRQ_TIMER, 1);
  ev_.raise_virq(0, TG_VIRQ_TIMER);
  // Nonsense from the VMM side is ignored, not a crash.
  ev_.raise_virq(kNrVcpus, TG_VIRQ_TIMER);
  ev_.raise_virq(0, 5);
  ev_.raise_virq(0, TG_NR_VIRQS);
  EXPECT_TRUE(notes_.empty());
  EXPECT_FALSE(pending_bit(t1));
  for (uint64_t w : shared_.evtchn_pending) EXPECT_EQ(w, 0u);
  EXPECT_EQ(sel(0) | sel(1), 0u);
  EXPECT_EQ(upcall_pending(0) | upcall_pending(1), 0);
  // ... and a raise after the binding is not merged into anything stale.
  ev_.raise_virq(1, TG_VIRQ_TIMER);
  EXPECT_TRUE(pending_bit(t1));
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
}

TEST_F(EventChannelVirq, ClosedVirqIsDiscarded) {
  uint32_t t0 = virq(TG_VIRQ_TIMER, 0);
  EXPECT_EQ(ev_.close(t0), 0);
  ev_.raise_virq(0, TG_VIRQ_TIMER);
  EXPECT_FALSE(pending_bit(t0));
  EXPECT_TRUE(notes_.empty());
}

TEST_F(EventChannelVirq, TimerVirqGoesToItsOwnVcpu) {
  uint32_t t0 = virq(TG_VIRQ_TIMER, 0);
  uint32_t t1 = virq(TG_VIRQ_TIMER, 1);
  ev_.raise_virq(1, TG_VIRQ_TIMER);
  EXPECT_TRUE(pending_bit(t1));
  EXPECT_FALSE(pending_bit(t0));
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(upcall_pending(0), 0);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
  ev_.raise_virq(0, TG_VIRQ_TIMER);
  EXPECT_TRUE(pending_bit(t0));
  EXPECT_EQ(upcall_pending(0), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}, {0, true}}));
}

TEST_F(EventChannelVirq, GlobalVirqGoesToTheVcpuItIsBoundTo) {
  uint32_t c = virq(TG_VIRQ_CONSOLE, 1);
  ev_.raise_virq(0, TG_VIRQ_CONSOLE);  // raised "for" vCPU 0, delivered where bound
  EXPECT_TRUE(pending_bit(c));
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
}

// ---------------------------------------------------------------------------
// bind_vcpu.

using EventChannelBindVcpu = EventChannelTest;

TEST_F(EventChannelBindVcpu, IpiPortCannotMove) {
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.bind_vcpu(p, 1), -TG_EINVAL);
  EXPECT_EQ(ev_.bind_vcpu(p, 0), -TG_EINVAL);
  EXPECT_EQ(status(p).vcpu, 0u);
}

TEST_F(EventChannelBindVcpu, PerVcpuVirqCannotMove) {
  uint32_t t = virq(TG_VIRQ_TIMER, 0);
  uint32_t d = virq(TG_VIRQ_DEBUG, 1);
  EXPECT_EQ(ev_.bind_vcpu(t, 1), -TG_EINVAL);
  EXPECT_EQ(ev_.bind_vcpu(d, 0), -TG_EINVAL);
  EXPECT_EQ(status(t).vcpu, 0u);
  EXPECT_EQ(status(d).vcpu, 1u);
}

TEST_F(EventChannelBindVcpu, ClosedPortIsEnoent) {
  EXPECT_EQ(ev_.bind_vcpu(1, 1), -TG_ENOENT) << "never used";
  uint32_t p = unbound();
  EXPECT_EQ(ev_.close(p), 0);
  EXPECT_EQ(ev_.bind_vcpu(p, 1), -TG_ENOENT) << "closed";
}

TEST_F(EventChannelBindVcpu, UnboundAndGlobalVirqPortsMove) {
  uint32_t u = unbound();
  uint32_t c = virq(TG_VIRQ_CONSOLE, 0);
  EXPECT_EQ(ev_.bind_vcpu(u, 1), 0);
  EXPECT_EQ(ev_.bind_vcpu(c, 1), 0);
  EXPECT_EQ(status(u).vcpu, 1u);
  EXPECT_EQ(ev_.vcpu_of(u), 1u);
  EXPECT_EQ(status(c).vcpu, 1u);
  EXPECT_EQ(status(c).virq, uint32_t{TG_VIRQ_CONSOLE});
  ev_.raise_virq(0, TG_VIRQ_CONSOLE);
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
  // Moving it back works too, and the binding survives as a global VIRQ.
  EXPECT_EQ(ev_.bind_vcpu(c, 0), 0);
  uint32_t port = kUntouched;
  EXPECT_EQ(ev_.bind_virq(TG_VIRQ_CONSOLE, 1, &port), -TG_EEXIST);
}

TEST_F(EventChannelBindVcpu, PendingEventFollowsThePort) {
  uint32_t c = virq(TG_VIRQ_CONSOLE, 0);
  ev_.raise_virq(0, TG_VIRQ_CONSOLE);
  ASSERT_EQ(notes_, (std::vector<Notification>{{0, true}}));
  guest_ack(0);  // vCPU 0 looked but did not handle the port before it moved
  notes_.clear();
  EXPECT_EQ(ev_.bind_vcpu(c, 1), 0);
  EXPECT_TRUE(pending_bit(c)) << "stays pending";
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(upcall_pending(0), 0);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
}

TEST_F(EventChannelBindVcpu, MaskedPendingEventMovesAndWaitsForUnmask) {
  uint32_t c = virq(TG_VIRQ_CONSOLE, 0);
  guest_mask(c);
  ev_.raise_virq(0, TG_VIRQ_CONSOLE);
  EXPECT_EQ(ev_.bind_vcpu(c, 1), 0);
  EXPECT_TRUE(pending_bit(c));
  EXPECT_EQ(sel(0) | sel(1), 0u);
  EXPECT_EQ(upcall_pending(0) | upcall_pending(1), 0);
  EXPECT_TRUE(no_unmasked_notification());
  notes_.clear();
  EXPECT_EQ(ev_.unmask(c), 0);
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
}

TEST_F(EventChannelBindVcpu, NothingPendingDeliversNothing) {
  uint32_t u = unbound();
  EXPECT_EQ(ev_.bind_vcpu(u, 1), 0);
  EXPECT_TRUE(notes_.empty());
  EXPECT_EQ(sel(0) | sel(1), 0u);
}

// ---------------------------------------------------------------------------
// send.

using EventChannelSend = EventChannelTest;

TEST_F(EventChannelSend, IpiRaisesOnItsVcpuInTheOrderOf94) {
  fill_up_to(69);
  uint32_t p = ipi(1);  // 70: word 1, bit 6
  ASSERT_EQ(p, 70u);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_TRUE(pending_bit(p));
  EXPECT_EQ(shared_.evtchn_pending[1], 1ULL << 6);
  EXPECT_EQ(shared_.evtchn_pending[0], 0u);
  EXPECT_EQ(sel(1), 1ULL << 1);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(upcall_pending(0), 0);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
  EXPECT_TRUE(ev_.pending(p));
}

TEST_F(EventChannelSend, AnyVcpuMaySendToAnIpiOfAnother) {
  // send has no notion of the sender: an IPI bound to vCPU 0 goes to vCPU 0.
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_EQ(upcall_pending(0), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{0, true}}));
}

TEST_F(EventChannelSend, VirqPortIsInvalid) {
  uint32_t t = virq(TG_VIRQ_TIMER, 0);
  uint32_t c = virq(TG_VIRQ_CONSOLE, 1);
  EXPECT_EQ(ev_.send(t), -TG_EINVAL);
  EXPECT_EQ(ev_.send(c), -TG_EINVAL);
  EXPECT_FALSE(pending_bit(t));
  EXPECT_FALSE(pending_bit(c));
  EXPECT_TRUE(notes_.empty());
}

TEST_F(EventChannelSend, ClosedPortIsEnoent) {
  EXPECT_EQ(ev_.send(1), -TG_ENOENT);
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.close(p), 0);
  EXPECT_EQ(ev_.send(p), -TG_ENOENT);
  EXPECT_FALSE(pending_bit(p));
  EXPECT_TRUE(notes_.empty());
}

TEST_F(EventChannelSend, UnboundPortAcceptsAndRaisesNothing) {
  uint32_t u = unbound();
  EXPECT_EQ(ev_.send(u), 0);
  EXPECT_FALSE(pending_bit(u));
  EXPECT_EQ(sel(0) | sel(1), 0u);
  EXPECT_EQ(upcall_pending(0) | upcall_pending(1), 0);
  EXPECT_TRUE(notes_.empty());
}

TEST_F(EventChannelSend, SendTwiceMerges) {
  uint32_t p = ipi(1);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_TRUE(pending_bit(p));
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}})) << "one event, one notification";
  // Once the guest has taken the event, the next send is a new event.
  guest_ack(1);
  guest_clear_pending(p);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}, {1, true}}));
}

TEST_F(EventChannelSend, MergedSendDoesNotRedeliverAfterTheGuestLooked) {
  // Step 1 stops at a set pending bit even if the guest already took
  // pending_sel: the pending bit is still there for its scan.
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.send(p), 0);
  guest_ack(0);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(upcall_pending(0), 0);
  EXPECT_EQ(notes_.size(), 1u);
}

// ---------------------------------------------------------------------------
// Masking (9.4 step 2, 9.5) and unmask.

using EventChannelMask = EventChannelTest;

TEST_F(EventChannelMask, SendToMaskedPortOnlySetsPending) {
  uint32_t p = ipi(1);
  guest_mask(p);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_TRUE(pending_bit(p));
  EXPECT_TRUE(mask_bit(p));
  EXPECT_EQ(sel(1), 0u);
  EXPECT_EQ(upcall_pending(1), 0);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(upcall_pending(0), 0);
  EXPECT_TRUE(no_unmasked_notification());
  for (const auto& n : notes_) EXPECT_EQ(n.vcpu, 1u) << "a poll on vCPU 1 may care, nobody else";
  EXPECT_TRUE(ev_.pending(p)) << "poll sees it regardless of the mask";
}

TEST_F(EventChannelMask, UnmaskOfPendingPortDelivers) {
  fill_up_to(129);
  uint32_t p = ipi(1);  // 130: word 2
  ASSERT_EQ(p, 130u);
  guest_mask(p);
  EXPECT_EQ(ev_.send(p), 0);
  notes_.clear();
  EXPECT_EQ(ev_.unmask(p), 0);
  EXPECT_FALSE(mask_bit(p));
  EXPECT_TRUE(pending_bit(p));
  EXPECT_EQ(sel(1), 1ULL << 2);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, true}}));
}

TEST_F(EventChannelMask, UnmaskOfIdlePortOnlyClearsTheMask) {
  uint32_t p = ipi(0);
  guest_mask(p);
  EXPECT_EQ(ev_.unmask(p), 0);
  EXPECT_FALSE(mask_bit(p));
  EXPECT_FALSE(pending_bit(p));
  EXPECT_EQ(sel(0), 0u);
  EXPECT_EQ(upcall_pending(0), 0);
  EXPECT_TRUE(notes_.empty());
}

TEST_F(EventChannelMask, UnmaskOfUnmaskedPendingPortDeliversAgain) {
  // "if the port is pending, deliver it as if just raised": also when the
  // mask was already clear (the guest took pending_sel and left the port).
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.send(p), 0);
  guest_ack(0);
  notes_.clear();
  EXPECT_EQ(ev_.unmask(p), 0);
  EXPECT_EQ(sel(0), 1u);
  EXPECT_EQ(upcall_pending(0), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{0, true}}));
}

TEST_F(EventChannelMask, UnmaskWorksForEveryOpenState) {
  uint32_t u = unbound();
  uint32_t t = virq(TG_VIRQ_TIMER, 1);
  uint32_t i = ipi(0);
  for (uint32_t p : {u, t, i}) {
    guest_mask(p);
    EXPECT_EQ(ev_.unmask(p), 0) << "port " << p;
    EXPECT_FALSE(mask_bit(p));
  }
}

TEST_F(EventChannelMask, UnmaskOfClosedPortIsEnoent) {
  guest_mask(1);
  EXPECT_EQ(ev_.unmask(1), -TG_ENOENT);
  EXPECT_TRUE(mask_bit(1)) << "a failed unmask changes nothing";
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.close(p), 0);
  EXPECT_EQ(ev_.unmask(p), -TG_ENOENT);
}

TEST_F(EventChannelMask, RaiseWhileEventsMaskedSetsUpcallPendingWithoutKick) {
  shared_.vcpu_info[1].upcall_mask = 1;  // cli on vCPU 1
  uint32_t p = ipi(1);
  EXPECT_EQ(ev_.send(p), 0);
  EXPECT_TRUE(pending_bit(p));
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1) << "sti must find it (9.5)";
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, false}}));
  EXPECT_EQ(upcall_pending(0), 0);
}

TEST_F(EventChannelMask, TimerVirqWhileEventsMasked) {
  shared_.vcpu_info[0].upcall_mask = 1;
  uint32_t t = virq(TG_VIRQ_TIMER, 0);
  ev_.raise_virq(0, TG_VIRQ_TIMER);
  EXPECT_TRUE(pending_bit(t));
  EXPECT_EQ(upcall_pending(0), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{0, false}}));
}

TEST_F(EventChannelMask, UnmaskWhileEventsMaskedDoesNotKick) {
  shared_.vcpu_info[1].upcall_mask = 1;
  uint32_t p = ipi(1);
  guest_mask(p);
  EXPECT_EQ(ev_.send(p), 0);
  notes_.clear();
  EXPECT_EQ(ev_.unmask(p), 0);
  EXPECT_EQ(sel(1), 1u);
  EXPECT_EQ(upcall_pending(1), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{1, false}}));
}

// ---------------------------------------------------------------------------
// close.

using EventChannelClose = EventChannelTest;

TEST_F(EventChannelClose, CloseTwiceIsEnoent) {
  uint32_t p = ipi(0);
  EXPECT_EQ(ev_.close(p), 0);
  EXPECT_EQ(ev_.close(p), -TG_ENOENT);
  EXPECT_EQ(ev_.close(2), -TG_ENOENT) << "never used";
}

TEST_F(EventChannelClose, CloseEveryState) {
  uint32_t u = unbound();
  uint32_t t = virq(TG_VIRQ_TIMER, 1);
  uint32_t c = virq(TG_VIRQ_CONSOLE, 0);
  uint32_t i = ipi(1);
  for (uint32_t p : {u, t, c, i}) {
    EXPECT_EQ(ev_.close(p), 0) << "port " << p;
    tg_evtchn_status st = status(p);
    EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_closed});
    EXPECT_EQ(st.vcpu, 0u);
    EXPECT_EQ(st.virq, 0u);
    EXPECT_EQ(st.remote_dom, 0);
    EXPECT_EQ(ev_.vcpu_of(p), 0u);
  }
}

TEST_F(EventChannelClose, CloseWhilePendingLeavesTheBits) {
  uint32_t a = ipi(1);
  uint32_t b = ipi(1);
  guest_mask(b);
  EXPECT_EQ(ev_.send(a), 0);
  EXPECT_EQ(ev_.send(b), 0);
  const uint64_t sel1 = sel(1);
  notes_.clear();
  EXPECT_EQ(ev_.close(a), 0);
  EXPECT_EQ(ev_.close(b), 0);
  EXPECT_TRUE(pending_bit(a));
  EXPECT_FALSE(mask_bit(a));
  EXPECT_TRUE(pending_bit(b));
  EXPECT_TRUE(mask_bit(b));
  EXPECT_EQ(sel(1), sel1);
  EXPECT_TRUE(notes_.empty());
  EXPECT_TRUE(ev_.pending(b));
}

TEST_F(EventChannelClose, PortReusedAfterClosingWhilePendingStartsClean) {
  uint32_t a = ipi(1);
  uint32_t b = ipi(1);
  guest_mask(b);
  EXPECT_EQ(ev_.send(a), 0);
  EXPECT_EQ(ev_.send(b), 0);
  EXPECT_EQ(ev_.close(a), 0);
  EXPECT_EQ(ev_.close(b), 0);
  guest_ack(1);
  notes_.clear();

  EXPECT_EQ(virq(TG_VIRQ_TIMER, 0), a) << "lowest free";
  EXPECT_EQ(ipi(0), b);
  EXPECT_FALSE(pending_bit(a)) << "a new port starts with pending cleared";
  EXPECT_FALSE(pending_bit(b));
  EXPECT_FALSE(mask_bit(a)) << "mask as the guest left it";
  EXPECT_TRUE(mask_bit(b)) << "mask as the guest left it";
  EXPECT_TRUE(notes_.empty());
  EXPECT_EQ(sel(0) | sel(1), 0u);

  // The new ports work normally: the old event is not merged into a new raise.
  ev_.raise_virq(0, TG_VIRQ_TIMER);
  EXPECT_TRUE(pending_bit(a));
  EXPECT_EQ(sel(0), 1u);
  EXPECT_EQ(upcall_pending(0), 1);
  EXPECT_EQ(notes_, (std::vector<Notification>{{0, true}}));
  guest_ack(0);
  EXPECT_EQ(ev_.send(b), 0);
  EXPECT_TRUE(pending_bit(b));
  EXPECT_EQ(sel(0), 0u) << "b is still masked";
  EXPECT_EQ(upcall_pending(0), 0);
  for (size_t n = 1; n < notes_.size(); ++n) EXPECT_EQ(notes_[n], (Notification{0, false}));
}

// ---------------------------------------------------------------------------
// status.

using EventChannelStatus = EventChannelTest;

TEST_F(EventChannelStatus, ClosedPortIsNotAnError) {
  tg_evtchn_status st = status(1);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_closed});
  EXPECT_EQ(st.vcpu, 0u);
  EXPECT_EQ(st.virq, 0u);
  EXPECT_EQ(st.remote_dom, 0);
  st = status(TG_NR_EVENT_CHANNELS - 1);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_closed});
}

TEST_F(EventChannelStatus, DescribesEachState) {
  uint32_t u = unbound();
  uint32_t t = virq(TG_VIRQ_TIMER, 1);
  uint32_t d = virq(TG_VIRQ_DEBUG, 0);
  uint32_t c = virq(TG_VIRQ_CONSOLE, 1);
  uint32_t i = ipi(1);

  tg_evtchn_status st = status(u);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_unbound});
  EXPECT_EQ(st.vcpu, 0u);
  EXPECT_EQ(st.virq, 0u);
  EXPECT_EQ(st.remote_dom, TG_DOMID_VMM);

  for (auto [port, v, cpu] : {std::tuple{t, uint32_t{TG_VIRQ_TIMER}, 1u}, std::tuple{d, uint32_t{TG_VIRQ_DEBUG}, 0u},
                              std::tuple{c, uint32_t{TG_VIRQ_CONSOLE}, 1u}}) {
    st = status(port);
    EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_virq}) << "port " << port;
    EXPECT_EQ(st.vcpu, cpu);
    EXPECT_EQ(st.virq, v);
    EXPECT_EQ(st.remote_dom, 0);
  }

  st = status(i);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_ipi});
  EXPECT_EQ(st.vcpu, 1u);
  EXPECT_EQ(st.virq, 0u);
  EXPECT_EQ(st.remote_dom, 0);
  EXPECT_EQ(st.port, i) << "in field kept";

  EXPECT_EQ(ev_.vcpu_of(t), 1u);
  EXPECT_EQ(ev_.vcpu_of(d), 0u);
  EXPECT_EQ(ev_.vcpu_of(i), 1u);
}

TEST_F(EventChannelStatus, StatusDoesNotDependOnTheBits) {
  uint32_t i = ipi(0);
  guest_mask(i);
  EXPECT_EQ(ev_.send(i), 0);
  EXPECT_EQ(status(i).status, uint32_t{TG_EVTCHNSTAT_ipi});
}

// ---------------------------------------------------------------------------
// 9.8 under threads: raisers on several threads, one thread playing the
// guest of both vCPUs exactly as 9.4 describes, driven only by the
// notifications. Every port raised must be taken by the guest at least
// once after its last raise, and nothing may be left pending.

class GuestModel {
 public:
  static constexpr uint32_t kMaxPorts = TG_NR_EVENT_CHANNELS;

  GuestModel(tg_shared_info& shared, EventChannels& ev) : shared_(shared), ev_(ev) {}

  // The Notify of the EventChannels (called with its lock held).
  void notify(uint32_t vcpu, bool unmasked) {
    if (!unmasked) return;  // events are never masked in these tests
    {
      std::lock_guard lock(mutex_);
      kicks_[vcpu] = true;
    }
    cv_.notify_one();
  }

  // Counted by a raiser before it raises `port`.
  void count_raise(uint32_t port) { raised_[port].fetch_add(1); }

  // owner(port, vcpu): whether vcpu handles port when it sees it (Linux
  // looks only at the ports bound to the CPU).
  template <typename Owner>
  void run(Owner owner, const std::atomic<bool>& done, bool mask_ports) {
    uint64_t lcg = 12345;
    std::vector<uint32_t> masked;
    bool finishing = false;
    for (;;) {
      bool kick[2] = {false, false};
      {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, std::chrono::milliseconds(10), [&] { return kicks_[0] || kicks_[1] || done.load(); });
        kick[0] = std::exchange(kicks_[0], false);
        kick[1] = std::exchange(kicks_[1], false);
      }
      for (uint32_t v = 0; v < 2; ++v) {
        if (!kick[v]) continue;
        ++upcalls_[v];
        upcall(v, owner);
      }
      if (mask_ports) {
        // Mask a port now and then (9.5: an atomic set, no exit); unmask it
        // later with the hypercall, which redelivers what came meanwhile.
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        uint32_t port = 1 + static_cast<uint32_t>((lcg >> 33) % masked_range_);
        if (masked.size() < 8) {
          std::atomic_ref<uint64_t>(shared_.evtchn_mask[port / 64]).fetch_or(bit(port));
          masked.push_back(port);
        }
        if (masked.size() >= 4 || finishing) {
          for (uint32_t p : masked) unmask_results_ |= ev_.unmask(p);
          masked.clear();
        }
      }
      if (finishing) {
        std::lock_guard lock(mutex_);
        if (!kicks_[0] && !kicks_[1]) return;
      } else if (done.load()) {
        finishing = true;  // one more round: unmask the rest, take the last kicks
      }
    }
  }

  void set_masked_range(uint32_t n) { masked_range_ = n; }

  uint64_t raised(uint32_t port) const { return raised_[port].load(); }
  uint64_t seen_after(uint32_t port) const { return seen_after_[port]; }
  uint64_t handled(uint32_t port) const { return handled_[port]; }
  uint64_t upcalls(uint32_t vcpu) const { return upcalls_[vcpu]; }
  int unmask_results() const { return unmask_results_; }

 private:
  template <typename Owner>
  void upcall(uint32_t v, Owner owner) {
    tg_vcpu_info& vi = shared_.vcpu_info[v];
    do {
      std::atomic_ref<uint8_t>(vi.upcall_pending).store(0);
      uint64_t sel = std::atomic_ref<uint64_t>(vi.pending_sel).exchange(0);
      while (sel != 0) {
        unsigned i = static_cast<unsigned>(__builtin_ctzll(sel));
        sel &= sel - 1;
        uint64_t bits = std::atomic_ref<uint64_t>(shared_.evtchn_pending[i]).load() &
                        ~std::atomic_ref<uint64_t>(shared_.evtchn_mask[i]).load();
        while (bits != 0) {
          unsigned b = static_cast<unsigned>(__builtin_ctzll(bits));
          bits &= bits - 1;
          uint32_t port = 64 * i + b;
          if (!owner(port, v)) continue;
          uint64_t old = std::atomic_ref<uint64_t>(shared_.evtchn_pending[i]).fetch_and(~(1ULL << b));
          if ((old >> b) & 1) {
            // Handle the port: everything raised before the bit was seen set is covered.
            seen_after_[port] = raised_[port].load();
            ++handled_[port];
          }
        }
      }
    } while (std::atomic_ref<uint8_t>(vi.upcall_pending).load() != 0);
  }

  tg_shared_info& shared_;
  EventChannels& ev_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool kicks_[2] = {false, false};
  uint32_t masked_range_ = 1;
  int unmask_results_ = 0;
  std::atomic<uint64_t> raised_[kMaxPorts] = {};
  uint64_t seen_after_[kMaxPorts] = {};
  uint64_t handled_[kMaxPorts] = {};
  uint64_t upcalls_[2] = {0, 0};
};

struct ConcurrencyFixture {
  tg_shared_info shared{};
  std::unique_ptr<GuestModel> guest;
  std::unique_ptr<EventChannels> ev;
  ConcurrencyFixture() {
    ev = std::make_unique<EventChannels>(shared, kNrVcpus, [this](uint32_t v, bool u) { guest->notify(v, u); });
    guest = std::make_unique<GuestModel>(shared, *ev);
  }
  void expect_all_quiet(uint32_t nr_ports) {
    for (uint32_t v = 0; v < kNrVcpus; ++v) {
      EXPECT_EQ(shared.vcpu_info[v].upcall_pending, 0) << "vCPU " << v << ": upcall pending, never notified";
      EXPECT_EQ(shared.vcpu_info[v].pending_sel, 0u) << "vCPU " << v;
    }
    for (uint32_t p = 1; p <= nr_ports; ++p) {
      EXPECT_FALSE(ev->pending(p)) << "port " << p << " left pending: an event was lost";
      EXPECT_EQ(guest->seen_after(p), guest->raised(p)) << "port " << p << ": a raise was not observed after it";
      if (guest->raised(p) != 0) {
        EXPECT_GE(guest->handled(p), 1u) << "port " << p;
      }
    }
    for (uint64_t w : shared.evtchn_mask) EXPECT_EQ(w, 0u);
  }
};

void run_ipi_storm(bool mask_ports) {
  constexpr uint32_t kPorts = 200;  // words 0-3, both vCPUs in every word
  constexpr int kRaisers = 3;
  constexpr int kRaisesEach = 100000;
  ConcurrencyFixture f;
  for (uint32_t p = 1; p <= kPorts; ++p) {
    uint32_t port = 0;
    ASSERT_EQ(f.ev->bind_ipi(p % 2, &port), 0);
    ASSERT_EQ(port, p);
  }
  f.guest->set_masked_range(kPorts);
  std::atomic<bool> done{false};
  std::thread guest([&] { f.guest->run([](uint32_t port, uint32_t v) { return port % 2 == v; }, done, mask_ports); });
  std::atomic<int> send_errors{0};
  std::vector<std::thread> raisers;
  for (int t = 0; t < kRaisers; ++t) {
    raisers.emplace_back([&, t] {
      uint64_t lcg = 0x9e3779b97f4a7c15ULL * (t + 1);
      for (int n = 0; n < kRaisesEach; ++n) {
        lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
        // Skewed: a few hot ports (merges) and all the others.
        uint64_t r = lcg >> 33;
        uint32_t port =
            (r & 3) != 0 ? 1 + static_cast<uint32_t>((r >> 2) % 8) : 1 + static_cast<uint32_t>((r >> 2) % kPorts);
        f.guest->count_raise(port);
        if (f.ev->send(port) != 0) send_errors.fetch_add(1);
        if (n % 256 == 0) std::this_thread::yield();  // interleave with the guest, 2 cores or not
      }
    });
  }
  for (auto& t : raisers) t.join();
  done.store(true);
  guest.join();

  EXPECT_EQ(send_errors.load(), 0);
  EXPECT_EQ(f.guest->unmask_results(), 0);
  f.expect_all_quiet(kPorts);
  EXPECT_GT(f.guest->upcalls(0), 0u);
  EXPECT_GT(f.guest->upcalls(1), 0u);
}

TEST(EventChannelConcurrency, IpiStormLosesNoEvent) { run_ipi_storm(false); }

TEST(EventChannelConcurrency, IpiStormWithGuestMaskingAndUnmaskLosesNoEvent) { run_ipi_storm(true); }

// A global VIRQ raised from one thread while another moves it between the
// vCPUs with bind_vcpu: the event always lands on a vCPU that takes it.
TEST(EventChannelConcurrency, GlobalVirqMovingBetweenVcpusLosesNoEvent) {
  ConcurrencyFixture f;
  uint32_t c = 0;
  ASSERT_EQ(f.ev->bind_virq(TG_VIRQ_CONSOLE, 0, &c), 0);
  uint32_t t0 = 0, t1 = 0;
  ASSERT_EQ(f.ev->bind_virq(TG_VIRQ_TIMER, 0, &t0), 0);
  ASSERT_EQ(f.ev->bind_virq(TG_VIRQ_TIMER, 1, &t1), 0);
  std::atomic<bool> done{false};
  // Either vCPU takes the console port when it finds it (its binding moves
  // under the guest's feet); timer ports only on their own vCPU.
  std::thread guest([&] {
    f.guest->run(
        [&](uint32_t port, uint32_t v) { return port == c || (port == t0 && v == 0) || (port == t1 && v == 1); }, done,
        false);
  });
  std::atomic<int> errors{0};
  std::thread mover([&] {
    for (int n = 0; n < 60000; ++n) {
      if (f.ev->bind_vcpu(c, n % 2) != 0) errors.fetch_add(1);
      if (n % 256 == 0) std::this_thread::yield();
    }
  });
  std::thread console([&] {
    for (int n = 0; n < 100000; ++n) {
      f.guest->count_raise(c);
      f.ev->raise_virq(n % 2, TG_VIRQ_CONSOLE);
      if (n % 256 == 0) std::this_thread::yield();
    }
  });
  std::thread timer([&] {
    for (int n = 0; n < 100000; ++n) {
      uint32_t v = (n / 3) % 2;
      f.guest->count_raise(v == 0 ? t0 : t1);
      f.ev->raise_virq(v, TG_VIRQ_TIMER);
      if (n % 256 == 0) std::this_thread::yield();
    }
  });
  mover.join();
  console.join();
  timer.join();
  done.store(true);
  guest.join();
  EXPECT_EQ(errors.load(), 0);
  f.expect_all_quiet(3);
}

}  // namespace
}  // namespace tortuga
