// The console backend on the console ring page (io/console.h, ABI.md 20):
// output the guest produced goes to the domain's console; the VMM frees the
// space and raises the console port so a guest waiting for room wakes.
//
// It touches guest memory only through the ring page (a VMM-typed frame,
// never a page table), and copies every index it reads before using it:
// the guest may rewrite the page at any time.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <span>

#include <tortuga/io/console.h>

namespace tortuga {

class ConsoleRing {
 public:
  using Output = std::function<void(std::span<const uint8_t>)>;
  using RaisePort = std::function<void()>;

  // ring: the host mapping of the ring page.
  ConsoleRing(tg_console_ring& ring, Output output, RaisePort raise);

  // The guest rang the doorbell (or sent on the port): drain its output.
  // Thread-safe. Returns the number of bytes passed on.
  size_t notified();

 private:
  tg_console_ring& ring_;
  Output output_;
  RaisePort raise_;
  std::mutex mutex_;
};

}  // namespace tortuga
