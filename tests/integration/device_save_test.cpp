// Save and restore of domains with devices (ABI.md 21): a guest writing
// sequence numbers to its disk (vbd=seq) and a guest exchanging frames
// with the host (net=ping) are saved through the control channel and
// restored in a new VMM. Every write acknowledged before the save is in
// the image file, the frontends go on without reconnecting, frames flow
// again and the restored NIC announces the guest's MAC on its TAP. A
// restore whose disk image is missing or of another size is refused.
// Needs /dev/kvm and CAP_NET_ADMIN (label `guest`).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../guest/blk_pattern.h"
#include "framing.h"
#include "host_peer.h"
#include "unix_socket.h"
#include "vmm_control.pb.h"
#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kDiskBytes = 16ULL << 20;

// Every "PREFIX N" number on the console, in order.
std::vector<uint64_t> numbers(const std::string& console, const std::string& prefix) {
  std::vector<uint64_t> out;
  std::regex line(prefix + R"((\d+)\n)");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line); it != std::sregex_iterator(); ++it) {
    out.push_back(std::stoull((*it)[1]));
  }
  return out;
}

// Sectors 1..last of the image hold the sequence vbd=seq writes; the first
// that does not, or 0.
uint64_t first_missing_write(const std::string& image, uint64_t last) {
  std::ifstream in(image, std::ios::binary);
  for (uint64_t n = 1; n <= last; ++n) {
    uint64_t words[2] = {};
    in.seekg(static_cast<std::streamoff>(n * 512));
    in.read(reinterpret_cast<char*>(words), sizeof words);
    if (!in || words[0] != BLK_SEQ_MAGIC || words[1] != n) return n;
  }
  return 0;
}

class DeviceSave : public ::testing::Test {
 protected:
  DeviceSave() {
    char tmpl[] = "/tmp/tortuga-devsave-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~DeviceSave() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  std::string make_disk(const std::string& name) {
    std::string p = path(name);
    std::ofstream(p).flush();
    std::filesystem::resize_file(p, kDiskBytes);
    return p;
  }

  api::VmmReply save(const std::string& socket, const std::string& image, bool keep_running) {
    api::VmmRequest req;
    req.mutable_save()->set_path(image);
    req.mutable_save()->set_keep_running(keep_running);
    UniqueFd fd = connect_unix(socket);
    send_message(fd.get(), req, 5000);
    api::VmmReply reply;
    EXPECT_TRUE(receive_message(fd.get(), reply, 30000));
    return reply;
  }

  // A disk writer saved (and ended) once it acknowledged `at_least`
  // writes; the last number it said.
  uint64_t save_disk_writer(const std::string& disk, const std::string& image, uint64_t at_least) {
    VmmChild vmm({test_guest_path(), "--name", "writer", "--cmdline", "vbd=seq every=20", "--disk", disk, "--control",
                  path("w.sock")});
    EXPECT_TRUE(vmm.wait_for_console("vbd: acked " + std::to_string(at_least) + "\n"))
        << vmm.console() << vmm.messages();
    api::VmmReply reply = save(path("w.sock"), image, false);
    EXPECT_EQ(reply.error(), "");
    VmmRun run = vmm.wait();
    EXPECT_EQ(run.exit_code, 6) << run.messages;
    EXPECT_THAT(run.console, Not(HasSubstr("FAILED")));
    auto acked = numbers(run.console, "vbd: acked ");
    return acked.empty() ? 0 : acked.back();
  }

  std::string dir_;
};

TEST_F(DeviceSave, ADiskBeingWrittenIsSavedWholeAndWritingGoesOnAfterRestore) {
  std::string disk = make_disk("disk.img");
  std::string image = path("writer.img");
  uint64_t last = save_disk_writer(disk, image, 40);
  ASSERT_GE(last, 40u);
  EXPECT_EQ(first_missing_write(disk, last), 0u) << "every write acknowledged before the save is on the disk";

  VmmChild vmm({"--restore", image, "--control", path("r.sock")});
  uint64_t goal = last + 40;
  EXPECT_TRUE(vmm.wait_for_console("vbd: acked " + std::to_string(goal) + "\n")) << vmm.console() << vmm.messages();
  vmm.signal(SIGTERM);
  VmmRun run = vmm.wait();
  EXPECT_EQ(run.exit_code, 7) << run.messages;
  EXPECT_THAT(run.console, Not(HasSubstr("FAILED")));
  EXPECT_THAT(run.console, Not(HasSubstr("connected"))) << "the frontend never connected again";
  EXPECT_THAT(run.messages, Not(HasSubstr("device closed")));
  auto acked = numbers(run.console, "vbd: acked ");
  ASSERT_FALSE(acked.empty());
  EXPECT_EQ(acked.front(), last + 4) << "the next batch, its writes answered by the restored backend";
  EXPECT_EQ(first_missing_write(disk, acked.back()), 0u);
}

TEST_F(DeviceSave, AKeepRunningSaveLetsTheDiskWriterGoOn) {
  std::string disk = make_disk("disk.img");
  VmmChild vmm({test_guest_path(), "--name", "writer", "--cmdline", "vbd=seq every=20", "--disk", disk, "--control",
                path("k.sock")});
  ASSERT_TRUE(vmm.wait_for_console("vbd: acked 20\n")) << vmm.console() << vmm.messages();
  api::VmmReply reply = save(path("k.sock"), path("kept.img"), true);
  EXPECT_EQ(reply.error(), "");
  EXPECT_FALSE(reply.paused());
  uint64_t at_save = numbers(vmm.console(), "vbd: acked ").back();
  EXPECT_TRUE(vmm.wait_for_console("vbd: acked " + std::to_string(at_save + 40) + "\n")) << vmm.console();
  vmm.signal(SIGTERM);
  VmmRun run = vmm.wait();
  EXPECT_EQ(run.exit_code, 7) << run.messages;
  EXPECT_THAT(run.console, Not(HasSubstr("FAILED")));
  EXPECT_THAT(run.messages, Not(HasSubstr("device closed")));
  EXPECT_TRUE(std::filesystem::exists(path("kept.img")));
}

TEST_F(DeviceSave, ARestoreIsRefusedWhenTheDiskImageIsMissingOrOfAnotherSize) {
  std::string disk = make_disk("disk.img");
  std::string image = path("writer.img");
  ASSERT_GT(save_disk_writer(disk, image, 8), 0u);

  std::filesystem::rename(disk, path("moved.img"));
  VmmRun missing = run_vmm({"--restore", image});
  EXPECT_EQ(missing.exit_code, 1) << missing.messages;
  EXPECT_THAT(missing.messages,
              HasSubstr("refused: image " + image + ": vbd 51712 (xvda): cannot open disk image " + disk));
  EXPECT_THAT(missing.console, Not(HasSubstr("vbd:")));

  std::filesystem::rename(path("moved.img"), disk);
  std::filesystem::resize_file(disk, kDiskBytes * 2);
  VmmRun grown = run_vmm({"--restore", image});
  EXPECT_EQ(grown.exit_code, 1) << grown.messages;
  EXPECT_THAT(grown.messages,
              HasSubstr("vbd 51712 (xvda): the image " + disk + " is " + std::to_string(kDiskBytes * 2) +
                        " bytes; the saved disk was " + std::to_string(kDiskBytes) + " bytes"));
  EXPECT_EQ(std::count(grown.messages.begin(), grown.messages.end(), '\n'), 1) << grown.messages;
}

TEST_F(DeviceSave, ANicExchangesFramesAgainAfterRestoreAndItsMacIsAnnounced) {
  std::string tap = "tgs" + std::to_string(getpid() % 100000);
  const std::string mac = "02:54:47:00:00:09";
  PersistentTap persistent(tap);
  ASSERT_TRUE(persistent.ok()) << "a persistent TAP needs CAP_NET_ADMIN";
  HostPeer peer(tap);
  std::string image = path("nic.img");
  {
    VmmChild vmm({test_guest_path(), "--name", "pinger", "--cmdline", "net=ping n=1000000 every=20", "--nic",
                  tap + ",mac=" + mac, "--control", path("n.sock")});
    ASSERT_TRUE(vmm.wait_for_console("net: got pong 5\n")) << vmm.console() << vmm.messages();
    ASSERT_TRUE(peer.listening());
    EXPECT_EQ(peer.announcements(mac), 0) << "a booted domain announces nothing";
    EXPECT_EQ(save(path("n.sock"), image, false).error(), "");
    VmmRun run = vmm.wait();
    EXPECT_EQ(run.exit_code, 6) << run.messages;
  }
  // Another TAP name for the saved one: it must be one Linux accepts.
  VmmRun bad = run_vmm({"--restore", image, "--restore-nic-tap", tap + "=this-name-is-far-too-long"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_THAT(bad.messages, HasSubstr("vif 0 (" + tap + "): bad TAP interface name 'this-name-is-far-too-long'"));

  VmmChild vmm({"--restore", image, "--control", path("m.sock")});
  int before = peer.pongs();
  EXPECT_TRUE(vmm.wait_for_console("net: got pong", 0)) << vmm.console() << vmm.messages();
  EXPECT_TRUE(vmm.wait_for_console("net: got pong", vmm.console().size())) << vmm.console();
  vmm.signal(SIGTERM);
  VmmRun run = vmm.wait();
  EXPECT_EQ(run.exit_code, 7) << run.messages;
  EXPECT_THAT(run.console, Not(HasSubstr("net: connected"))) << "the frontend never connected again";
  EXPECT_THAT(run.messages, Not(HasSubstr("device closed")));
  EXPECT_GT(peer.pongs(), before);
  EXPECT_GE(peer.announcements(mac), 1) << "the restored backend announces the guest's MAC on its TAP";
}

}  // namespace
}  // namespace tortuga::testing
