#include "console_ring.h"

#include <algorithm>
#include <atomic>
#include <stdexcept>
#include <vector>

namespace tortuga {

ConsoleRing::ConsoleRing(tg_console_ring& ring, Output output, RaisePort raise)
    : ring_(ring), output_(std::move(output)), raise_(std::move(raise)) {}

size_t ConsoleRing::notified() {
  std::lock_guard lock(mutex_);
  move_input_locked();  // the guest may have consumed input
  uint32_t cons = std::atomic_ref<uint32_t>(ring_.out_cons).load(std::memory_order_relaxed);
  uint32_t prod = std::atomic_ref<uint32_t>(ring_.out_prod).load(std::memory_order_acquire);
  uint32_t pending = prod - cons;
  // A producer index that ran away (more than the ring holds) is the
  // guest's bug: take what the ring can hold and resynchronise.
  if (pending > TG_CONSOLE_OUT_SIZE) {
    cons = prod - TG_CONSOLE_OUT_SIZE;
    pending = TG_CONSOLE_OUT_SIZE;
  }
  if (pending == 0) return 0;
  std::vector<uint8_t> bytes(pending);
  for (uint32_t i = 0; i < pending; ++i) {
    bytes[i] = static_cast<uint8_t>(std::atomic_ref<char>(ring_.out[TG_CONSOLE_IDX(cons + i, TG_CONSOLE_OUT_SIZE)])
                                        .load(std::memory_order_relaxed));
  }
  output_(bytes);
  std::atomic_ref<uint32_t>(ring_.out_cons).store(prod, std::memory_order_release);
  raise_();  // room again
  return pending;
}

size_t ConsoleRing::feed(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  size_t n = std::min(bytes.size(), kMaxBacklog - backlog_.size());
  backlog_.insert(backlog_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
  move_input_locked();
  return n;
}

bool ConsoleRing::wait_for_room() {
  std::unique_lock lock(mutex_);
  room_.wait(lock, [&] { return stopped_ || backlog_.size() < kMaxBacklog; });
  return !stopped_;
}

void ConsoleRing::stop_feeding() {
  std::lock_guard lock(mutex_);
  stopped_ = true;
  room_.notify_all();
}

size_t ConsoleRing::backlog() const {
  std::lock_guard lock(mutex_);
  return backlog_.size();
}

ConsoleRingState ConsoleRing::save() const {
  std::lock_guard lock(mutex_);
  return {in_prod_, std::string(backlog_.begin(), backlog_.end())};
}

void ConsoleRing::restore(const ConsoleRingState& s) {
  if (s.backlog.size() > kMaxBacklog) throw std::invalid_argument("console input backlog over its limit");
  std::lock_guard lock(mutex_);
  in_prod_ = s.in_prod;
  backlog_.assign(s.backlog.begin(), s.backlog.end());
}

// Copies what fits of the backlog into the input half. in_cons is the
// guest's: one that claims more was consumed than we produced is a broken
// guest, which then gets no more input (the VMM is not affected).
void ConsoleRing::move_input_locked() {
  if (backlog_.empty()) return;
  uint32_t cons = std::atomic_ref<uint32_t>(ring_.in_cons).load(std::memory_order_acquire);
  uint32_t used = in_prod_ - cons;
  if (used > TG_CONSOLE_IN_SIZE) return;
  size_t n = std::min<size_t>(TG_CONSOLE_IN_SIZE - used, backlog_.size());
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i) {
    std::atomic_ref<char>(ring_.in[TG_CONSOLE_IDX(in_prod_ + i, TG_CONSOLE_IN_SIZE)])
        .store(static_cast<char>(backlog_[i]), std::memory_order_relaxed);
  }
  backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
  in_prod_ += static_cast<uint32_t>(n);
  std::atomic_ref<uint32_t>(ring_.in_prod).store(in_prod_, std::memory_order_release);
  room_.notify_all();
  raise_();  // input arrived
}

}  // namespace tortuga
