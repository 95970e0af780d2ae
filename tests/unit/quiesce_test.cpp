// Quiesce's pause from outside the vCPUs (the toolstack's pause): threads
// standing in for vCPUs run a loop with a safe point and count their rounds.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "vcpu/quiesce.h"

namespace tortuga {
namespace {

class FakeVcpus {
 public:
  explicit FakeVcpus(Quiesce& q, uint32_t n) : q_(q), rounds_(n) {
    for (uint32_t v = 0; v < n; ++v) q_.set_up(v, true);
    for (uint32_t v = 0; v < n; ++v) {
      threads_.emplace_back([this, v] {
        while (!stop_.load()) {
          q_.safe_point(v);
          rounds_[v].fetch_add(1);
        }
        q_.set_up(v, false);
      });
    }
  }
  ~FakeVcpus() {
    stop_.store(true);
    for (auto& t : threads_) t.join();
  }
  uint64_t rounds(uint32_t v) const { return rounds_[v].load(); }
  uint64_t total() const {
    uint64_t n = 0;
    for (const auto& r : rounds_) n += r.load();
    return n;
  }

 private:
  Quiesce& q_;
  std::vector<std::atomic<uint64_t>> rounds_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

void no_kick(uint32_t) {}

TEST(QuiescePause, HoldsEveryVcpuAtASafePointUntilResumed) {
  Quiesce q(3);
  FakeVcpus vcpus(q, 3);
  ASSERT_TRUE(q.pause_all(no_kick, [] { return false; }));
  // Every vCPU is parked: at most the round it was finishing is counted.
  uint64_t parked = vcpus.total();
  for (int i = 0; i < 1000; ++i) std::this_thread::yield();
  EXPECT_EQ(vcpus.total(), parked);
  q.resume_all();
  uint64_t before = vcpus.rounds(2);
  while (vcpus.rounds(2) == before) std::this_thread::yield();  // it runs again
  SUCCEED();
}

TEST(QuiescePause, GivesUpWhenTheDomainStops) {
  Quiesce q(2);
  q.set_up(0, true);  // up, never reaching a safe point
  EXPECT_FALSE(q.pause_all(no_kick, [] { return true; }));
  // And leaves no request behind: a vCPU's own section can begin.
  q.set_up(0, false);
  q.set_up(1, true);
  EXPECT_TRUE(q.begin(1, no_kick, [] { return false; }));
  q.end(1);
}

TEST(QuiescePause, KicksTheRunningVcpus) {
  Quiesce q(2);
  FakeVcpus vcpus(q, 2);
  std::vector<uint32_t> kicked;
  ASSERT_TRUE(q.pause_all([&](uint32_t v) { kicked.push_back(v); }, [] { return false; }));
  EXPECT_EQ(kicked.size(), 2u);
  q.resume_all();
}

}  // namespace
}  // namespace tortuga
