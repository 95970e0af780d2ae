// Boots the patched Linux 6.1 (guest-linux-patches/, built by `make linux`)
// with its busybox initramfs under tortuga-vmm and checks the transcript of
// the end-to-end check /init runs when the command line says tortuga.test.
#include <sys/stat.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;

std::string linux_file(const char* name) { return std::string(TORTUGA_LINUX_DIR) + "/" + name; }

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

class LinuxGuest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(exists(linux_file("vmlinux")) && exists(linux_file("initramfs.cpio.gz")))
        << "no patched kernel in " << TORTUGA_LINUX_DIR << ": run `make linux` (make test does)";
  }

  VmmRun boot(const std::string& cmdline, const std::string& memory = "128") {
    return run_vmm({linux_file("vmlinux"), "--name", "linux", "--memory", memory, "--initramfs",
                    linux_file("initramfs.cpio.gz"), "--cmdline", cmdline});
  }
};

TEST_F(LinuxGuest, BootsRunsUserProgramsSurvivesBadOnesAndPowersOff) {
  VmmRun run = boot("console=hvc0 tortuga.test");
  const std::string& out = run.console;
  EXPECT_THAT(out, HasSubstr("Linux version 6.1"));
  EXPECT_THAT(out, HasSubstr("Hypervisor detected: Tortuga"));
  EXPECT_THAT(out, HasSubstr("tortuga: Linux booted to a shell"));
  EXPECT_THAT(out, HasSubstr("Linux (none) 6.1"));  // uname -a from user space
  EXPECT_THAT(out, HasSubstr("proc /proc proc"));
  EXPECT_THAT(out, HasSubstr("sysfs /sys sysfs"));
  EXPECT_THAT(out, HasSubstr("TORTUGA PIPES"));
  EXPECT_THAT(out, HasSubstr("counted 200 lines"));
  EXPECT_THAT(out, HasSubstr("from a subshell"));
  EXPECT_THAT(out, HasSubstr("segv exit status 139"));
  EXPECT_THAT(out, HasSubstr("illegal instruction exit status 132"));
  EXPECT_THAT(out, HasSubstr("(EAGAIN from fork)"));
  EXPECT_THAT(out, HasSubstr("forkbomb exit status 0"));
  EXPECT_THAT(out, HasSubstr("tortuga: end-to-end check done"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("BUG:")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Oops")));
  // A warning in the boot log is a failure too (the kernel lives on, but
  // something it relied on was not as it expected).
  EXPECT_THAT(out, ::testing::Not(HasSubstr("WARNING:")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Call Trace")));
  EXPECT_EQ(run.exit_code, 0) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("guest shut down: poweroff"));
}

// Page-table updates (the PV MMU may batch them) must never lose or leak
// data: tg-mm-check (guest-linux-patches/initramfs/tg-mm-check.c) forks
// children that check and write a copy-on-write buffer, mprotects, mremaps
// and partly munmaps regions checking every page, and sums the output of a
// fork+exec shell loop.
TEST_F(LinuxGuest, PageTableUpdatesNeverCorruptProcessMemory) {
  VmmRun run = boot("console=hvc0 tortuga.run=/bin/tg-mm-check");
  const std::string& out = run.console;
  EXPECT_THAT(out, HasSubstr("tg-mm-check: ok"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("tg-mm-check: FAIL")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("BUG:")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Oops")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("WARNING:")));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Call Trace")));
  EXPECT_EQ(run.exit_code, 0) << run.messages;
}

// The interactive path: the shell reads the console ring, runs a command
// and powers the domain off when its input ends.
TEST_F(LinuxGuest, ShellOnTheConsoleRunsWhatIsTyped) {
  VmmRun run = run_vmm({linux_file("vmlinux"), "--name", "linux", "--memory", "128", "--initramfs",
                        linux_file("initramfs.cpio.gz"), "--cmdline", "console=hvc0"},
                       "", 0, "echo typed-$((6*7))\nexit\n");
  EXPECT_THAT(run.console, HasSubstr("typed-42"));
  EXPECT_EQ(run.exit_code, 0) << run.messages;
  // A kernel that oopsed in one process and carried on is still a failure.
  for (const char* bad : {"BUG:", "Oops", "WARNING:", "Call Trace"}) {
    EXPECT_THAT(run.console, ::testing::Not(HasSubstr(bad))) << run.console;
  }
}

TEST_F(LinuxGuest, TooLittleMemoryIsRefusedBeforeBoot) {
  VmmRun run = boot("console=hvc0", "16");
  EXPECT_EQ(run.exit_code, 1) << run.console << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("refused"));
}

}  // namespace
}  // namespace tortuga::testing
