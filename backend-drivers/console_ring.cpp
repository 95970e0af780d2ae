#include "console_ring.h"

#include <atomic>
#include <vector>

namespace tortuga {

ConsoleRing::ConsoleRing(tg_console_ring& ring, Output output, RaisePort raise)
    : ring_(ring), output_(std::move(output)), raise_(std::move(raise)) {}

size_t ConsoleRing::notified() {
  std::lock_guard lock(mutex_);
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
    bytes[i] = static_cast<uint8_t>(
        std::atomic_ref<char>(ring_.out[TG_CONSOLE_IDX(cons + i, TG_CONSOLE_OUT_SIZE)]).load(std::memory_order_relaxed));
  }
  output_(bytes);
  std::atomic_ref<uint32_t>(ring_.out_cons).store(prod, std::memory_order_release);
  raise_();  // room again
  return pending;
}

}  // namespace tortuga
