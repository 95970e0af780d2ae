#include "vcpu/quiesce.h"

#include <chrono>

namespace tortuga {

bool Quiesce::others_quiet(uint32_t self) const {
  for (uint32_t v = 0; v < state_.size(); ++v) {
    if (v != self && state_[v].up && !state_[v].quiet) return false;
  }
  return true;
}

bool Quiesce::begin(uint32_t self, const std::function<void(uint32_t)>& kick, const std::function<bool()>& stopping) {
  std::unique_lock lock(mutex_);
  // Another vCPU's section first: we are at a safe point (nothing done yet).
  while (requested_.load()) {
    state_[self].quiet = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !requested_.load(); });
    state_[self].quiet = false;
  }
  return claim_and_wait(lock, self, kick, stopping);
}

bool Quiesce::pause_all(const std::function<void(uint32_t)>& kick, const std::function<bool()>& stopping) {
  std::unique_lock lock(mutex_);
  // A vCPU's section ends on its own; the pause waits for it.
  cv_.wait(lock, [&] { return !requested_.load(); });
  return claim_and_wait(lock, kOutside, kick, stopping);
}

// Takes the section for owner (a vCPU, or kOutside for a pause), kicks every
// other vCPU that runs guest code and waits until all are quiet.
bool Quiesce::claim_and_wait(std::unique_lock<std::mutex>& lock, uint32_t owner,
                             const std::function<void(uint32_t)>& kick, const std::function<bool()>& stopping) {
  requested_.store(true, std::memory_order_release);
  owner_ = owner;
  std::vector<uint32_t> running;
  for (uint32_t v = 0; v < state_.size(); ++v) {
    if (v != owner && state_[v].up && !state_[v].quiet) running.push_back(v);
  }
  lock.unlock();
  for (uint32_t v : running) kick(v);
  lock.lock();
  while (!others_quiet(owner)) {
    if (stopping()) {
      requested_.store(false, std::memory_order_release);
      cv_.notify_all();
      return false;
    }
    cv_.wait_for(lock, std::chrono::milliseconds(10));
  }
  return true;
}

void Quiesce::end(uint32_t self) {
  std::lock_guard lock(mutex_);
  if (owner_ != self) return;
  requested_.store(false, std::memory_order_release);
  cv_.notify_all();
}

void Quiesce::park(uint32_t self, bool for_outside) {
  std::unique_lock lock(mutex_);
  if (!requested_.load() || owner_ == self || (!for_outside && owner_ == kOutside)) return;
  state_[self].quiet = true;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !requested_.load(); });
  state_[self].quiet = false;
}

bool Quiesce::pause_requested() {
  if (!requested_.load(std::memory_order_acquire)) return false;
  std::lock_guard lock(mutex_);
  return requested_.load() && owner_ == kOutside;
}

void Quiesce::sleeping(uint32_t self) {
  std::lock_guard lock(mutex_);
  state_[self].quiet = true;
  cv_.notify_all();
}

void Quiesce::awake(uint32_t self) {
  std::unique_lock lock(mutex_);
  cv_.wait(lock, [&] { return !requested_.load() || owner_ == self; });
  state_[self].quiet = false;
}

void Quiesce::set_up(uint32_t self, bool up) {
  std::lock_guard lock(mutex_);
  state_[self].up = up;
  state_[self].quiet = false;
  cv_.notify_all();
}

}  // namespace tortuga
