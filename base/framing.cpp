#include "framing.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

namespace tortuga {
namespace {

using Clock = std::chrono::steady_clock;

// Milliseconds left until `deadline` for poll(); -1 = no deadline.
int remaining_ms(std::optional<Clock::time_point> deadline) {
  if (!deadline) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

std::optional<Clock::time_point> deadline_after(int timeout_ms) {
  if (timeout_ms < 0) return std::nullopt;
  return Clock::now() + std::chrono::milliseconds(timeout_ms);
}

void wait_ready(int fd, short events, std::optional<Clock::time_point> deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r > 0) return;
    if (r == 0) throw FramingError(fmt::format("timed out {}", what));
    if (errno != EINTR) throw FramingError(fmt::format("poll while {}: {}", what, std::strerror(errno)));
  }
}

// Reads exactly `size` bytes; returns how many arrived before end of stream.
size_t read_full(int fd, uint8_t* dst, size_t size, std::optional<Clock::time_point> deadline) {
  size_t got = 0;
  while (got < size) {
    wait_ready(fd, POLLIN, deadline, "waiting for a message");
    ssize_t n = ::recv(fd, dst + got, size - got, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw FramingError(fmt::format("read: {}", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return got;
}

// recv() that also takes SCM_RIGHTS descriptors: the first goes to
// `passed`, any other is closed and remembered as a protocol error.
ssize_t recv_with_fds(int fd, uint8_t* dst, size_t size, UniqueFd& passed, bool& extra) {
  iovec iov{dst, size};
  alignas(cmsghdr) char control[CMSG_SPACE(4 * sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0) return n;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int got;
      std::memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
      if (!passed.valid()) {
        passed.reset(got);
      } else {
        ::close(got);
        extra = true;
      }
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) extra = true;  // descriptors were dropped by the kernel
  return n;
}

// read_full with descriptors collected on the way.
size_t read_full_with_fds(int fd, uint8_t* dst, size_t size, std::optional<Clock::time_point> deadline,
                          UniqueFd& passed, bool& extra) {
  size_t got = 0;
  while (got < size) {
    wait_ready(fd, POLLIN, deadline, "waiting for a message");
    ssize_t n = recv_with_fds(fd, dst + got, size - got, passed, extra);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw FramingError(fmt::format("read: {}", std::strerror(errno)));
    }
    got += static_cast<size_t>(n);
  }
  return got;
}

}  // namespace

uint32_t frame_length(const uint8_t (&h)[kFrameHeaderBytes]) {
  return (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | uint32_t{h[3]};
}

std::optional<std::string> frame_length_problem(uint32_t length) {
  if (length > kMaxMessageBytes) {
    return fmt::format("message of {} bytes is over the {} byte limit", length, kMaxMessageBytes);
  }
  return std::nullopt;
}

std::string encode_frame(const google::protobuf::MessageLite& message) {
  size_t size = message.ByteSizeLong();
  if (size > kMaxMessageBytes) {
    throw FramingError(
        fmt::format("{} of {} bytes is over the {} byte limit", message.GetTypeName(), size, kMaxMessageBytes));
  }
  std::string frame(kFrameHeaderBytes + size, '\0');
  frame[0] = static_cast<char>(size >> 24);
  frame[1] = static_cast<char>(size >> 16);
  frame[2] = static_cast<char>(size >> 8);
  frame[3] = static_cast<char>(size);
  if (!message.SerializeToArray(frame.data() + kFrameHeaderBytes, static_cast<int>(size))) {
    throw FramingError(fmt::format("cannot serialize {}", message.GetTypeName()));
  }
  return frame;
}

void decode_body(const std::string& body, google::protobuf::MessageLite& message) {
  if (!message.ParseFromString(body)) {
    throw MalformedMessage(
        fmt::format("malformed message: {} bytes that are not a valid {}", body.size(), message.GetTypeName()));
  }
}

void send_message(int fd, const google::protobuf::MessageLite& message, int timeout_ms) {
  std::string frame = encode_frame(message);
  auto deadline = deadline_after(timeout_ms);
  size_t sent = 0;
  while (sent < frame.size()) {
    wait_ready(fd, POLLOUT, deadline, "sending a message");
    // MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE.
    ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw FramingError(fmt::format("write: {}", std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
}

bool receive_message(int fd, google::protobuf::MessageLite& message, int timeout_ms) {
  auto deadline = deadline_after(timeout_ms);
  uint8_t header[kFrameHeaderBytes];
  size_t got = read_full(fd, header, sizeof header, deadline);
  if (got == 0) return false;
  if (got < sizeof header) throw FramingError("truncated message: the connection closed inside a header");
  uint32_t length = frame_length(header);
  if (auto problem = frame_length_problem(length)) throw FramingError(*problem);
  std::string body(length, '\0');
  if (read_full(fd, reinterpret_cast<uint8_t*>(body.data()), length, deadline) < length) {
    throw FramingError(fmt::format("truncated message: the connection closed inside a {} byte body", length));
  }
  decode_body(body, message);
  return true;
}

void send_message_with_fd(int fd, const google::protobuf::MessageLite& message, int passed_fd, int timeout_ms) {
  std::string frame = encode_frame(message);
  auto deadline = deadline_after(timeout_ms);
  // The descriptor goes with the first sendmsg; the rest of a frame that
  // did not fit goes without it.
  size_t sent = 0;
  while (sent == 0) {
    wait_ready(fd, POLLOUT, deadline, "sending a message");
    iovec iov{frame.data(), frame.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &passed_fd, sizeof passed_fd);
    ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw FramingError(fmt::format("sendmsg with a descriptor: {}", std::strerror(errno)));
    }
    sent = static_cast<size_t>(n);
  }
  while (sent < frame.size()) {
    wait_ready(fd, POLLOUT, deadline, "sending a message");
    ssize_t n = ::send(fd, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw FramingError(fmt::format("write: {}", std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
}

bool receive_message_with_fd(int fd, google::protobuf::MessageLite& message, UniqueFd& passed, int timeout_ms) {
  passed.reset();
  auto deadline = deadline_after(timeout_ms);
  bool extra = false;
  uint8_t header[kFrameHeaderBytes];
  size_t got = read_full_with_fds(fd, header, sizeof header, deadline, passed, extra);
  if (got == 0) return false;
  if (got < sizeof header) throw FramingError("truncated message: the connection closed inside a header");
  uint32_t length = frame_length(header);
  if (auto problem = frame_length_problem(length)) throw FramingError(*problem);
  std::string body(length, '\0');
  if (read_full_with_fds(fd, reinterpret_cast<uint8_t*>(body.data()), length, deadline, passed, extra) < length) {
    throw FramingError(fmt::format("truncated message: the connection closed inside a {} byte body", length));
  }
  if (extra) {
    passed.reset();
    throw FramingError("more than one file descriptor came with a message");
  }
  decode_body(body, message);
  return true;
}

}  // namespace tortuga
