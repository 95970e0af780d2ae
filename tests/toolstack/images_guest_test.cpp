// `tortuga save` and `tortuga restore` through tortugad with the counter
// test guest (counter=1: "count N t=NS" at 10 Hz, checking its memory,
// mappings, grants and store at every tick). Label `guest`.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "toolstack_harness.h"

namespace tortuga::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// The counts the guest printed, in order.
std::vector<uint64_t> counts_of(const std::string& console) {
  std::vector<uint64_t> counts;
  std::regex re("count ([0-9]+) t=");
  for (std::sregex_iterator it(console.begin(), console.end(), re), end; it != end; ++it) {
    counts.push_back(std::stoull((*it)[1].str()));
  }
  return counts;
}

std::string counter_config(const DaemonHarness& d, const std::string& name) {
  return d.write_config(name, "{\"name\": \"" + name + "\", \"kernel\": \"" + test_guest_path() +
                                  "\", \"memory_mib\": 32, \"cmdline\": \"counter=1\", \"on_crash\": \"preserve\"}");
}

TEST(ToolstackImages, SaveEndsTheDomainAndRestoreCarriesOnCounting) {
  DaemonHarness d;
  d.ok({"create", counter_config(d, "ticker")});
  ASSERT_TRUE(eventually([&] { return counts_of(console_of(d, "ticker")).size() >= 5; })) << console_of(d, "ticker");
  pid_t pid = domain_pid(d, "ticker");
  const std::string image = d.dir() + "/ticker.img";
  std::string out = d.ok({"save", "ticker", image});
  EXPECT_THAT(out, HasSubstr("domain 'ticker' saved to " + image));
  EXPECT_THAT(out, HasSubstr("it has ended"));
  EXPECT_TRUE(fs::exists(image));
  EXPECT_FALSE(process_alive(pid));
  EXPECT_THAT(d.ok({"list", "--json"}), Not(HasSubstr("ticker")));
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
  const size_t before = counts_of(console_of(d, "ticker")).size();
  const uint64_t last = counts_of(console_of(d, "ticker")).back();

  EXPECT_THAT(d.ok({"restore", image}), HasSubstr("domain 'ticker' restored"));
  EXPECT_EQ(domain_state(d, "ticker"), "RUNNING");
  ASSERT_TRUE(eventually([&] { return counts_of(console_of(d, "ticker")).size() >= before + 5; }))
      << console_of(d, "ticker");
  std::vector<uint64_t> counts = counts_of(console_of(d, "ticker"));
  // Where it stopped, then on: never back to the start, never a repeat.
  EXPECT_EQ(counts[before], last + 1);
  for (size_t i = 1; i < counts.size(); ++i) EXPECT_EQ(counts[i], counts[i - 1] + 1) << "at " << i;
  EXPECT_THAT(console_of(d, "ticker"), Not(HasSubstr("FAILED")));
  // The restored domain is the saved one, config included.
  EXPECT_THAT(d.ok({"info", "ticker"}), HasSubstr("cmdline:     counter=1"));
  d.ok({"destroy", "ticker"});
}

TEST(ToolstackImages, SaveKeepLeavesItRunningAndTheImageRestoresUnderAnotherName) {
  DaemonHarness d;
  d.ok({"create", counter_config(d, "orig")});
  ASSERT_TRUE(eventually([&] { return counts_of(console_of(d, "orig")).size() >= 3; }));
  const std::string image = d.dir() + "/orig.img";
  EXPECT_THAT(d.ok({"save", "--keep", "orig", image}), HasSubstr("it runs on"));
  EXPECT_EQ(domain_state(d, "orig"), "RUNNING");
  const size_t now = counts_of(console_of(d, "orig")).size();
  EXPECT_TRUE(eventually([&] { return counts_of(console_of(d, "orig")).size() > now + 2; }));

  CliRun clash = d.cli({"restore", image});
  EXPECT_EQ(clash.exit_code, 1);
  EXPECT_EQ(clash.err, "tortuga: restore: domain 'orig' already exists\n");
  EXPECT_THAT(d.ok({"restore", image, "--name", "copy"}), HasSubstr("domain 'copy' restored"));
  EXPECT_TRUE(eventually([&] { return counts_of(console_of(d, "copy")).size() >= 3; })) << console_of(d, "copy");
  EXPECT_GT(counts_of(console_of(d, "copy")).front(), 1u);  // it carried on from the checkpoint
  EXPECT_EQ(domain_state(d, "orig"), "RUNNING");
}

// Disks and NICs travel in the image; the TAP comes back under the
// restoring domain's name, and the guest goes on using its devices.
TEST(ToolstackImages, ADomainWithADiskAndANicIsSavedAndRestored) {
  DaemonHarness d;
  const std::string disk = d.dir() + "/a.img", more = d.dir() + "/b.img";
  for (const auto& path : {disk, more}) {
    std::ofstream(path).close();
    fs::resize_file(path, 1 << 20);
  }
  // Ids 1 and 2 belong to domains with NICs in tests that may run at the
  // same time (ctest -j), and TAP names are host-wide: this one is 3.
  d.ok({"create", d.long_running_config("pad1")});
  d.ok({"create", d.long_running_config("pad2")});
  d.ok({"create", "-n", "dev", "-k", test_guest_path(), "--cmdline", "agent=1 hz=10", "--disk", disk + ",xvda", "--nic",
        ""});
  ASSERT_TRUE(fs::exists("/sys/class/net/tg3.0"));
  ASSERT_TRUE(eventually([&] { return console_of(d, "dev").find("agent: vif 0 connected") != std::string::npos; }))
      << console_of(d, "dev");
  ASSERT_TRUE(eventually([&] { return console_of(d, "dev").find("agent: vbd 51712 connected") != std::string::npos; }));
  const std::string image = d.dir() + "/dev.img";
  d.ok({"save", "dev", image});
  EXPECT_FALSE(fs::exists("/sys/class/net/tg3.0"));
  d.ok({"restore", image, "--name", "moved"});
  std::smatch m;
  std::string json = d.ok({"info", "moved", "--json"});
  ASSERT_TRUE(std::regex_search(json, m, std::regex("\"domid\": ([0-9]+)")));
  const std::string tap = "tg" + m[1].str() + ".0";
  EXPECT_EQ(tap, "tg4.0");  // ids are not reused
  EXPECT_TRUE(fs::exists("/sys/class/net/" + tap)) << tap;
  std::string info = d.ok({"info", "moved"});
  EXPECT_THAT(info, HasSubstr("xvda " + disk + ", backend connected, frontend connected"));
  EXPECT_THAT(info, HasSubstr("tap " + tap));
  // Its store and its agent work on: a disk attached now gets connected.
  d.ok({"block-attach", "moved", more, "xvdb"});
  EXPECT_TRUE(eventually([&] {
    return console_of(d, "moved").find("agent: vbd 51728 connected") != std::string::npos;
  })) << console_of(d, "moved");
  d.ok({"destroy", "moved"});
  EXPECT_FALSE(fs::exists("/sys/class/net/" + tap));
}

TEST(ToolstackImages, BadSavesAndImagesGetClearErrors) {
  DaemonHarness d;
  d.ok({"create", counter_config(d, "box")});
  auto err = [&](const std::vector<std::string>& args) {
    CliRun run = d.cli(args);
    EXPECT_EQ(run.exit_code, 1) << run.out;
    return run.err;
  };
  EXPECT_THAT(err({"save", "box", d.dir() + "/nosuchdir/box.img"}),
              HasSubstr("tortuga: save: domain 'box': save failed"));
  EXPECT_EQ(domain_state(d, "box"), "RUNNING");
  EXPECT_EQ(err({"save", "nosuch", d.dir() + "/x.img"}), "tortuga: save: no domain 'nosuch'\n");
  EXPECT_THAT(err({"restore", d.dir() + "/none.img"}), HasSubstr("cannot open " + d.dir() + "/none.img"));
  const std::string junk = d.dir() + "/junk.img";
  std::ofstream(junk) << "this is not a domain image, just text long enough to be read as one";
  EXPECT_THAT(err({"restore", junk}), HasSubstr("is not a domain image Tortuga can restore"));
  // A damaged image whose first records are fine: the VMM refuses it, and
  // nothing is left behind.
  const std::string image = d.dir() + "/box.img";
  d.ok({"save", "--keep", "box", image});
  fs::resize_file(image, fs::file_size(image) / 2);
  EXPECT_THAT(err({"restore", image, "--name", "half"}), HasSubstr("domain 'half': did not start"));
  EXPECT_THAT(d.ok({"list", "--json"}), Not(HasSubstr("half")));
  EXPECT_EQ(domain_state(d, "box"), "RUNNING");
}

}  // namespace
}  // namespace tortuga::testing
