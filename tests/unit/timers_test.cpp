// VcpuTimers: the one-shot timer of every vCPU (ABI.md 10) on its
// Boost.Asio thread. Firings are waited for with generous timeouts and
// never timed; "must not fire" is checked either against a deadline far
// beyond the test (destroyed first), or with the timer thread held inside
// a callback so that the re-arm or disarm is known to come first.
#include "events/timers.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tortuga {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMs = 1'000'000;
constexpr uint64_t kHour = 3600ULL * 1000 * kMs;
constexpr auto kGenerous = 10s;

uint64_t monotonic_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

class VcpuTimerTest : public ::testing::Test {
 protected:
  VcpuTimerTest() { create(); }
  ~VcpuTimerTest() override { destroy(); }

  void create(uint64_t created_ns = monotonic_ns()) {
    created_ns_ = created_ns;
    timers_ = std::make_unique<VcpuTimers>(2, created_ns_, [this](uint32_t vcpu) { on_expired(vcpu); });
  }
  // Releases a held timer thread first, or the destructor could not join it.
  void destroy() {
    release();
    timers_.reset();
  }

  // System time now, as the domain sees it.
  uint64_t now() const { return monotonic_ns() - created_ns_; }

  void on_expired(uint32_t vcpu) {
    std::unique_lock lock(mutex_);
    fired_.push_back(vcpu);
    cv_.notify_all();
    if (vcpu == 1 && hold_next_vcpu1_) {
      hold_next_vcpu1_ = false;
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_; });
    }
  }

  bool wait_for_firings(size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kGenerous, [&] { return fired_.size() >= n; });
  }
  std::vector<uint32_t> fired() {
    std::lock_guard lock(mutex_);
    return fired_;
  }
  size_t count(uint32_t vcpu) {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(std::count(fired_.begin(), fired_.end(), vcpu));
  }

  // Makes vCPU 1's timer fire and keeps the timer thread inside that
  // callback until release(): whatever is posted meanwhile runs after.
  void hold_timer_thread() {
    {
      std::lock_guard lock(mutex_);
      hold_next_vcpu1_ = true;
      held_ = false;
      released_ = false;
    }
    timers_->arm(1, 0);
    std::unique_lock lock(mutex_);
    ASSERT_TRUE(cv_.wait_for(lock, kGenerous, [&] { return held_; })) << "vCPU 1's timer never fired";
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }

  // Arms vCPU 1 in the past and waits for it: every operation posted to the
  // timer thread before it has run by the time it returns true.
  bool sentinel() {
    size_t before = count(1);
    timers_->arm(1, 0);
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kGenerous,
                        [&] { return static_cast<size_t>(std::count(fired_.begin(), fired_.end(), 1u)) > before; });
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<uint32_t> fired_;
  bool hold_next_vcpu1_ = false;
  bool held_ = false;
  bool released_ = false;
  uint64_t created_ns_ = 0;
  std::unique_ptr<VcpuTimers> timers_;  // last: destroyed first
};

TEST_F(VcpuTimerTest, ArmedTimerFiresOnceForItsVcpu) {
  timers_->arm(1, now() + 2 * kMs);
  ASSERT_TRUE(wait_for_firings(1)) << "the timer never fired";
  std::this_thread::sleep_for(100ms);  // a one-shot timer: nothing more comes
  EXPECT_EQ(fired(), (std::vector<uint32_t>{1}));
}

TEST_F(VcpuTimerTest, EachVcpuHasItsOwnTimer) {
  timers_->arm(0, now() + 3 * kMs);
  timers_->arm(1, now() + 1 * kMs);
  ASSERT_TRUE(wait_for_firings(2));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(count(0), 1u);
  EXPECT_EQ(count(1), 1u);
}

TEST_F(VcpuTimerTest, ArmingOneVcpuDoesNotReplaceTheOther) {
  timers_->arm(0, now() + kHour);
  timers_->arm(1, now() + 1 * kMs);
  ASSERT_TRUE(wait_for_firings(1));
  destroy();
  EXPECT_EQ(fired(), (std::vector<uint32_t>{1}));
}

TEST_F(VcpuTimerTest, ArmingInThePastFiresPromptly) {
  timers_->arm(0, 0);  // system time 0: the domain's creation
  ASSERT_TRUE(wait_for_firings(1)) << "a deadline in the past never fired";
  EXPECT_EQ(fired(), (std::vector<uint32_t>{0}));
}

TEST_F(VcpuTimerTest, ArmingLongInThePastFiresPromptly) {
  destroy();
  create(monotonic_ns() - 3600 * 1000 * kMs);  // the domain is an hour old
  timers_->arm(1, 1);
  timers_->arm(0, now() - 1000 * kMs);
  ASSERT_TRUE(wait_for_firings(2));
  EXPECT_EQ(count(0), 1u);
  EXPECT_EQ(count(1), 1u);
}

TEST_F(VcpuTimerTest, ArmingAtNowFires) {
  timers_->arm(0, now());
  ASSERT_TRUE(wait_for_firings(1));
  EXPECT_EQ(fired(), (std::vector<uint32_t>{0}));
}

TEST_F(VcpuTimerTest, RearmingToAnEarlierDeadlineReplacesTheLaterOne) {
  timers_->arm(0, now() + 10'000 * kMs);
  timers_->arm(0, now() + 1 * kMs);
  // The +10 s deadline cannot be reached within this wait: a firing is the new one.
  std::unique_lock lock(mutex_);
  ASSERT_TRUE(cv_.wait_for(lock, 5s, [&] { return !fired_.empty(); })) << "the re-armed deadline never fired";
  lock.unlock();
  std::this_thread::sleep_for(50ms);
  destroy();
  EXPECT_EQ(fired(), (std::vector<uint32_t>{0})) << "exactly one firing, and the +10 s one never";
}

TEST_F(VcpuTimerTest, RearmingToALaterDeadlineReplacesTheEarlierOne) {
  ASSERT_NO_FATAL_FAILURE(hold_timer_thread());
  // Both posted while the timer thread is busy: the past deadline cannot have
  // fired before the re-arm, so it must never fire.
  timers_->arm(0, 0);
  timers_->arm(0, now() + kHour);
  release();
  ASSERT_TRUE(sentinel());
  std::this_thread::sleep_for(50ms);
  destroy();
  EXPECT_EQ(count(0), 0u) << "the replaced deadline fired";
}

TEST_F(VcpuTimerTest, RearmingAfterAFiringFiresAgain) {
  timers_->arm(0, 0);
  ASSERT_TRUE(wait_for_firings(1));
  timers_->arm(0, now() + 1 * kMs);
  ASSERT_TRUE(wait_for_firings(2));
  timers_->arm(0, 0);
  ASSERT_TRUE(wait_for_firings(3));
  EXPECT_EQ(fired(), (std::vector<uint32_t>{0, 0, 0}));
}

TEST_F(VcpuTimerTest, DisarmCancels) {
  ASSERT_NO_FATAL_FAILURE(hold_timer_thread());
  timers_->arm(0, 0);
  timers_->disarm(0);
  release();
  ASSERT_TRUE(sentinel());
  std::this_thread::sleep_for(50ms);
  destroy();
  EXPECT_EQ(count(0), 0u) << "a disarmed timer fired";
}

TEST_F(VcpuTimerTest, DisarmOnlyTouchesItsVcpu) {
  ASSERT_NO_FATAL_FAILURE(hold_timer_thread());
  timers_->arm(0, 0);
  timers_->disarm(1);
  release();
  ASSERT_TRUE(wait_for_firings(2));  // vCPU 1 (the hold), then vCPU 0
  EXPECT_EQ(count(0), 1u);
}

TEST_F(VcpuTimerTest, ArmAfterDisarmFires) {
  timers_->arm(0, now() + kHour);
  timers_->disarm(0);
  timers_->arm(0, 0);
  ASSERT_TRUE(wait_for_firings(1));
  EXPECT_EQ(fired(), (std::vector<uint32_t>{0}));
}

TEST_F(VcpuTimerTest, DisarmOfAnIdleTimerIsHarmless) {
  timers_->disarm(0);
  timers_->disarm(0);
  timers_->arm(0, 0);
  ASSERT_TRUE(wait_for_firings(1));
  EXPECT_EQ(fired(), (std::vector<uint32_t>{0}));
}

TEST_F(VcpuTimerTest, DestructionWithArmedTimersReturnsWithoutFiring) {
  timers_->arm(0, now() + kHour);
  timers_->arm(1, now() + kHour);
  destroy();
  EXPECT_TRUE(fired().empty());
}

TEST_F(VcpuTimerTest, ManyRearmsFireOnceForTheLast) {
  ASSERT_NO_FATAL_FAILURE(hold_timer_thread());
  for (int n = 0; n < 1000; ++n) timers_->arm(0, n % 2 == 0 ? 0 : now() + kHour);
  timers_->arm(0, 0);  // the last one: due now
  release();
  ASSERT_TRUE(wait_for_firings(2));
  ASSERT_TRUE(sentinel());
  std::this_thread::sleep_for(50ms);
  destroy();
  EXPECT_EQ(count(0), 1u) << "only the last arming counts";
}

}  // namespace
}  // namespace tortuga
