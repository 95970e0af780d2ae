// Live migration between two tortugads, each in its own network namespace,
// joined by a veth pair (the "two hosts on one machine"): a
// counting guest and a guest writing to a shared disk move while they run;
// a refused or unreachable destination leaves the source running and the
// destination clean. Label `guest`.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "blk_pattern.h"
#include "toolstack_harness.h"

namespace tortuga::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

bool sh(const std::string& command) { return std::system(command.c_str()) == 0; }

// Two namespaces with a veth pair between them: 10.213.P.1 and 10.213.P.2.
class TwoHosts {
 public:
  TwoHosts() : tag_(std::to_string(::getpid() % 100000)), subnet_(fmt_subnet()) {
    a_ = "tgmA" + tag_;
    b_ = "tgmB" + tag_;
    ok_ = sh("ip netns add " + a_) && sh("ip netns add " + b_) &&
          sh("ip link add va" + tag_ + " netns " + a_ + " type veth peer name vb" + tag_ + " netns " + b_) &&
          sh("ip -n " + a_ + " addr add " + address_a() + "/24 dev va" + tag_) &&
          sh("ip -n " + b_ + " addr add " + address_b() + "/24 dev vb" + tag_) &&
          sh("ip -n " + a_ + " link set va" + tag_ + " up") && sh("ip -n " + b_ + " link set vb" + tag_ + " up") &&
          sh("ip -n " + a_ + " link set lo up") && sh("ip -n " + b_ + " link set lo up");
  }
  ~TwoHosts() {
    sh("ip netns del " + a_ + " 2>/dev/null");
    sh("ip netns del " + b_ + " 2>/dev/null");
  }
  bool ok() const { return ok_; }
  const std::string& a() const { return a_; }
  const std::string& b() const { return b_; }
  std::string address_a() const { return subnet_ + ".1"; }
  std::string address_b() const { return subnet_ + ".2"; }

 private:
  std::string fmt_subnet() const { return "10.213." + std::to_string(::getpid() % 250); }
  std::string tag_, subnet_, a_, b_;
  bool ok_ = false;
};

std::vector<uint64_t> numbers_after(const std::string& text, const std::string& prefix) {
  std::vector<uint64_t> out;
  std::regex re(prefix + "([0-9]+)");
  for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it)
    out.push_back(std::stoull((*it)[1]));
  return out;
}

struct Pair {
  TwoHosts hosts;
  std::unique_ptr<DaemonHarness> source, destination;
  Pair() {
    if (!hosts.ok()) return;
    source = std::make_unique<DaemonHarness>(hosts.address_a() + ":7575", hosts.a());
    destination = std::make_unique<DaemonHarness>(hosts.address_b() + ":7575", hosts.b());
  }
  std::string to() const { return hosts.address_b() + ":7575"; }
};

TEST(ToolstackMigration, ACountingGuestMovesAndCountsOn) {
  Pair p;
  ASSERT_TRUE(p.hosts.ok());
  DaemonHarness& src = *p.source;
  DaemonHarness& dst = *p.destination;
  src.ok({"create", "-n", "mover", "-k", test_guest_path(), "--cmdline", "counter=1"});
  ASSERT_TRUE(eventually([&] { return numbers_after(console_of(src, "mover"), "count ").size() >= 5; }));
  pid_t pid = domain_pid(src, "mover");
  std::string out = src.ok({"migrate", "mover", p.to()});
  EXPECT_THAT(out, HasSubstr("domain 'mover' migrated to " + p.to()));
  EXPECT_TRUE(std::regex_search(out, std::regex("downtime [0-9]+ ms")));
  // Gone here, nothing left; running there.
  EXPECT_FALSE(process_alive(pid));
  EXPECT_THAT(src.ok({"list", "--json"}), Not(HasSubstr("mover")));
  EXPECT_THAT(list_dir(src.dir() + "/run"), IsEmpty());
  EXPECT_EQ(domain_state(dst, "mover"), "RUNNING");
  std::vector<uint64_t> before = numbers_after(console_of(src, "mover"), "count ");
  ASSERT_TRUE(eventually([&] { return numbers_after(console_of(dst, "mover"), "count ").size() >= 3; }))
      << console_of(dst, "mover");
  std::vector<uint64_t> after = numbers_after(console_of(dst, "mover"), "count ");
  // On from where the source stopped: no count repeated, none lost.
  EXPECT_EQ(after.front(), before.back() + 1);
  for (size_t i = 1; i < after.size(); ++i) EXPECT_EQ(after[i], after[i - 1] + 1);
  EXPECT_THAT(console_of(dst, "mover"), Not(HasSubstr("FAILED")));
  // The destination's domain is a whole one: it can be paused and moved back.
  dst.ok({"pause", "mover"});
  dst.ok({"unpause", "mover"});
  EXPECT_THAT(dst.ok({"migrate", "mover", p.hosts.address_a() + ":7575"}), HasSubstr("migrated"));
  EXPECT_EQ(domain_state(src, "mover"), "RUNNING");
}

TEST(ToolstackMigration, AGuestWritingToASharedDiskLosesNoAcknowledgedWrite) {
  Pair p;
  ASSERT_TRUE(p.hosts.ok());
  DaemonHarness& src = *p.source;
  DaemonHarness& dst = *p.destination;
  const std::string disk = src.dir() + "/shared.img";  // one path for both "hosts"
  std::ofstream(disk).close();
  fs::resize_file(disk, 8 << 20);
  src.ok(
      {"create", "-n", "writer", "-k", test_guest_path(), "--cmdline", "vbd=seq every=20", "--disk", disk + ",xvda"});
  ASSERT_TRUE(eventually([&] { return numbers_after(console_of(src, "writer"), "vbd: acked ").size() >= 5; }))
      << console_of(src, "writer");
  src.ok({"migrate", "writer", p.to()});
  const uint64_t acked_at_source = numbers_after(console_of(src, "writer"), "vbd: acked ").back();
  ASSERT_TRUE(eventually([&] { return numbers_after(console_of(dst, "writer"), "vbd: acked ").size() >= 5; }))
      << console_of(dst, "writer");
  std::vector<uint64_t> there = numbers_after(console_of(dst, "writer"), "vbd: acked ");
  EXPECT_GT(there.front(), acked_at_source);  // on from there, no reconnect, no rewrite
  EXPECT_THAT(console_of(dst, "writer"), Not(HasSubstr("FAILED")));
  EXPECT_THAT(console_of(dst, "writer"), Not(HasSubstr("seq connected")));
  dst.ok({"pause", "writer"});
  const uint64_t last = numbers_after(console_of(dst, "writer"), "vbd: acked ").back();
  // Every write acknowledged on either host is in the image.
  std::ifstream in(disk, std::ios::binary);
  for (uint64_t n = 1; n <= last; ++n) {
    uint64_t words[2] = {};
    in.seekg(static_cast<std::streamoff>(n * 512));
    in.read(reinterpret_cast<char*>(words), sizeof words);
    ASSERT_TRUE(in && words[0] == BLK_SEQ_MAGIC && words[1] == n) << "write " << n << " of " << last;
  }
}

TEST(ToolstackMigration, ARefusedOrUnreachableDestinationLeavesTheSourceRunning) {
  Pair p;
  ASSERT_TRUE(p.hosts.ok());
  DaemonHarness& src = *p.source;
  DaemonHarness& dst = *p.destination;
  src.ok({"create", "-n", "stay", "-k", test_guest_path(), "--cmdline", "counter=1"});
  dst.ok({"create", "-n", "stay", "-k", test_guest_path(), "--cmdline", "bench=timer hz=10 n=1000000"});
  CliRun taken = src.cli({"migrate", "stay", p.to()});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_THAT(taken.err, HasSubstr("refused it: domain 'stay': a domain of that name exists here"));
  CliRun nobody = src.cli({"migrate", "stay", p.hosts.address_b() + ":7576"});
  EXPECT_EQ(nobody.exit_code, 1);
  EXPECT_THAT(nobody.err, HasSubstr("cannot connect to " + p.hosts.address_b() + ":7576"));
  EXPECT_EQ(domain_state(src, "stay"), "RUNNING");
  size_t now = numbers_after(console_of(src, "stay"), "count ").size();
  EXPECT_TRUE(eventually([&] { return numbers_after(console_of(src, "stay"), "count ").size() > now + 2; }));
  // The destination kept only its own.
  EXPECT_EQ(std::regex_search(dst.ok({"list"}), std::regex("\nstay +1 ")), true);
}

}  // namespace
}  // namespace tortuga::testing
