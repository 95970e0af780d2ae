// The block backend under tortuga-vmm with the test guest's frontend
// (tests/guest/blkfront.c): round trips that must come back bit-exact,
// data that must be in the image after a flush even when the VMM is
// SIGKILLed right after, read-only disks, and hostile frontends whose
// device the backend closes with a reason while the domain and the VMM run
// on. The disk is found and connected through the store (ABI.md 17).
// Needs /dev/kvm (label `guest`).
#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "../guest/blk_pattern.h"
#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kPoweroff = 0, kVmmError = 1;
constexpr uint64_t kImageBytes = 4 << 20;

// A temporary image file, removed at the end of the test.
class Image {
 public:
  explicit Image(uint64_t bytes) {
    path_ = (std::filesystem::temp_directory_path() /
             ("tortuga-vbd-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++) + ".img"))
                .string();
    std::filesystem::resize_file(create(), bytes);
  }
  ~Image() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

  std::vector<uint64_t> words() const {
    std::ifstream in(path_, std::ios::binary);
    std::vector<uint64_t> w(std::filesystem::file_size(path_) / 8);
    in.read(reinterpret_cast<char*>(w.data()), static_cast<std::streamsize>(w.size() * 8));
    return w;
  }
  void fill(uint64_t seed) const {
    std::vector<uint64_t> w(std::filesystem::file_size(path_) / 8);
    for (uint64_t i = 0; i < w.size(); ++i) w[i] = blk_pattern_word(seed, i);
    std::ofstream out(path_, std::ios::binary | std::ios::in);
    out.write(reinterpret_cast<const char*>(w.data()), static_cast<std::streamsize>(w.size() * 8));
  }
  // Words of the image that differ from the pattern of seed.
  uint64_t mismatches(uint64_t seed) const {
    std::vector<uint64_t> w = words();
    uint64_t bad = 0;
    for (uint64_t i = 0; i < w.size(); ++i) bad += w[i] != blk_pattern_word(seed, i);
    return bad;
  }

 private:
  const std::string& create() {
    std::ofstream(path_, std::ios::binary).flush();
    return path_;
  }
  static inline int counter_ = 0;
  std::string path_;
};

VmmRun run_with_disk(const std::string& cmdline, const std::string& disk, const std::string& wait_for = "",
                     int signal = 0) {
  return run_vmm({test_guest_path(), "--name", "vbdguest", "--memory", "32", "--cmdline", cmdline, "--disk", disk},
                 wait_for, signal);
}

TEST(BlockDevice, WholeDiskRoundTripIsBitExactInTheGuestAndInTheImage) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("vbdseed=7", image.path());
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  for (const char* line : {
           "ok - vbd: connected through the store (InitWait, Initialised, Connected)",
           "ok - vbd: the frontend's port is now bound to the VMM's block backend",
           "ok - vbd: the whole disk written with 64-sector requests",
           "ok - vbd: ... with 32 requests in flight",
           "ok - vbd: the whole disk read back bit-exact, 8 in flight",
           "ok - vbd: ... each segment's sectors landed at their offsets, and nothing outside them",
           "ok - vbd: discard of the last 64 sectors",
           "ok - vbd: every data grant is idle again, and no response was stray",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  // What the guest left on the disk is the seed's pattern, every word.
  EXPECT_EQ(image.mismatches(7), 0u);
}

// The same round trip and flush with the host I/O through io_uring (--disk PATH,uring).
TEST(BlockDevice, IoUringEngineRoundTripAndFlush) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("vbdseed=9", image.path() + ",uring");
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("ok - vbd: the whole disk read back bit-exact, 8 in flight"));
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(image.mismatches(9), 0u);
  Image flushed(kImageBytes);
  VmmRun killed = run_with_disk("vbd=fill-flush-hold vbdseed=12", flushed.path() + ",uring", "vbd: flushed\n", SIGKILL);
  EXPECT_THAT(killed.console, HasSubstr("vbd: flushed"));
  EXPECT_EQ(flushed.mismatches(12), 0u);
}

TEST(BlockDevice, EveryBadRequestGetsItsErrorAndTheDomainCarriesOn) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("", image.path());
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  for (const char* line : {
           "ok - vbd: an unknown operation is answered -EOPNOTSUPP",
           "ok - vbd: too many segments is answered -EINVAL",
           "ok - vbd: a read across the end of the disk is answered -EINVAL",
           "ok - vbd: a sector near 2^64 (overflow) is answered -EINVAL",
           "ok - vbd: a grant reference beyond the table is answered -EACCES",
           "ok - vbd: a read into a read-only grant is answered -EACCES",
           "ok - vbd: a grant of a page-table frame is answered -EACCES",
           "ok - vbd: a grant of a VMM frame (the console ring) is answered -EACCES",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
}

// FLUSH completes only after fdatasync: once the guest has seen it, the
// data is in the file, whatever happens to the VMM next.
TEST(BlockDevice, FlushedDataIsInTheImageAfterTheVmmIsKilled) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("vbd=fill-flush-hold vbdseed=11", image.path(), "vbd: flushed\n", SIGKILL);
  EXPECT_THAT(run.console, HasSubstr("vbd: flushed"));
  EXPECT_EQ(run.exit_code, -1) << "the VMM was to be killed while the guest waited: " << run.messages;
  EXPECT_EQ(image.mismatches(11), 0u);
}

TEST(BlockDevice, ReadOnlyDiskIsReadAndRefusesWritesAndDiscards) {
  Image image(kImageBytes);
  image.fill(5);
  VmmRun run = run_with_disk("vbdseed=5", image.path() + ",ro");
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("ok - vbd: read-only disk: its contents read bit-exact"));
  EXPECT_THAT(run.console, HasSubstr("ok - vbd: read-only disk: a write is answered -EPERM"));
  EXPECT_THAT(run.console, HasSubstr("ok - vbd: read-only disk: a discard is answered -EPERM"));
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(image.mismatches(5), 0u);
}

// ABI.md 15.4: the device is disconnected, not the VMM; the guest sees its
// backend go Closed and carries on.
TEST(BlockDevice, ARunawayProducerIndexClosesTheDeviceWithAReason) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("scenario=vbd-runaway", image.path());
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("vbdguest: vbd 51712: the frontend's request producer index ran away"));
  EXPECT_THAT(run.messages, HasSubstr("; device closed"));
  EXPECT_THAT(run.console, HasSubstr("scenario: the backend closed the device"));
}

TEST(BlockDevice, ARevokedRingPageClosesTheDeviceWithAReason) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("scenario=vbd-ring-revoked", image.path());
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("ok - the ring's grant is revoked while connected"));
  EXPECT_THAT(run.messages, HasSubstr("vbdguest: vbd 51712: the ring page's grant was refused"));
  EXPECT_THAT(run.console, HasSubstr("scenario: the backend closed the device"));
}

// ABI.md 17.3 both ways: the frontend closes, the backend lets go of its
// grants and port, and the frontend connects again and finds its data.
TEST(BlockDevice, AFrontendCanCloseAndConnectAgain) {
  Image image(kImageBytes);
  VmmRun run = run_with_disk("scenario=vbd-reconnect", image.path());
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  for (const char* line : {
           "ok - reconnect: Closing makes the backend Closed",
           "ok - reconnect: the ring's grant revokes (the backend let go of it)",
           "ok - reconnect: Initialising brings the backend back to InitWait",
           "ok - reconnect: connected again, the new port bound to the backend",
           "ok - reconnect: the data reads back",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
}

TEST(BlockDevice, AMissingImageIsRefusedBeforeTheDomainStarts) {
  VmmRun run = run_with_disk("", "/nonexistent/tortuga.img");
  EXPECT_EQ(run.exit_code, kVmmError) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("vbdguest: refused: cannot open disk image /nonexistent/tortuga.img"));
  EXPECT_THAT(run.console, Not(HasSubstr("hello from CPL3")));
}

}  // namespace
}  // namespace tortuga::testing
