// Feeds the domain's console input (the VMM's stdin, or whatever fd the
// Console reads) into the console ring (ABI.md 20) from a thread of its
// own: it waits for input, hands it to the ring, and when the guest does
// not consume, waits for room instead of buffering without bound (the
// host's pipe then holds the rest). Ends at end of file or destruction.
#pragma once

#include <thread>

#include "console_ring.h"
#include "unique_fd.h"

namespace tortuga {

class ConsoleInput {
 public:
  ConsoleInput(int input_fd, ConsoleRing& ring);
  ~ConsoleInput();
  ConsoleInput(const ConsoleInput&) = delete;
  ConsoleInput& operator=(const ConsoleInput&) = delete;

 private:
  void run();
  bool wait_readable();

  int input_fd_;
  ConsoleRing& ring_;
  UniqueFd stop_;  // an eventfd: readable once destruction starts
  std::thread thread_;
};

}  // namespace tortuga
