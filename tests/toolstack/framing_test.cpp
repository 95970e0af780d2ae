// Length-prefixed protobuf frames, over a socketpair.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "control.pb.h"
#include "framing.h"
#include "unique_fd.h"

namespace tortuga::toolstack {
namespace {

using ::testing::HasSubstr;

struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  void raw(const std::string& bytes) { ASSERT_EQ(::write(a.get(), bytes.data(), bytes.size()), ssize_t(bytes.size())); }
  UniqueFd a, b;
};

std::string header(uint32_t n) { return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)}; }

std::string receive_error(int fd) {
  api::Request r;
  try {
    receive_message(fd, r, 1000);
  } catch (const FramingError& e) {
    return e.what();
  }
  return "";
}

TEST(Framing, RoundTrip) {
  Pair p;
  api::Request out;
  out.mutable_create()->mutable_config()->set_name("x");
  send_message(p.a.get(), out, 1000);
  api::Request in;
  ASSERT_TRUE(receive_message(p.b.get(), in, 1000));
  EXPECT_EQ(in.create().config().name(), "x");
}

TEST(Framing, EmptyMessageIsAFrameOfLengthZero) { EXPECT_EQ(encode_frame(api::Request()), header(0)); }

TEST(Framing, CleanEndOfStreamIsNotAnError) {
  Pair p;
  p.a.reset();
  api::Request in;
  EXPECT_FALSE(receive_message(p.b.get(), in, 1000));
}

TEST(Framing, OversizedLengthIsRefusedBeforeReading) {
  Pair p;
  p.raw(header(kMaxMessageBytes + 1));
  EXPECT_THAT(receive_error(p.b.get()), HasSubstr("over the 1048576 byte limit"));
  EXPECT_TRUE(frame_length_problem(kMaxMessageBytes) == std::nullopt);
}

TEST(Framing, TruncatedHeaderAndBody) {
  Pair p;
  p.raw(std::string("\0\0", 2));
  p.a.reset();
  EXPECT_THAT(receive_error(p.b.get()), HasSubstr("truncated message"));
  Pair q;
  q.raw(header(10) + "abc");
  q.a.reset();
  EXPECT_THAT(receive_error(q.b.get()), HasSubstr("inside a 10 byte body"));
}

TEST(Framing, MalformedBodyIsItsOwnError) {
  Pair p;
  p.raw(header(3) + "\xff\xff\xff");
  api::Request r;
  EXPECT_THROW(receive_message(p.b.get(), r, 1000), MalformedMessage);
}

TEST(Framing, SilenceTimesOut) {
  Pair p;
  EXPECT_THAT(receive_error(p.b.get()), HasSubstr("timed out"));
}

TEST(Framing, TooLargeToSend) {
  api::Request big;
  big.mutable_console_input()->set_data(std::string(kMaxMessageBytes + 1, 'x'));
  EXPECT_THROW(encode_frame(big), FramingError);
}

// ---- a descriptor riding on a frame (MigrateSend's stream socket) ----------

// True if `fd` is the other end of `peer`: a byte written there reads here.
bool same_channel(int peer, int fd) {
  if (::write(peer, "z", 1) != 1) return false;
  char c = 0;
  return ::read(fd, &c, 1) == 1 && c == 'z';
}

TEST(FramingWithFd, TheDescriptorArrivesWithItsFrame) {
  Pair control, stream;
  api::Request out;
  out.mutable_create()->mutable_config()->set_name("with fd");
  send_message_with_fd(control.a.get(), out, stream.a.get(), 1000);
  api::Request in;
  UniqueFd got;
  ASSERT_TRUE(receive_message_with_fd(control.b.get(), in, got, 1000));
  EXPECT_EQ(in.create().config().name(), "with fd");
  ASSERT_TRUE(got.valid());
  EXPECT_NE(got.get(), stream.a.get());
  EXPECT_TRUE(same_channel(stream.b.get(), got.get()));
  EXPECT_EQ(::fcntl(got.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST(FramingWithFd, AFrameWithoutOneGivesNone) {
  Pair p;
  send_message(p.a.get(), api::Request(), 1000);
  api::Request in;
  UniqueFd got(::dup(0));
  ASSERT_TRUE(receive_message_with_fd(p.b.get(), in, got, 1000));
  EXPECT_FALSE(got.valid());
  // And the plain receive takes a frame that had one (the descriptor is dropped).
  Pair s;
  send_message_with_fd(p.a.get(), api::Request(), s.a.get(), 1000);
  EXPECT_TRUE(receive_message(p.b.get(), in, 1000));
}

TEST(FramingWithFd, TwoDescriptorsAreRefusedAndClosed) {
  Pair p, s;
  // Two SCM_RIGHTS descriptors on one frame, as a hostile peer could send.
  std::string frame = encode_frame(api::Request());
  iovec iov{frame.data(), frame.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(2 * sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(2 * sizeof(int));
  int fds[2] = {s.a.get(), s.b.get()};
  std::memcpy(CMSG_DATA(c), fds, sizeof fds);
  ASSERT_EQ(::sendmsg(p.a.get(), &msg, 0), ssize_t(frame.size()));
  api::Request in;
  UniqueFd got;
  EXPECT_THROW(receive_message_with_fd(p.b.get(), in, got, 1000), FramingError);
  EXPECT_FALSE(got.valid());
}

TEST(FramingWithFd, ALengthOverTheLimitIsRefused) {
  Pair p, s;
  p.raw(header(kMaxMessageBytes + 1));
  api::Request in;
  UniqueFd got;
  EXPECT_THROW(receive_message_with_fd(p.b.get(), in, got, 1000), FramingError);
}

}  // namespace
}  // namespace tortuga::toolstack
