// The console backend on the console ring page (io/console.h, ABI.md 20):
// output the guest produced goes to the domain's console; the VMM frees the
// space and raises the console port so a guest waiting for room wakes.
// Input for the guest (feed()) is queued here, up to kMaxBacklog bytes,
// and moved into the ring's input half as the guest frees room; the port
// is raised whenever input was added.
//
// It touches guest memory only through the ring page (a VMM-typed frame,
// never a page table), and copies every index it reads before using it:
// the guest may rewrite the page at any time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string>

#include <tortuga/io/console.h>

namespace tortuga {

// What a save records of the console ring (hypervisor/README.md, "Saving
// a component"): the input producer index the VMM keeps, and input not yet
// in the ring.
struct ConsoleRingState {
  uint32_t in_prod = 0;
  std::string backlog;
};

class ConsoleRing {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;
  using RaisePort = std::function<void()>;

  // ring: the host mapping of the ring page.
  ConsoleRing(tg_console_ring& ring, Output output, RaisePort raise);

  // The guest rang the doorbell (or sent on the port): drain its output.
  // Thread-safe. Returns the number of bytes passed on.
  size_t notified();

  static constexpr size_t kMaxBacklog = 4096;
  // Queues console input for the guest: takes as many bytes as the backlog
  // has room for and returns that number (0 when full: wait_for_room()).
  size_t feed(std::span<const uint8_t> bytes);
  // Blocks until the backlog has room or stop_feeding() was called; false
  // once stopped.
  bool wait_for_room();
  void stop_feeding();
  size_t backlog() const;

  ConsoleRingState save() const;
  // Throws std::invalid_argument for a backlog over kMaxBacklog.
  void restore(const ConsoleRingState& state);

 private:
  void move_input_locked();

  tg_console_ring& ring_;
  Output output_;
  RaisePort raise_;
  mutable std::mutex mutex_;
  std::condition_variable room_;
  std::deque<uint8_t> backlog_;
  uint32_t in_prod_ = 0;  // ours; the page's copy is only ever written
  bool stopped_ = false;
};

}  // namespace tortuga
