// A domain's I/O as its backends did it, summed over every device it has
// had: what `tortuga stats` prints and `tortuga top` turns into rates.
// Backends add from their own threads; readers take a relaxed snapshot.
#pragma once

#include <atomic>
#include <cstdint>

namespace tortuga {

struct IoCounters {
  std::atomic<uint64_t> block_reads{0}, block_read_bytes{0};
  std::atomic<uint64_t> block_writes{0}, block_write_bytes{0};
  std::atomic<uint64_t> block_other{0};                     // flushes and discards
  std::atomic<uint64_t> net_tx_frames{0}, net_tx_bytes{0};  // guest to host
  std::atomic<uint64_t> net_rx_frames{0}, net_rx_bytes{0};  // host to guest

  static void add(std::atomic<uint64_t>& counter, uint64_t n) { counter.fetch_add(n, std::memory_order_relaxed); }
};

}  // namespace tortuga
