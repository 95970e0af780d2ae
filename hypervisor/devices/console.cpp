#include "devices/console.h"

#include <poll.h>
#include <unistd.h>

#include <cstdio>

namespace tortuga {

Console::Console(Sink output, int input_fd) : output_(std::move(output)), input_fd_(input_fd) {}

void Console::write(std::span<const uint8_t> bytes) {
  std::lock_guard lock(mutex_);
  output_(bytes);
}

size_t Console::read(std::span<uint8_t> dst) {
  if (input_fd_ < 0 || dst.empty()) return 0;
  std::lock_guard lock(mutex_);
  pollfd p{input_fd_, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN)) return 0;
  ssize_t n = ::read(input_fd_, dst.data(), dst.size());
  return n > 0 ? static_cast<size_t>(n) : 0;
}

Console Console::stdio() {
  return Console(
      [](std::span<const uint8_t> bytes) {
        if (bytes.empty()) return;
        std::fwrite(bytes.data(), 1, bytes.size(), stdout);
        std::fflush(stdout);
      },
      STDIN_FILENO);
}

}  // namespace tortuga
