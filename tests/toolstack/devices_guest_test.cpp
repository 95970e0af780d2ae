// Devices and memory of running domains through tortugad and tortuga, with
// the test guest in agent mode (it connects every disk and NIC it finds in
// the store, writes a pattern on each disk, acts on control/shutdown and
// memory/target and says so on its console): hot-plug and hot-unplug,
// cold-plugged devices from a config, shutdown and reboot through the
// store, the balloon, and the errors an operator sees. Label `guest`.
#include <sys/stat.h>
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

constexpr uint32_t kXvda = 51712, kXvdb = 51728;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool console_says(const DaemonHarness& d, const std::string& name, const std::string& text) {
  return eventually([&] { return console_of(d, name).find(text) != std::string::npos; });
}

std::string make_image(const DaemonHarness& d, const std::string& file, size_t bytes = 1 << 20) {
  std::string path = d.dir() + "/" + file;
  std::ofstream(path).close();
  fs::resize_file(path, bytes);
  return path;
}

bool interface_exists(const std::string& name) { return fs::exists("/sys/class/net/" + name); }

std::string agent_config(const DaemonHarness& d, const std::string& name, const std::string& extra = "") {
  return d.write_config(name, "{\"name\": \"" + name + "\", \"kernel\": \"" + test_guest_path() +
                                  "\", \"memory_mib\": 32, \"cmdline\": \"agent=1 hz=10\"" + extra + "}");
}

std::string domid_of(const DaemonHarness& d, const std::string& name) {
  std::smatch m;
  std::string json = d.ok({"info", name, "--json"});
  return std::regex_search(json, m, std::regex("\"domid\": ([0-9]+)")) ? m[1].str() : "";
}

// The walk through a domain's life with devices: created from a
// config with a disk and a NIC, a second disk attached while it runs,
// paused and unpaused, devices detached, destroyed; nothing is left.
TEST(ToolstackDevices, ConfigDevicesAndADiskAttachedWhileRunningLeaveNothingBehind) {
  DaemonHarness d;
  std::string a = make_image(d, "a.img"), b = make_image(d, "b.img");
  d.ok({"create", agent_config(d, "web",
                               ", \"disks\": [{\"path\": \"" + a +
                                   "\", \"vdev\": \"xvda\"}], "
                                   "\"nics\": [{}]")});
  pid_t pid = domain_pid(d, "web");
  const std::string tap = "tg" + domid_of(d, "web") + ".0";
  EXPECT_TRUE(interface_exists(tap)) << tap;
  EXPECT_TRUE(console_says(d, "web", "agent: vbd " + std::to_string(kXvda) + " connected")) << console_of(d, "web");
  EXPECT_TRUE(console_says(d, "web", "agent: vif 0 connected")) << console_of(d, "web");

  EXPECT_THAT(d.ok({"block-attach", "web", b, "xvdb"}), HasSubstr("attached as xvdb"));
  EXPECT_TRUE(console_says(d, "web", "agent: vbd " + std::to_string(kXvdb) + " connected")) << console_of(d, "web");
  std::string written = read_file(b).substr(0, 4096);
  EXPECT_TRUE(written.find_first_not_of('\0') != std::string::npos) << "the agent's pattern is not in the image";
  // The agent's pattern went through the backend: the domain's I/O counters say so.
  std::string stats = d.ok({"stats", "web", "--json"});
  EXPECT_TRUE(std::regex_search(stats, std::regex("\"block_writes\": \"[1-9]"))) << stats;
  EXPECT_TRUE(std::regex_search(stats, std::regex("\"block_read_bytes\": \"[1-9]"))) << stats;
  EXPECT_THAT(d.ok({"stats", "web"}), HasSubstr("block writes"));
  EXPECT_THAT(d.ok({"top", "-n", "2", "-d", "0.2"}), HasSubstr("BLKIO/s"));
  std::string info = d.ok({"info", "web"});
  EXPECT_THAT(info, HasSubstr("xvdb " + b));
  EXPECT_TRUE(std::regex_search(info, std::regex("nic: +0 mac 02:74:67:[0-9a-f:]+, tap " + tap)));
  EXPECT_TRUE(std::regex_search(d.ok({"list"}), std::regex("web +[0-9]+ +32 +1 +running")));

  d.ok({"pause", "web"});
  EXPECT_EQ(domain_state(d, "web"), "PAUSED");
  d.ok({"unpause", "web"});

  EXPECT_THAT(d.ok({"block-detach", "web", "xvdb"}), HasSubstr("xvdb detached"));
  EXPECT_TRUE(console_says(d, "web", "agent: vbd " + std::to_string(kXvdb) + " released"));
  EXPECT_THAT(d.ok({"info", "web"}), Not(HasSubstr("xvdb")));
  EXPECT_THAT(d.ok({"network-detach", "web", "0"}), HasSubstr("NIC 0 detached"));
  EXPECT_FALSE(interface_exists(tap));

  d.ok({"destroy", "web"});
  EXPECT_FALSE(process_alive(pid));
  EXPECT_FALSE(interface_exists(tap));
  EXPECT_THAT(list_dir(d.dir() + "/domains"), IsEmpty());
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
}

// A NIC attached while running gets a TAP on the bridge named, and loses
// it with the domain.
TEST(ToolstackDevices, NetworkAttachPutsTheTapOnTheBridge) {
  DaemonHarness d;
  const std::string bridge = "tgbr" + std::to_string(::getpid() % 100000);
  ASSERT_EQ(std::system(("ip link add " + bridge + " type bridge").c_str()), 0);
  // Domain id 2 here: tests run in parallel (ctest -j), and the TAP names of
  // another test's domain 1 are host-wide.
  d.ok({"create", d.long_running_config("pad")});
  d.ok({"create", agent_config(d, "net")});
  const std::string domid = domid_of(d, "net");
  ASSERT_EQ(domid, "2");
  const std::string tap = "tg" + domid + ".0";
  std::string out = d.ok({"network-attach", "net", "--bridge", bridge, "--mac", "02:00:00:aa:bb:01"});
  EXPECT_THAT(out, HasSubstr("NIC 0 attached (mac 02:00:00:aa:bb:01, tap " + tap + ", bridge " + bridge + ")"));
  EXPECT_TRUE(fs::exists("/sys/class/net/" + bridge + "/brif/" + tap));
  EXPECT_TRUE(console_says(d, "net", "agent: vif 0 connected mac=02:00:00:aa:bb:01")) << console_of(d, "net");
  // A second one takes the next id and a MAC of its own.
  EXPECT_THAT(d.ok({"network-attach", "net"}), HasSubstr("NIC 1 attached (mac 02:74:67:"));
  CliRun twice = d.cli({"network-attach", "net", "--mac", "02:00:00:aa:bb:01"});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_EQ(twice.err, "tortuga: network-attach: domain 'net': MAC 02:00:00:aa:bb:01 is already used by its NIC 0\n");
  d.ok({"network-detach", "net", "02:00:00:AA:BB:01"});  // by MAC, any case
  EXPECT_FALSE(interface_exists(tap));
  d.ok({"destroy", "net"});
  EXPECT_FALSE(interface_exists("tg" + domid + ".1"));
  std::system(("ip link del " + bridge).c_str());
}

TEST(ToolstackDevices, ShutdownAndRebootReachTheGuestThroughTheStore) {
  DaemonHarness d;
  std::string b = make_image(d, "b.img");
  d.ok({"create", agent_config(d, "polite")});
  d.ok({"block-attach", "polite", b, "xvdb"});
  EXPECT_TRUE(console_says(d, "polite", "agent: vbd " + std::to_string(kXvdb) + " connected"));
  pid_t first = domain_pid(d, "polite");
  EXPECT_THAT(d.ok({"reboot", "polite"}), HasSubstr("reboot requested"));
  EXPECT_TRUE(console_says(d, "polite", "agent: shutdown reboot"));
  // A new VMM with the same devices, the hot-plugged disk included.
  EXPECT_TRUE(eventually([&] {
    pid_t now = domain_pid(d, "polite");
    return now != 0 && now != first && domain_state(d, "polite") == "RUNNING";
  }));
  EXPECT_THAT(d.ok({"info", "polite"}), HasSubstr("restarts:    1"));
  EXPECT_TRUE(eventually([&] {
    std::string text = console_of(d, "polite");
    size_t at = text.find("agent: shutdown reboot");
    return at != std::string::npos &&
           text.find("agent: vbd " + std::to_string(kXvdb) + " connected", at) != std::string::npos;
  })) << console_of(d, "polite");

  std::string out = d.ok({"shutdown", "polite", "--timeout", "60", "--json"});
  EXPECT_THAT(out, HasSubstr("\"guest_asked\": true"));
  EXPECT_THAT(out, HasSubstr("\"destroyed\": false"));
  EXPECT_EQ(domain_state(d, "polite"), "SHUTOFF");
  EXPECT_THAT(d.ok({"info", "polite"}), HasSubstr("exit status 0"));
  EXPECT_THAT(console_of(d, "polite"), HasSubstr("agent: shutdown poweroff"));
}

TEST(ToolstackDevices, MemSetBalloonsTheGuestDownAndUp) {
  DaemonHarness d;
  d.ok({"create", agent_config(d, "balloon")});
  EXPECT_TRUE(console_says(d, "balloon", "agent: "));  // up and listening
  EXPECT_THAT(d.ok({"mem-set", "balloon", "16"}), HasSubstr("balloon target set to 16 MiB"));
  EXPECT_TRUE(eventually([&] {
    return d.ok({"info", "balloon"}).find("16 MiB now, target 16 MiB") != std::string::npos;
  })) << d.ok({"info", "balloon"})
      << console_of(d, "balloon");
  EXPECT_TRUE(std::regex_search(d.ok({"list"}), std::regex("balloon +[0-9]+ +16 +1 ")));
  d.ok({"mem-set", "balloon", "32"});
  EXPECT_TRUE(eventually([&] {
    return d.ok({"info", "balloon"}).find("32 MiB now, target 32 MiB") != std::string::npos;
  })) << d.ok({"info", "balloon"})
      << console_of(d, "balloon");
}

TEST(ToolstackDevices, BadDeviceRequestsGetClearErrorsAndChangeNothing) {
  DaemonHarness d;
  std::string a = make_image(d, "a.img");
  d.ok({"create", d.long_running_config("box")});  // no agent: never connects, no balloon, no shutdown watch
  auto err = [&](const std::vector<std::string>& args) {
    CliRun run = d.cli(args);
    EXPECT_EQ(run.exit_code, 1) << run.out;
    return run.err;
  };
  EXPECT_EQ(err({"block-attach", "box", d.dir() + "/nosuch.img", "xvdb"}),
            "tortuga: block-attach: domain 'box': disk.path: no such file: " + d.dir() + "/nosuch.img\n");
  EXPECT_EQ(err({"block-attach", "box", a, "sdb"}),
            "tortuga: block-attach: domain 'box': disk.vdev: 'sdb' is not xvda..xvdp\n");
  d.ok({"block-attach", "box", a, "xvdb"});
  EXPECT_EQ(err({"block-attach", "box", a, "xvdc"}),
            "tortuga: block-attach: domain 'box': " + a + " is already attached as xvdb\n");
  EXPECT_EQ(err({"block-attach", "box", make_image(d, "c.img"), "xvdb"}),
            "tortuga: block-attach: domain 'box': xvdb is already attached (" + a + ")\n");
  // The frontend never connected: detach needs no guest's consent.
  d.ok({"block-detach", "box", "xvdb"});
  EXPECT_EQ(err({"block-detach", "box", "xvdb"}), "tortuga: block-detach: domain 'box': it has no disk xvdb\n");
  EXPECT_EQ(err({"network-attach", "box", "--bridge", "tgnosuchbr0"}),
            "tortuga: network-attach: domain 'box': nic.bridge: no bridge 'tgnosuchbr0' on this host\n");
  EXPECT_EQ(err({"network-attach", "box", "--mac", "01:00:5e:00:00:01"}).substr(0, 60),
            std::string("tortuga: network-attach: domain 'box': nic.mac: '01:00:5e:00:00:01'").substr(0, 60));
  EXPECT_EQ(err({"network-detach", "box", "3"}),
            "tortuga: network-detach: domain 'box': it has no NIC '3' (a vif id or a MAC address)\n");
  EXPECT_THAT(err({"mem-set", "box", "64"}), HasSubstr("target 64 MiB is outside 1..32"));
  EXPECT_THAT(err({"mem-set", "box", "16"}), HasSubstr("control/feature-balloon"));
  EXPECT_THAT(err({"reboot", "box"}), HasSubstr("cannot be asked to reboot"));
  EXPECT_EQ(err({"block-attach", "nosuch", a, "xvdb"}), "tortuga: block-attach: no domain 'nosuch'\n");
  // Still running, and with what it had.
  EXPECT_EQ(domain_state(d, "box"), "RUNNING");
  EXPECT_THAT(d.ok({"info", "box"}), Not(HasSubstr("disk:")));
  CliRun disk = d.cli({"create", "-n", "withdisk", "-k", test_guest_path(), "--disk", d.dir() + "/none.img,xvda"});
  EXPECT_EQ(disk.exit_code, 1);
  EXPECT_EQ(disk.err, "tortuga: create: domain 'withdisk': disks[0].path: no such file: " + d.dir() + "/none.img\n");
}

}  // namespace
}  // namespace tortuga::testing
