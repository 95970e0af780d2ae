// The domain's console as the VMM sees it: bytes the guest writes with
// console_io, and bytes waiting for it to read. The VMM program connects it
// to stdout/stdin; tests and benchmarks capture it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>

namespace tortuga {

class Console {
 public:
  using Sink = std::function<void(std::span<const uint8_t>)>;

  // output: where guest output goes; input_fd: read without blocking for
  // guest input, or -1 for none.
  Console(Sink output, int input_fd);

  void write(std::span<const uint8_t> bytes);
  // Bytes waiting for the guest, at most dst.size(); 0 when none.
  size_t read(std::span<uint8_t> dst);
  // The input descriptor (-1 for none), for the console ring's feeder.
  int input_fd() const { return input_fd_; }

  // A console that writes to stdout and reads stdin.
  static Console stdio();

 private:
  Sink output_;
  int input_fd_;
  std::mutex mutex_;
};

}  // namespace tortuga
