#include "devices/console_input.h"

#include <poll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace tortuga {

ConsoleInput::ConsoleInput(int input_fd, ConsoleRing& ring)
    : input_fd_(input_fd), ring_(ring), stop_(::eventfd(0, EFD_CLOEXEC)) {
  if (!stop_.valid()) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

ConsoleInput::~ConsoleInput() {
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_.get(), &one, sizeof one);
  ring_.stop_feeding();
  thread_.join();
}

// True when input (or its end) is there, false when we must stop.
bool ConsoleInput::wait_readable() {
  pollfd fds[2] = {{input_fd_, POLLIN, 0}, {stop_.get(), POLLIN, 0}};
  for (;;) {
    int n = ::poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return false;
    return true;
  }
}

void ConsoleInput::run() {
  uint8_t buf[1024];
  while (wait_readable()) {
    ssize_t n = ::read(input_fd_, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;  // end of input: the guest keeps what it was given
    std::span<const uint8_t> rest(buf, static_cast<size_t>(n));
    while (!rest.empty()) {
      rest = rest.subspan(ring_.feed(rest));
      if (!rest.empty() && !ring_.wait_for_room()) return;
    }
  }
}

}  // namespace tortuga
