// Steering a running domain through its control channel, as tortugad
// does: disks and NICs plugged in and out while the test guest's agent
// (agent=1, tests/guest/agent.c) connects and lets go of them (ABI.md
// 17-19), shutdown and reboot through control/shutdown, and the balloon
// target through memory/target (13, 16.1). Guests that do not cooperate
// (no agent, or a frontend that ignores online = 0) are checked too.
// Needs /dev/kvm, and root for the network namespace (label `guest`).
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../guest/blk_pattern.h"
#include "vmm_process.h"
#include "vmm_session.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr uint32_t kXvda = 51712, kXvdb = 51728, kXvdc = 51744;
constexpr int kPoweroff = 0, kReboot = 4, kDestroyed = 7;

// A sparse image file, removed at the end of the test.
class TempImage {
 public:
  explicit TempImage(uint64_t bytes) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("tortuga-hp-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".img"))
                .string();
    std::ofstream(path_, std::ios::binary).flush();
    std::filesystem::resize_file(path_, bytes);
  }
  ~TempImage() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }
  // Words of the first 8 sectors that differ from the agent's pattern for `id`.
  int pattern_mismatches(uint32_t id) const {
    std::ifstream in(path_, std::ios::binary);
    std::vector<uint64_t> w(512);
    in.read(reinterpret_cast<char*>(w.data()), 4096);
    int bad = 0;
    for (uint64_t i = 0; i < w.size(); ++i) bad += w[i] != blk_pattern_word(id, i);
    return bad;
  }

 private:
  std::string path_;
};

api::VmmRequest attach_disk(const std::string& path, const std::string& vdev, bool readonly = false) {
  api::VmmRequest r;
  r.mutable_attach_disk()->set_path(path);
  r.mutable_attach_disk()->set_vdev(vdev);
  r.mutable_attach_disk()->set_readonly(readonly);
  return r;
}

api::VmmRequest attach_nic(uint32_t id, const std::string& tap, const std::string& bridge = "") {
  api::VmmRequest r;
  r.mutable_attach_nic()->set_id(id);
  r.mutable_attach_nic()->set_tap(tap);
  r.mutable_attach_nic()->set_bridge(bridge);
  return r;
}

api::VmmRequest detach(const std::string& type, uint32_t id, bool force = false, uint32_t timeout_ms = 5000) {
  api::VmmRequest r;
  r.mutable_detach()->set_type(type);
  r.mutable_detach()->set_id(id);
  r.mutable_detach()->set_force(force);
  r.mutable_detach()->set_timeout_ms(timeout_ms);
  return r;
}

api::VmmRequest memory_target(uint64_t mib) {
  api::VmmRequest r;
  r.set_memory_target_mib(mib);
  return r;
}

api::VmmRequest simple(void (*set)(api::VmmRequest&)) {
  api::VmmRequest r;
  set(r);
  return r;
}

std::optional<api::DeviceStatus> device(const api::VmmReply& reply, const std::string& type, uint32_t id) {
  for (const auto& d : reply.devices()) {
    if (d.type() == type && d.id() == id) return d;
  }
  return std::nullopt;
}

// Whether process `pid` has `path` open (its /proc/PID/fd links).
bool has_open(pid_t pid, const std::string& path) {
  std::string want = std::filesystem::canonical(path).string();
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(e.path(), link_ec).string() == want) return true;
  }
  return false;
}

std::vector<std::string> agent_guest(const std::string& name, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {test_guest_path(), "--name", name, "--memory", "32", "--cmdline", "agent=1 hz=100"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// A guest that never looks at the store after boot: a timer that ticks
// for far longer than any test (the test destroys it).
std::vector<std::string> plain_guest(const std::string& name, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {test_guest_path(), "--name", name, "--cmdline", "bench=timer n=1000000 hz=100"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

int destroy(VmmSession& vmm) {
  vmm.call(simple([](api::VmmRequest& r) { r.mutable_destroy(); }));
  return vmm.wait_exit();
}

TEST(HotPlug, ADiskPluggedIntoARunningGuestIsWrittenReleasedAndPluggedAgain) {
  TempImage b(4 << 20), c(4 << 20);
  VmmSession vmm(agent_guest("hpdisk"));
  ASSERT_TRUE(vmm.wait_console("agent: ready\n")) << vmm.console() << vmm.messages();

  api::VmmReply reply = vmm.call(attach_disk(b.path(), "xvdb"));
  ASSERT_THAT(reply.error(), IsEmpty());
  auto dev = device(reply, "vbd", kXvdb);
  ASSERT_TRUE(dev.has_value());
  EXPECT_EQ(dev->name(), "xvdb");
  EXPECT_EQ(dev->backend(), b.path());
  EXPECT_FALSE(dev->readonly());
  ASSERT_TRUE(vmm.wait_console("agent: vbd 51728 connected, 8192 sectors, pattern written\n"))
      << vmm.console() << vmm.messages();
  EXPECT_EQ(b.pattern_mismatches(kXvdb), 0) << "the agent's pattern (seed = vbd id) is in the image, flushed";
  EXPECT_TRUE(has_open(vmm.pid(), b.path()));
  dev = device(vmm.status(), "vbd", kXvdb);
  ASSERT_TRUE(dev.has_value());
  EXPECT_EQ(dev->state(), 4);
  EXPECT_EQ(dev->frontend_state(), 4);

  // A second disk beside the first: two frontends at once.
  ASSERT_THAT(vmm.call(attach_disk(c.path(), "xvdc")).error(), IsEmpty());
  ASSERT_TRUE(vmm.wait_console("agent: vbd 51744 connected, 8192 sectors, pattern written\n")) << vmm.console();
  EXPECT_EQ(c.pattern_mismatches(kXvdc), 0);

  // Refusals leave the domain and its disks as they were.
  EXPECT_THAT(vmm.call(attach_disk("/nonexistent/hp.img", "xvdd")).error(), HasSubstr("cannot open disk image"));
  EXPECT_THAT(vmm.call(attach_disk(c.path(), "xvdz")).error(), HasSubstr("bad vdev 'xvdz'"));
  EXPECT_THAT(vmm.call(attach_disk(c.path(), "xvdb")).error(), HasSubstr("vbd 51728 (xvdb) is already attached"));
  EXPECT_THAT(vmm.call(attach_disk(c.path(), "xvde")).error(), HasSubstr("is already attached as vbd 51744"));
  EXPECT_THAT(vmm.call(detach("vbd", 1234)).error(), HasSubstr("no vbd 1234 in this domain"));
  EXPECT_THAT(vmm.call(detach("disk", kXvdb)).error(), HasSubstr("unknown device type 'disk'"));
  EXPECT_EQ(vmm.status().devices_size(), 2);

  reply = vmm.call(detach("vbd", kXvdb));
  ASSERT_THAT(reply.error(), IsEmpty()) << vmm.console() << vmm.messages();
  EXPECT_FALSE(device(reply, "vbd", kXvdb).has_value());
  EXPECT_TRUE(device(reply, "vbd", kXvdc).has_value());
  ASSERT_TRUE(vmm.wait_console("agent: vbd 51728 released\n")) << vmm.console();
  EXPECT_FALSE(has_open(vmm.pid(), b.path())) << "the VMM closed the detached image";
  EXPECT_TRUE(has_open(vmm.pid(), c.path()));

  // The same name again, on a fresh image: connected and written again.
  TempImage again(4 << 20);
  ASSERT_THAT(vmm.call(attach_disk(again.path(), "xvdb")).error(), IsEmpty());
  ASSERT_TRUE(vmm.wait_console("agent: vbd 51728 connected, 8192 sectors, pattern written\n", 2)) << vmm.console();
  EXPECT_EQ(again.pattern_mismatches(kXvdb), 0);
  EXPECT_EQ(destroy(vmm), kDestroyed);
}

TEST(HotPlug, ADiskWhoseFrontendNeverConnectedIsDetachedAtOnce) {
  TempImage a(4 << 20);
  VmmSession vmm(plain_guest("hpcold", {"--disk", a.path()}));
  ASSERT_TRUE(vmm.wait_console("hello from CPL3")) << vmm.messages();
  auto dev = device(vmm.status(), "vbd", kXvda);
  ASSERT_TRUE(dev.has_value());
  EXPECT_EQ(dev->state(), 2) << "InitWait: nobody connected";
  // A timeout far beyond the test's patience: the answer must not wait for it.
  api::VmmReply reply = vmm.call(detach("vbd", kXvda, false, 60000));
  EXPECT_THAT(reply.error(), IsEmpty());
  EXPECT_EQ(reply.devices_size(), 0);
  EXPECT_FALSE(has_open(vmm.pid(), a.path()));
  EXPECT_EQ(destroy(vmm), kDestroyed);
}

TEST(HotPlug, AConnectedFrontendThatIgnoresTheUnplugKeepsItsDiskUnlessForced) {
  TempImage a(4 << 20);
  // vbd=fill-flush-hold connects, writes, flushes, then never looks at the store again.
  VmmSession vmm(
      {test_guest_path(), "--name", "hpstuck", "--cmdline", "vbd=fill-flush-hold vbdseed=3", "--disk", a.path()});
  ASSERT_TRUE(vmm.wait_console("vbd: flushed\n")) << vmm.console() << vmm.messages();
  api::VmmReply reply = vmm.call(detach("vbd", kXvda, false, 300));
  EXPECT_THAT(reply.error(), HasSubstr("the guest did not let go of vbd 51712 (xvda) within 300 ms"));
  auto dev = device(reply, "vbd", kXvda);
  ASSERT_TRUE(dev.has_value()) << "a refused detach leaves the disk attached";
  EXPECT_EQ(dev->state(), 4) << "and connected again";
  EXPECT_EQ(dev->frontend_state(), 4);
  EXPECT_TRUE(has_open(vmm.pid(), a.path()));

  reply = vmm.call(detach("vbd", kXvda, true, 300));
  EXPECT_THAT(reply.error(), IsEmpty());
  EXPECT_EQ(reply.devices_size(), 0);
  EXPECT_FALSE(has_open(vmm.pid(), a.path()));
  EXPECT_EQ(vmm.wait_exit(std::chrono::seconds(0)), -1) << "the domain runs on";
  EXPECT_EQ(destroy(vmm), kDestroyed);
}

// A network namespace of the test's own with a bridge in it; the VMM runs
// inside, so its TAPs are born there (NOTES.md: moving a TAP loses it).
class Netns {
 public:
  explicit Netns(std::string name) : name_(std::move(name)) {
    ok_ = sh("ip netns add " + name_) && sh(ip("link add hpbr0 type bridge")) && sh(ip("link set hpbr0 up"));
  }
  ~Netns() { sh("ip netns del " + name_); }
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  bool has_link(const std::string& link) const { return sh(ip("link show dev " + link)); }
  // `ip link show` of one interface ("" if it does not exist).
  std::string link(const std::string& link) const {
    std::string out;
    FILE* f = popen((ip("link show dev " + link) + " 2>/dev/null").c_str(), "r");
    if (f == nullptr) return out;
    char buf[512];
    while (fgets(buf, sizeof buf, f) != nullptr) out += buf;
    pclose(f);
    return out;
  }

 private:
  static bool sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }
  std::string ip(const std::string& args) const { return "ip -n " + name_ + " " + args; }
  std::string name_;
  bool ok_ = false;
};

TEST(HotPlug, ANicPluggedIntoABridgeAppearsConnectsAndVanishesWhenDetached) {
  std::string id = std::to_string(getpid() % 100000);
  Netns ns("tghp" + id);
  ASSERT_TRUE(ns.ok()) << "ip netns and bridge setup";
  std::string tap = "tghp" + id + "a", loose = "tghp" + id + "b";
  VmmSession vmm(agent_guest("hpnic"), ns.name());
  ASSERT_TRUE(vmm.wait_console("agent: ready\n")) << vmm.console() << vmm.messages();

  api::VmmReply reply = vmm.call(attach_nic(1, tap, "nobridge0"));
  EXPECT_THAT(reply.error(), HasSubstr("no bridge named nobridge0"));
  EXPECT_FALSE(ns.has_link(tap)) << "a refused NIC leaves no TAP behind";
  EXPECT_THAT(vmm.call(attach_nic(1, tap, "lo")).error(), HasSubstr("lo is not a bridge"));

  reply = vmm.call(attach_nic(1, tap, "hpbr0"));
  ASSERT_THAT(reply.error(), IsEmpty()) << vmm.messages();
  auto dev = device(reply, "vif", 1);
  ASSERT_TRUE(dev.has_value());
  EXPECT_EQ(dev->name(), tap);
  EXPECT_EQ(dev->backend(), "hpbr0");
  EXPECT_EQ(dev->mac(), "06:54:47:01:00:01");
  EXPECT_THAT(ns.link(tap), HasSubstr("master hpbr0")) << "the TAP joined the bridge";
  EXPECT_THAT(ns.link(tap), HasSubstr(",UP"));
  ASSERT_TRUE(vmm.wait_console("agent: vif 1 connected mac=06:54:47:01:00:01\n")) << vmm.console();

  // A second NIC outside any bridge, and a duplicate refused.
  ASSERT_THAT(vmm.call(attach_nic(0, loose)).error(), IsEmpty());
  ASSERT_TRUE(vmm.wait_console("agent: vif 0 connected mac=06:54:47:01:00:00\n")) << vmm.console();
  EXPECT_THAT(vmm.call(attach_nic(1, loose)).error(), HasSubstr("vif 1 (" + tap + ") is already attached"));
  EXPECT_THAT(vmm.call(attach_nic(2, loose)).error(), HasSubstr("TAP " + loose + " is already attached as vif 0"));

  reply = vmm.call(detach("vif", 1));
  ASSERT_THAT(reply.error(), IsEmpty()) << vmm.console() << vmm.messages();
  EXPECT_FALSE(device(reply, "vif", 1).has_value());
  ASSERT_TRUE(vmm.wait_console("agent: vif 1 released\n")) << vmm.console();
  EXPECT_FALSE(ns.has_link(tap)) << "the TAP vanished with the NIC";
  EXPECT_TRUE(ns.has_link(loose));
  EXPECT_EQ(destroy(vmm), kDestroyed);
  EXPECT_FALSE(ns.has_link(loose)) << "and the other with the VMM";
}

TEST(GuestControl, TheAgentPowersOffWhenAskedThroughTheStore) {
  VmmSession vmm(agent_guest("hpoff"));
  ASSERT_TRUE(vmm.wait_console("agent: ready\n")) << vmm.console() << vmm.messages();
  api::VmmReply reply = vmm.call(simple([](api::VmmRequest& r) { r.mutable_shutdown(); }));
  EXPECT_THAT(reply.error(), IsEmpty());
  EXPECT_TRUE(reply.shutdown_delivered()) << "the agent wrote control/feature-shutdown";
  EXPECT_EQ(vmm.wait_exit(), kPoweroff) << vmm.console() << vmm.messages();
  EXPECT_THAT(vmm.console(), HasSubstr("agent: shutdown poweroff\n"));
}

TEST(GuestControl, TheAgentRebootsWhenAskedThroughTheStore) {
  VmmSession vmm(agent_guest("hpreboot"));
  ASSERT_TRUE(vmm.wait_console("agent: ready\n")) << vmm.console() << vmm.messages();
  api::VmmReply reply = vmm.call(simple([](api::VmmRequest& r) { r.mutable_reboot(); }));
  EXPECT_TRUE(reply.shutdown_delivered());
  EXPECT_EQ(vmm.wait_exit(), kReboot) << vmm.console() << vmm.messages();
  EXPECT_THAT(vmm.console(), HasSubstr("agent: shutdown reboot\n"));
}

TEST(GuestControl, AGuestWithoutTheAgentCannotBeAskedToShutDown) {
  VmmSession vmm(plain_guest("hpdeaf"));
  ASSERT_TRUE(vmm.wait_console("hello from CPL3")) << vmm.messages();
  api::VmmReply reply = vmm.call(simple([](api::VmmRequest& r) { r.mutable_shutdown(); }));
  EXPECT_THAT(reply.error(), IsEmpty());
  EXPECT_FALSE(reply.shutdown_delivered());
  EXPECT_EQ(vmm.wait_exit(std::chrono::seconds(0)), -1) << "it runs on";
  EXPECT_EQ(destroy(vmm), kDestroyed);
}

TEST(GuestControl, TheAgentBalloonsDownToTheTargetAndBackUp) {
  VmmSession vmm(agent_guest("hpmem"));
  ASSERT_TRUE(vmm.wait_console("agent: ready\n")) << vmm.console() << vmm.messages();
  api::VmmReply reply = vmm.status();
  EXPECT_EQ(reply.memory_target_kib(), 32768u);
  EXPECT_EQ(reply.memory_current_kib(), 32768u);

  reply = vmm.call(memory_target(16));
  ASSERT_THAT(reply.error(), IsEmpty());
  EXPECT_EQ(reply.memory_target_kib(), 16384u);
  ASSERT_TRUE(vmm.wait_console("agent: balloon target 16384 KiB, now 16384 KiB\n")) << vmm.console();
  EXPECT_EQ(vmm.status().memory_current_kib(), 16384u) << "the VMM counts what the balloon gave back";

  ASSERT_THAT(vmm.call(memory_target(32)).error(), IsEmpty());
  ASSERT_TRUE(vmm.wait_console("agent: balloon target 32768 KiB, now 32768 KiB\n")) << vmm.console();
  EXPECT_EQ(vmm.status().memory_current_kib(), 32768u);

  EXPECT_THAT(vmm.call(memory_target(0)).error(), HasSubstr("between 1 and 32 MiB, not 0"));
  EXPECT_THAT(vmm.call(memory_target(33)).error(), HasSubstr("between 1 and 32 MiB, not 33"));
  EXPECT_EQ(vmm.status().memory_target_kib(), 32768u) << "a refused target is not written";
  EXPECT_EQ(destroy(vmm), kDestroyed);
}

TEST(GuestControl, ABalloonTargetIsRefusedWithoutABalloonDriver) {
  VmmSession vmm(plain_guest("hpnoballoon"));
  ASSERT_TRUE(vmm.wait_console("hello from CPL3")) << vmm.messages();
  api::VmmReply reply = vmm.call(memory_target(16));
  EXPECT_THAT(reply.error(), HasSubstr("the guest has no balloon driver (control/feature-balloon)"));
  EXPECT_EQ(reply.memory_target_kib(), 32768u);
  EXPECT_EQ(destroy(vmm), kDestroyed);
}

}  // namespace
}  // namespace tortuga::testing
