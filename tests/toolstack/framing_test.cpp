// Length-prefixed protobuf frames, over a socketpair.
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

std::string header(uint32_t n) {
  return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)};
}

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

TEST(Framing, EmptyMessageIsAFrameOfLengthZero) {
  EXPECT_EQ(encode_frame(api::Request()), header(0));
}

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

}  // namespace
}  // namespace tortuga::toolstack
