// Backends and their doorbells, without KVM: the PV MMU lets L1 entries map
// doorbell pages and nothing else; event channels route sends and closes of
// backend ports; the console ring backend drains what the guest produced.
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <tortuga/errno.h>

#include "console_ring.h"
#include "events/event_channels.h"
#include "mmu_model_domain.h"

namespace tortuga {
namespace {

using namespace test;

constexpr uint64_t kDoorbellGfn = 0x4000c00;  // as the VMM places them: above its area
constexpr uint64_t kDoorbellPages = 8;

class DoorbellMappingTest : public ::testing::Test, protected MmuModelDomain {
 protected:
  DoorbellMappingTest() { mmu_with_doorbells = std::make_unique<PvMmu>(memory, 1, kDoorbellGfn, kDoorbellPages); }
  std::unique_ptr<PvMmu> mmu_with_doorbells;
  ApplyProgram p;
  // An L4 -> L3 -> L2 -> L1 chain in frames 1..4, pinned; returns the L1.
  uint64_t pinned_chain() {
    ram(1, 0) = pte_to(2, kTable);
    ram(2, 0) = pte_to(3, kTable);
    ram(3, 0) = pte_to(4, kTable);
    EXPECT_EQ(mmu_with_doorbells->pin(1, 4, p), 0);
    return 4;
  }
};

TEST_F(DoorbellMappingTest, AnL1EntryMayMapADoorbellPageWritableAndNothingIsCounted) {
  uint64_t l1 = pinned_chain();
  EXPECT_EQ(mmu_with_doorbells->update(entry_gpa(l1, 5), pte_to(kDoorbellGfn + 7, kPageRw), p), 0);
  EXPECT_EQ(mmu_with_doorbells->update(entry_gpa(l1, 6), pte_to(kDoorbellGfn, kPageRo), p), 0);
  EXPECT_EQ(mmu_with_doorbells->check_invariants(), "");
  EXPECT_EQ(mmu_with_doorbells->update(entry_gpa(l1, 5), 0, p), 0) << "and unmapped again";
  EXPECT_EQ(mmu_with_doorbells->check_invariants(), "");
}

TEST_F(DoorbellMappingTest, PastTheDoorbellPagesIsNotTheDomains) {
  uint64_t l1 = pinned_chain();
  EXPECT_EQ(mmu_with_doorbells->update(entry_gpa(l1, 5), pte_to(kDoorbellGfn + kDoorbellPages, kPageRw), p), -TG_EPERM);
  EXPECT_EQ(mmu_with_doorbells->update(entry_gpa(l1, 5), pte_to(kDoorbellGfn - 1, kPageRw), p), -TG_EPERM);
}

TEST_F(DoorbellMappingTest, ADoorbellPageIsNeverATable) {
  uint64_t l1 = pinned_chain();
  (void)l1;
  EXPECT_EQ(mmu_with_doorbells->update(entry_gpa(3, 1), pte_to(kDoorbellGfn, kTable), p), -TG_EPERM);
  EXPECT_EQ(mmu_with_doorbells->pin(kDoorbellGfn, 1, p), -TG_EPERM);
}

TEST(BackendPortTest, SendCallsTheBackendAndCloseDisconnectsIt) {
  tg_shared_info shared{};
  EventChannels ev(shared, 1, [](uint32_t, bool) {});
  uint32_t port = 0;
  ASSERT_EQ(ev.alloc_unbound(TG_DOMID_VMM, &port), 0);
  int notified = 0, closed = 0;
  EXPECT_EQ(ev.bind_backend(
                port, [&] { ++notified; }, [&] { ++closed; }),
            0);
  EXPECT_EQ(ev.bind_backend(
                port, [] {}, [] {}),
            -TG_EINVAL)
      << "only an unbound port can be bound";
  tg_evtchn_status st{};
  st.port = port;
  ASSERT_EQ(ev.status(st), 0);
  EXPECT_EQ(st.status, uint32_t{TG_EVTCHNSTAT_backend});
  EXPECT_EQ(ev.send(port), 0);
  EXPECT_EQ(notified, 1);
  EXPECT_FALSE(ev.pending(port)) << "a send notifies the backend, it raises nothing";
  ev.raise_backend_port(port);
  EXPECT_TRUE(ev.pending(port));
  EXPECT_EQ(ev.close(port), 0);
  EXPECT_EQ(closed, 1);
  EXPECT_EQ(ev.send(port), -TG_ENOENT);
  EXPECT_EQ(notified, 1);
}

class ConsoleRingTest : public ::testing::Test {
 protected:
  tg_console_ring ring{};
  std::string out;
  int raised = 0;
  ConsoleRing backend{ring, [this](std::span<const uint8_t> b) { out.append(b.begin(), b.end()); },
                      [this] { ++raised; }};
  void produce(const std::string& s) {
    for (char c : s) ring.out[TG_CONSOLE_IDX(ring.out_prod++, TG_CONSOLE_OUT_SIZE)] = c;
  }
};

TEST_F(ConsoleRingTest, DrainsWhatWasProducedAcrossTheWrapAndRaisesThePort) {
  ring.out_cons = ring.out_prod = 0xfffffff0u;  // indices are free-running
  produce("hello, ring that wraps around its indices\n");
  EXPECT_EQ(backend.notified(), 42u);
  EXPECT_EQ(out, "hello, ring that wraps around its indices\n");
  EXPECT_EQ(ring.out_cons, ring.out_prod);
  EXPECT_EQ(raised, 1);
  EXPECT_EQ(backend.notified(), 0u) << "nothing new, nothing raised";
  EXPECT_EQ(raised, 1);
}

TEST_F(ConsoleRingTest, ARunawayProducerIndexIsClampedToTheRing) {
  std::memset(ring.out, 'x', sizeof ring.out);
  ring.out_prod = 1'000'000;  // the guest claims far more than the ring holds
  EXPECT_EQ(backend.notified(), size_t{TG_CONSOLE_OUT_SIZE});
  EXPECT_EQ(out.size(), size_t{TG_CONSOLE_OUT_SIZE});
  EXPECT_EQ(ring.out_cons, ring.out_prod);
}

// The guest consumes input: everything between in_cons and in_prod.
std::string consume_input(tg_console_ring& ring) {
  std::string s;
  for (; ring.in_cons != ring.in_prod; ++ring.in_cons) s += ring.in[TG_CONSOLE_IDX(ring.in_cons, TG_CONSOLE_IN_SIZE)];
  return s;
}

TEST_F(ConsoleRingTest, InputGoesIntoTheRingAndRaisesThePort) {
  const std::string text = "input for the guest\n";
  EXPECT_EQ(backend.feed({reinterpret_cast<const uint8_t*>(text.data()), text.size()}), text.size());
  EXPECT_EQ(ring.in_prod, text.size());
  EXPECT_EQ(raised, 1);
  EXPECT_EQ(consume_input(ring), text);
  EXPECT_EQ(backend.backlog(), 0u);
}

TEST_F(ConsoleRingTest, InputBeyondTheRingWaitsForTheGuestToMakeRoom) {
  std::string text(3000, 'a');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + i % 26);
  EXPECT_EQ(backend.feed({reinterpret_cast<const uint8_t*>(text.data()), text.size()}), text.size());
  EXPECT_EQ(ring.in_prod, uint32_t{TG_CONSOLE_IN_SIZE}) << "the ring holds 1024 bytes";
  EXPECT_EQ(backend.backlog(), text.size() - TG_CONSOLE_IN_SIZE);
  std::string got = consume_input(ring);
  backend.notified();  // the guest's doorbell after making room
  got += consume_input(ring);
  backend.notified();
  got += consume_input(ring);
  EXPECT_EQ(got, text);
  EXPECT_EQ(raised, 3);
}

TEST_F(ConsoleRingTest, TheBacklogIsBoundedAndFeedingCanBeStopped) {
  std::vector<uint8_t> lots(3 * ConsoleRing::kMaxBacklog, 'z');
  size_t taken = backend.feed(lots);
  EXPECT_EQ(taken, ConsoleRing::kMaxBacklog) << "the backlog is capped (the ring took its part of it)";
  EXPECT_EQ(backend.backlog(), ConsoleRing::kMaxBacklog - TG_CONSOLE_IN_SIZE);
  backend.stop_feeding();
  EXPECT_FALSE(backend.wait_for_room()) << "a stopped feeder never blocks";
}

TEST_F(ConsoleRingTest, AGuestClaimingToHaveConsumedTooMuchGetsNoMoreInput) {
  ring.in_cons = 5000;  // more than was ever produced
  const std::string text = "ignored";
  backend.feed({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  EXPECT_EQ(ring.in_prod, 0u);
  EXPECT_EQ(raised, 0);
  ring.in_cons = 0;  // the guest repairs its index
  backend.notified();
  EXPECT_EQ(consume_input(ring), text);
}

}  // namespace
}  // namespace tortuga
