// The switch-over messages (switch_over.h): what each side accepts, and
// hostile or out-of-turn replies as one-line errors.
#include <sys/socket.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "framing.h"
#include "migration/switch_over.h"
#include "unique_fd.h"

namespace tortuga {
namespace {

using ::testing::HasSubstr;
using SO = migration::SwitchOver;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const SwitchOverError& e) {
    return e.what();
  }
  return "";
}

SO message(SO::Kind kind, const std::string& error = "") {
  SO m;
  m.set_kind(kind);
  m.set_error(error);
  return m;
}

TEST(SwitchOver, TheAwaitedKindPasses) {
  EXPECT_EQ(error_of([] { check_switch_over(message(SO::READY), SO::READY); }), "");
  EXPECT_EQ(error_of([] { check_switch_over(message(SO::RUNNING), SO::RUNNING); }), "");
}

TEST(SwitchOver, OutOfTurnIsAnError) {
  EXPECT_EQ(error_of([] { check_switch_over(message(SO::RUNNING), SO::READY); }), "expected 'ready', got 'running'");
  EXPECT_EQ(error_of([] { check_switch_over(message(SO::UNKNOWN), SO::GO); }), "expected 'go', got 'message kind 0'");
  SO odd;
  odd.set_kind(static_cast<SO::Kind>(77));  // proto3 keeps unknown enum values
  EXPECT_THAT(error_of([&] { check_switch_over(odd, SO::READY); }), HasSubstr("message kind 77"));
}

TEST(SwitchOver, ARefusalCarriesItsReasonCleaned) {
  EXPECT_EQ(error_of([] { check_switch_over(message(SO::REFUSED, "bad\nimage"), SO::READY); }),
            "the destination refused: bad?image");
  EXPECT_EQ(error_of([] { check_switch_over(message(SO::REFUSED), SO::READY); }),
            "the destination refused: no reason given");
  std::string e = error_of([] { check_switch_over(message(SO::REFUSED, std::string(5000, 'x')), SO::READY); });
  EXPECT_LT(e.size(), 300u);
}

TEST(SwitchOver, GarbageDoesNotParse) {
  EXPECT_THROW(parse_switch_over("\xff\xff\xff"), SwitchOverError);
  EXPECT_EQ(parse_switch_over(message(SO::GO).SerializeAsString()).kind(), SO::GO);
}

struct Pair {
  Pair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    a.reset(fds[0]);
    b.reset(fds[1]);
  }
  UniqueFd a, b;
};

TEST(SwitchOver, OverASocket) {
  Pair p;
  send_switch_over(p.a.get(), SO::READY, 1000);
  EXPECT_EQ(error_of([&] { await_switch_over(p.b.get(), SO::READY, 1000); }), "");
  send_switch_over(p.a.get(), SO::REFUSED, 1000, "no room");
  EXPECT_EQ(error_of([&] { await_switch_over(p.b.get(), SO::RUNNING, 1000); }), "the destination refused: no room");
}

TEST(SwitchOver, SilenceClosedStreamsAndHostileFramesFail) {
  Pair p;
  EXPECT_THAT(error_of([&] { await_switch_over(p.b.get(), SO::READY, 50); }), HasSubstr("timed out"));
  const char huge[] = {'\x7f', '\xff', '\xff', '\xff'};  // a length over the frame limit
  ASSERT_EQ(::write(p.a.get(), huge, 4), 4);
  EXPECT_THAT(error_of([&] { await_switch_over(p.b.get(), SO::READY, 1000); }), HasSubstr("over the"));
  Pair q;
  const char garbage[] = {0, 0, 0, 3, '\xff', '\xff', '\xff'};
  ASSERT_EQ(::write(q.a.get(), garbage, sizeof garbage), ssize_t(sizeof garbage));
  EXPECT_THAT(error_of([&] { await_switch_over(q.b.get(), SO::READY, 1000); }), HasSubstr("malformed"));
  q.a.reset();
  EXPECT_THAT(error_of([&] { await_switch_over(q.b.get(), SO::READY, 1000); }), HasSubstr("closed the connection"));
}

}  // namespace
}  // namespace tortuga
