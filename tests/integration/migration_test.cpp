// Live migration between two tortuga-vmm processes (ABI.md 21,
// hypervisor/migration/MIGRATION.md), driven as the daemons drive it: the source
// runs the counter guest under --control, the destination is
// `tortuga-vmm --incoming-fd N` on one end of a socketpair, and the other
// end goes to the source with migrate_send (SCM_RIGHTS). The count must
// go on at the destination; every failure before the switch-over must
// leave the source running and able to migrate again. Needs /dev/kvm.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "domain_image.pb.h"
#include "framing.h"
#include "host_peer.h"
#include "image_records.h"
#include "unique_fd.h"
#include "vmm_control.pb.h"
#include "vmm_process.h"
#include "vmm_session.h"

#include <tortuga/types.h>

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Phase = api::MigrationProgress;
using namespace std::chrono_literals;

constexpr int kMigrated = 8, kDestroyed = 7, kVmmError = 1;

struct Count {
  uint64_t n = 0, t = 0;
};

std::vector<Count> counts(const std::string& console) {
  std::vector<Count> out;
  static const std::regex line(R"(count (\d+) t=(\d+))");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line); it != std::sregex_iterator(); ++it) {
    out.push_back({std::stoull((*it)[1]), std::stoull((*it)[2])});
  }
  return out;
}

// Both ends of the migration's stream: the source's is close-on-exec, the
// destination's is inherited by the VMM started next.
struct Link {
  Link() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    source.reset(fds[0]);
    dest.reset(fds[1]);
    ::fcntl(source.get(), F_SETFD, FD_CLOEXEC);
  }
  UniqueFd source, dest;
};

api::MigrateSend params(uint32_t max_rounds = 0, uint64_t max_downtime_ms = 0, uint64_t bandwidth_mib_s = 0) {
  api::MigrateSend m;
  m.set_max_rounds(max_rounds);
  m.set_max_downtime_ms(max_downtime_ms);
  m.set_bandwidth_mib_s(bandwidth_mib_s);
  return m;
}

class Migration : public ::testing::Test {
 protected:
  std::unique_ptr<VmmSession> start_source(const std::string& cmdline = "counter=1") {
    auto s = std::make_unique<VmmSession>(
        std::vector<std::string>{test_guest_path(), "--name", "mover", "--memory", "32", "--cmdline", cmdline});
    EXPECT_TRUE(s->wait_console("count 3 ")) << s->console() << s->messages();
    return s;
  }

  // A destination VMM on link.dest (which it inherits; ours is closed).
  std::unique_ptr<VmmSession> start_destination(Link& link) {
    auto d = std::make_unique<VmmSession>(
        std::vector<std::string>{"--incoming-fd", std::to_string(link.dest.get()), "--name", "moved"}, "", false);
    link.dest.reset();
    return d;
  }

  // migrate_send with the source's end; it is answered at once.
  api::VmmReply migrate(VmmSession& source, Link& link, const api::MigrateSend& p = params()) {
    api::VmmRequest r;
    *r.mutable_migrate_send() = p;
    api::VmmReply reply;
    try {
      reply = source.call_with_fd(r, link.source.get());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "migrate_send: " << e.what() << "\n" << source.messages();
    }
    link.source.reset();
    return reply;
  }

  // The source's progress until it is FAILED or CANCELLED (60 s at most).
  api::MigrationProgress wait_failed(VmmSession& source) {
    for (int i = 0; i < 600; ++i) {
      api::MigrationProgress p = source.status().migration();
      if (p.phase() == Phase::FAILED || p.phase() == Phase::CANCELLED) return p;
      std::this_thread::sleep_for(100ms);
    }
    ADD_FAILURE() << "the migration did not fail";
    return {};
  }

  // The source counts on (three more counts) and is not paused.
  void expect_running_on(VmmSession& source) {
    EXPECT_FALSE(source.status().paused());
    auto c = counts(source.console());
    ASSERT_FALSE(c.empty());
    EXPECT_TRUE(source.wait_console("count " + std::to_string(c.back().n + 3) + " ")) << source.messages();
  }

  // A whole migration to a fresh destination: the source ends with 8, the
  // count goes on at the destination within what the downtime allows.
  void migrate_and_check(VmmSession& source, const api::MigrateSend& p = params()) {
    Link link;
    auto dest = start_destination(link);
    api::VmmReply reply = migrate(source, link, p);
    ASSERT_EQ(reply.error(), "");
    EXPECT_EQ(reply.migration().phase(), Phase::PRECOPY) << "answered at once, migrating on a thread";
    ASSERT_EQ(source.wait_exit(90s), kMigrated) << source.messages();
    std::smatch m;
    std::string messages = source.messages();
    ASSERT_TRUE(std::regex_search(messages, m, std::regex(R"(mover: migrated: downtime (\d+) ms)"))) << messages;
    uint64_t downtime_ms = std::stoull(m[1]);
    EXPECT_THAT(messages, HasSubstr("migration round 1:"));
    auto before = counts(source.console());
    ASSERT_FALSE(before.empty());
    ASSERT_TRUE(dest->wait_control(30s)) << dest->messages();
    ASSERT_TRUE(dest->wait_console("count " + std::to_string(before.back().n + 3) + " ", 1, 30s))
        << dest->console() << dest->messages();
    auto after = counts(dest->console());
    ASSERT_GE(after.size(), 2u) << dest->console();
    const Count& last = before.back();
    const Count& first = after.front();
    EXPECT_GT(first.n, last.n) << "never backwards";
    EXPECT_LE(first.n, last.n + 3) << "the count goes on from the source's";
    EXPECT_GT(first.t, last.t) << "system time goes on";
    // The gap the guest saw: its tick period, the downtime, and slack for
    // the console; a larger skip would mean time or state was lost.
    uint64_t gap_ms = (first.t - last.t) / 1'000'000;
    std::cout << "source's last count " << last.n << ", destination's first " << first.n << ", " << gap_ms
              << " ms of system time apart; downtime " << downtime_ms << " ms\n";
    EXPECT_LE(gap_ms, downtime_ms + 100 * (first.n - last.n) + 500) << "downtime " << downtime_ms << " ms";
    for (size_t i = 1; i < after.size(); ++i) EXPECT_EQ(after[i].n, after[i - 1].n + 1);
    try {
      EXPECT_EQ(dest->status().name(), "moved");
    } catch (const std::exception& e) {
      ADD_FAILURE() << "destination status: " << e.what() << "\n" << dest->messages();
    }
    ::kill(dest->pid(), SIGTERM);
    EXPECT_EQ(dest->wait_exit(30s), kDestroyed) << dest->messages();
    EXPECT_THAT(dest->console(), Not(HasSubstr("FAILED")));
    EXPECT_THAT(source.console(), Not(HasSubstr("FAILED")));
  }
};

TEST_F(Migration, TheCounterGoesOnAtTheDestination) {
  auto source = start_source();
  migrate_and_check(*source);
}

// A guest exchanging frames with the host every 20 ms moves; its NIC comes
// back on the destination's TAP (renamed, as a destination host names its
// own), which announces the guest's MAC, and the exchange goes on there
// without the frontend connecting again.
TEST_F(Migration, ANetworkEchoResumesAtTheDestinationWhichAnnouncesTheMac) {
  const std::string tag = std::to_string(::getpid() % 100000);
  const std::string tap_a = "tgma" + tag, tap_b = "tgmb" + tag, mac = "02:54:47:00:00:0a";
  PersistentTap persistent_a(tap_a), persistent_b(tap_b);
  ASSERT_TRUE(persistent_a.ok() && persistent_b.ok()) << "persistent TAPs need CAP_NET_ADMIN";
  HostPeer peer_a(tap_a), peer_b(tap_b);
  VmmSession source({test_guest_path(), "--name", "mover", "--memory", "32", "--cmdline", "net=ping n=1000000 every=20",
                     "--nic", tap_a + ",mac=" + mac});
  ASSERT_TRUE(source.wait_console("net: got pong 5\n")) << source.console() << source.messages();
  Link link;
  VmmSession dest(
      {"--incoming-fd", std::to_string(link.dest.get()), "--name", "moved", "--restore-nic-tap", tap_a + "=" + tap_b},
      "", false);
  link.dest.reset();
  api::VmmReply reply = migrate(source, link);
  ASSERT_EQ(reply.error(), "");
  ASSERT_EQ(source.wait_exit(90s), kMigrated) << source.messages();
  ASSERT_TRUE(dest.wait_control(30s)) << dest.messages();
  EXPECT_TRUE(dest.wait_console("net: got pong", 3)) << dest.console() << dest.messages();
  EXPECT_GT(peer_b.pongs(), 0) << "the echo goes on over the destination's TAP";
  EXPECT_GE(peer_b.announcements(mac), 1) << "the destination announces the guest's MAC";
  EXPECT_THAT(dest.console(), Not(HasSubstr("net: connected"))) << "the frontend never connected again";
  EXPECT_THAT(dest.messages(), Not(HasSubstr("device closed")));
  ::kill(dest.pid(), SIGTERM);
  EXPECT_EQ(dest.wait_exit(30s), kDestroyed) << dest.messages();
}

TEST_F(Migration, AGuestDirtyingMemoryConverges) {
  auto source = start_source("counter=1 dirty=400");
  ASSERT_THAT(source->console(), HasSubstr("counter: dirtying 400 pages per tick"));
  migrate_and_check(*source);
}

// A link slower than the guest dirties memory: the rounds never converge
// and stop-and-copy comes after max_rounds.
TEST_F(Migration, ADirtyingGuestOnASlowLinkStopsAfterMaxRounds) {
  auto source = start_source("counter=1 dirty=300");
  migrate_and_check(*source, params(3, 1, 8));
  // Never more rounds than asked. Why the rounds stopped depends on how
  // much the guest got to run meanwhile: on a loaded host (ctest -j) it
  // may dirty so little in a round that the rest fits the downtime. The
  // decisions themselves are unit-tested (precopy_policy_test).
  const std::string messages = source->messages();
  EXPECT_THAT(messages, Not(HasSubstr("migration round 4:")));
  EXPECT_TRUE(std::regex_search(messages, std::regex("ms: (max rounds reached|not converging|converged)\n")))
      << messages;
}

TEST_F(Migration, ADestinationKilledDuringPrecopyLeavesTheSourceRunning) {
  auto source = start_source("counter=1 dirty=300");
  Link link;
  auto dest = start_destination(link);
  ASSERT_EQ(migrate(*source, link, params(0, 1, 1)).error(), "");
  // Killed while the first rounds go out (1 MiB/s: several seconds).
  for (int i = 0; i < 100 && source->status().migration().pages_sent() == 0; ++i) std::this_thread::sleep_for(50ms);
  EXPECT_EQ(source->status().migration().phase(), Phase::PRECOPY);
  ::kill(dest->pid(), SIGKILL);
  api::MigrationProgress p = wait_failed(*source);
  EXPECT_EQ(p.phase(), Phase::FAILED);
  EXPECT_NE(p.error(), "");
  expect_running_on(*source);
  migrate_and_check(*source);
}

TEST_F(Migration, CancelDuringPrecopyLeavesTheSourceRunning) {
  auto source = start_source("counter=1 dirty=300");
  Link link;
  auto dest = start_destination(link);
  ASSERT_EQ(migrate(*source, link, params(0, 1, 1)).error(), "");
  for (int i = 0; i < 100 && source->status().migration().pages_sent() == 0; ++i) std::this_thread::sleep_for(50ms);
  api::VmmRequest cancel;
  cancel.mutable_migrate_cancel();
  api::VmmReply reply = source->call(cancel);
  EXPECT_EQ(reply.error(), "");
  EXPECT_EQ(reply.migration().phase(), Phase::CANCELLED);
  EXPECT_EQ(reply.migration().error(), "cancelled");
  EXPECT_FALSE(reply.paused());
  expect_running_on(*source);
  // The destination saw its stream end before the end record: one line, 1.
  EXPECT_EQ(dest->wait_exit(90s), kVmmError);
  EXPECT_THAT(dest->messages(), HasSubstr("refused: migration stream: "));
  EXPECT_EQ(occurrences(dest->messages(), "\n"), 1) << dest->messages();
  // A second cancel has nothing to cancel; a new migration works.
  EXPECT_THAT(source->call(cancel).error(), HasSubstr("no live migration"));
  migrate_and_check(*source);
}

// The test plays the destination: it takes the whole stream (checking its
// records), then answers `reply` instead of "ready" (or closes).
class HostileDestination : public Migration {
 protected:
  void answer_with(const std::string& reply, const std::string& expected_error) {
    auto source = start_source();
    Link link;
    int dest = link.dest.get();
    ASSERT_EQ(migrate(*source, link).error(), "");
    {
      ImageReader reader(dest);
      while (reader.next().type != static_cast<uint32_t>(RecordType::kEnd)) {
      }
    }
    if (!reply.empty()) {
      ASSERT_EQ(::write(dest, reply.data(), reply.size()), ssize_t(reply.size()));
    }
    if (reply.empty() || expected_error.find("closed") != std::string::npos) link.dest.reset();
    api::MigrationProgress p = wait_failed(*source);
    EXPECT_EQ(p.phase(), Phase::FAILED);
    EXPECT_THAT(p.error(), HasSubstr(expected_error));
    expect_running_on(*source);
    link.dest.reset();
    migrate_and_check(*source);
  }
};

std::string frame(const std::string& body) {
  uint32_t n = static_cast<uint32_t>(body.size());
  return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)} + body;
}

TEST_F(HostileDestination, ClosesBeforeReady) { answer_with("", "closed the connection before 'ready'"); }

TEST_F(HostileDestination, SendsGarbage) { answer_with(frame("\xff\xff\xff"), "malformed"); }

TEST_F(HostileDestination, SendsAnOversizedHeader) { answer_with("\x7f\xff\xff\xff", "over the"); }

TEST_F(HostileDestination, RefusesWithAReason) {
  // SwitchOver{kind: REFUSED, error: "no room"}
  answer_with(frame(std::string("\x08\x04\x12\x07no room", 11)), "the destination refused: no room");
}

TEST_F(HostileDestination, SaysRunningBeforeReady) {
  answer_with(frame(std::string("\x08\x03", 2)), "expected 'ready', got 'running'");
}

// READY, then the link breaks once GO came: the destination may be
// running the domain, so the source must not resume it.
TEST_F(HostileDestination, ALinkBrokenAfterGoLeavesTheSourcePaused) {
  auto source = start_source();
  Link link;
  int dest = link.dest.get();
  ASSERT_EQ(migrate(*source, link).error(), "");
  {
    ImageReader reader(dest);
    while (reader.next().type != static_cast<uint32_t>(RecordType::kEnd)) {
    }
  }
  std::string ready = frame(std::string("\x08\x01", 2));
  ASSERT_EQ(::write(dest, ready.data(), ready.size()), ssize_t(ready.size()));
  char go[6];
  ASSERT_EQ(::recv(dest, go, sizeof go, MSG_WAITALL), 6);
  EXPECT_EQ(std::string(go, 6), frame(std::string("\x08\x02", 2)));
  link.dest.reset();
  api::MigrationProgress p = wait_failed(*source);
  EXPECT_EQ(p.phase(), Phase::FAILED);
  EXPECT_THAT(p.error(), HasSubstr("outcome unknown"));
  api::VmmReply status = source->status();
  EXPECT_TRUE(status.paused());
  // It stays paused (no count for half a second)...
  size_t printed = counts(source->console()).size();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(counts(source->console()).size(), printed);
  // ...until the toolstack, knowing better, unpauses it.
  api::VmmRequest unpause;
  unpause.mutable_unpause();
  EXPECT_EQ(source->call(unpause).error(), "");
  expect_running_on(*source);
}

TEST_F(HostileDestination, ClosesAtOnce) {
  auto source = start_source();
  Link link;
  link.dest.reset();
  // The peer is gone before the first byte: the request is refused at once
  // (not connected) or the migration fails; either way the source runs on.
  api::VmmReply reply = migrate(*source, link);
  if (reply.error().empty()) {
    EXPECT_EQ(wait_failed(*source).phase(), Phase::FAILED);
  }
  expect_running_on(*source);
  migrate_and_check(*source);
}

TEST_F(Migration, MigrateSendWithoutASocketIsRefused) {
  auto source = start_source();
  api::VmmRequest r;
  *r.mutable_migrate_send() = params();
  EXPECT_THAT(source->call(r).error(), HasSubstr("SCM_RIGHTS"));
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd a(pipe_fds[0]), b(pipe_fds[1]);
  EXPECT_THAT(source->call_with_fd(r, a.get()).error(), HasSubstr("not a stream socket"));
  expect_running_on(*source);
}

// ---- a hostile source: the destination refuses with one line, exit 1 ----

VmmRun destination_fed(const std::string& bytes, bool close_after = true) {
  Link link;
  std::thread feeder([&, fd = link.source.get()] {
    (void)!::write(fd, bytes.data(), bytes.size());
    if (close_after) ::shutdown(fd, SHUT_WR);
  });
  // run_vmm's child inherits link.dest (not close-on-exec).
  VmmRun run = run_vmm({"--incoming-fd", std::to_string(link.dest.get())});
  feeder.join();
  return run;
}

void expect_refused(const VmmRun& run, const std::string& why) {
  EXPECT_EQ(run.exit_code, kVmmError) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("refused: migration stream: "));
  EXPECT_THAT(run.messages, HasSubstr(why));
  EXPECT_EQ(occurrences(run.messages, "\n"), 1) << run.messages;
  EXPECT_THAT(run.console, Not(HasSubstr("count ")));
}

TEST(HostileSource, GarbageIsRefused) { expect_refused(destination_fed("GARBAGE!and more"), "wrong magic"); }

TEST(HostileSource, AStreamEndingEarlyIsRefused) {
  expect_refused(destination_fed(std::string(kImageMagic, 8)), "without an end record");
  expect_refused(destination_fed(std::string(kImageMagic, 8) + std::string(10, '\0')), "truncated");
}

// Records written as a source would, into a string.
std::string stream_of(const std::vector<std::pair<RecordType, std::string>>& records) {
  FILE* f = std::tmpfile();
  {
    ImageWriter w(fileno(f));
    for (const auto& [type, payload] : records) w.write(type, payload);
    w.flush();
  }
  std::string out;
  std::rewind(f);
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

TEST(HostileSource, AHostileHeaderIsRefused) {
  image::Header h;
  h.set_format_version(2);
  expect_refused(destination_fed(stream_of({{RecordType::kHeader, h.SerializeAsString()}})), "format version 2");
  h.set_format_version(kImageFormatVersion);
  h.set_abi_version(TG_ABI_VERSION);
  h.set_page_size(kImagePageSize);
  h.set_memory_bytes(1ULL << 50);  // a petabyte, which the config does not say
  h.set_vcpus(1);
  image::Config c;
  c.set_memory_mib(32);
  c.set_vcpus(1);
  expect_refused(destination_fed(stream_of(
                     {{RecordType::kHeader, h.SerializeAsString()}, {RecordType::kConfig, c.SerializeAsString()}})),
                 "memory size disagrees");
  // A record whose checksum is wrong.
  std::string bad = stream_of({{RecordType::kHeader, h.SerializeAsString()}});
  bad[bad.size() - 1] ^= 1;
  expect_refused(destination_fed(bad), "corrupt");
}

TEST(HostileSource, ANonSocketIsRefused) {
  VmmRun run = run_vmm({"--incoming-fd", "0"});  // stdin: /dev/null
  expect_refused(run, "not a stream socket");
  run = run_vmm({"--incoming-fd", "999"});
  expect_refused(run, "not open");
}

}  // namespace
}  // namespace tortuga::testing
