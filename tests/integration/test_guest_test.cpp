// The test guest under tortuga-vmm: its self test, each misbehaviour the VMM
// must stop with one clear line, and kernel files the VMM must refuse.
// Needs /dev/kvm (label `guest`).
#include <elf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr int kPoweroff = 0, kVmmError = 1, kKilled = 2, kCrash = 3, kReboot = 4, kDestroyed = 7;

VmmRun run_guest(const std::string& cmdline, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{test_guest_path(), "--name", "testguest", "--cmdline", cmdline};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_vmm(args);
}

TEST(TestGuest, SelfTestPassesAndPowersOff) {
  VmmRun run = run_guest("greeting=hello", {"--memory", "32"});
  EXPECT_THAT(run.console, HasSubstr("tortuga test guest: hello from CPL3"));
  EXPECT_THAT(run.console, HasSubstr("cmdline: greeting=hello"));
  EXPECT_THAT(run.console, HasSubstr("ok - user->kernel->user syscall round trip"));
  EXPECT_THAT(run.console, HasSubstr("ok - iret with a bad selector enters the failsafe callback"));
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_THAT(run.console, HasSubstr(" passed, 0 failed"));
  EXPECT_THAT(run.messages, HasSubstr("testguest: guest shut down: poweroff"));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(TestGuest, StatsCountHypercallsAndBounces) {
  VmmRun run = run_guest("", {"--stats"});
  EXPECT_EQ(run.exit_code, kPoweroff) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("hypercall iret"));
  EXPECT_THAT(run.messages, HasSubstr("syscall bounce"));
  EXPECT_THAT(run.messages, HasSubstr("exception vector 14"));
}

struct Misbehaviour {
  const char* scenario;
  int exit_code;
  const char* message;
};

class GuestMisbehaviour : public ::testing::TestWithParam<Misbehaviour> {};

TEST_P(GuestMisbehaviour, EndsTheDomainWithOneClearLine) {
  const Misbehaviour& m = GetParam();
  VmmRun run = run_guest(std::string("scenario=") + m.scenario);
  EXPECT_EQ(run.exit_code, m.exit_code) << run.console << run.messages;
  EXPECT_THAT(run.messages, HasSubstr(m.message));
  EXPECT_THAT(run.console, Not(HasSubstr("the VMM let the guest carry on")));
  // One line from the VMM, nothing else.
  EXPECT_EQ(std::count(run.messages.begin(), run.messages.end(), '\n'), 1) << run.messages;
}

INSTANTIATE_TEST_SUITE_P(
    Scenarios, GuestMisbehaviour,
    ::testing::Values(
        Misbehaviour{"priv-cli", kKilled, "privileged instruction 'cli' in guest kernel at rip 0xffffffff8"},
        Misbehaviour{"priv-hlt", kKilled, "privileged instruction 'hlt' in guest kernel at rip"},
        Misbehaviour{"priv-cr3", kKilled, "privileged instruction 'mov to cr3' in guest kernel at rip"},
        Misbehaviour{"priv-out", kKilled, "privileged instruction 'out'"},
        Misbehaviour{"wild-jump", kKilled,
                     "page fault at 0xffffffffc0000000 (error 0x10) in guest kernel mode at rip 0xffffffffc0000000, "
                     "no handler registered"},
        Misbehaviour{"bad-pointer", kKilled, "hypercall console_io: bad guest pointer 0xdead0000 (not mapped)"},
        Misbehaviour{"bad-handler", kKilled, "set_trap_table: handler for vector 14 0x1000 is outside guest memory"},
        Misbehaviour{"bad-kernel-stack", kKilled, "cannot deliver syscall: guest kernel stack 0xffffffffbfff"},
        Misbehaviour{"crash", kCrash, "guest shut down: crash"},
        Misbehaviour{"reboot", kReboot, "guest shut down: reboot"}),
    [](const auto& info) {
      std::string name = info.param.scenario;
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(TestGuest, SigtermDestroysASpinningDomain) {
  VmmRun run = run_vmm({test_guest_path(), "--cmdline", "scenario=spin"}, "scenario spin", SIGTERM);
  EXPECT_EQ(run.exit_code, kDestroyed) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("destroyed: signal SIGTERM"));
}

// Bad kernel files are refused before any VM exists.
class BadKernel : public ::testing::Test {
 protected:
  std::filesystem::path dir_ = std::filesystem::temp_directory_path() /
                               ("tortuga-badkernel-" + std::to_string(getpid()));
  void SetUp() override { std::filesystem::create_directories(dir_); }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::vector<char> guest_bytes() {
    std::ifstream in(test_guest_path(), std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  std::string write(const std::string& name, const std::vector<char>& bytes) {
    auto path = dir_ / name;
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  void expect_refused(const std::string& kernel, const std::string& reason, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{kernel};
    args.insert(args.end(), extra.begin(), extra.end());
    VmmRun run = run_vmm(args);
    EXPECT_EQ(run.exit_code, kVmmError) << run.messages;
    EXPECT_THAT(run.messages, HasSubstr("refused"));
    EXPECT_THAT(run.messages, HasSubstr(reason));
    EXPECT_EQ(run.console, "");
  }
};

TEST_F(BadKernel, NotElf) {
  std::string text = "#!/bin/sh\necho this is not a kernel\n";
  expect_refused(write("script", {text.begin(), text.end()}), "not an ELF file");
}

TEST_F(BadKernel, WrongMachine) {
  auto bytes = guest_bytes();
  uint16_t machine = EM_AARCH64;
  std::memcpy(bytes.data() + offsetof(Elf64_Ehdr, e_machine), &machine, sizeof machine);
  expect_refused(write("arm64", bytes), "wrong machine");
}

TEST_F(BadKernel, NoTortugaNote) {
  auto bytes = guest_bytes();
  std::string name = "Tortuga";
  for (auto it = bytes.begin(); (it = std::search(it, bytes.end(), name.begin(), name.end())) != bytes.end();) {
    *it = 'X';  // "Xortuga": the notes are no longer ours
  }
  expect_refused(write("nonote", bytes), "no Tortuga ELF note");
}

TEST_F(BadKernel, SegmentsOutsideMemory) {
  // The guest is linked to load at 1 MiB: with 1 MiB of memory it cannot fit.
  expect_refused(test_guest_path(), "outside the domain's 1 MiB of memory", {"--memory", "1"});
}

TEST_F(BadKernel, MemoryOutOfRange) {
  expect_refused(test_guest_path(), "memory must be between 1 and", {"--memory", "0"});
}

TEST_F(BadKernel, MissingFile) { expect_refused((dir_ / "absent").string(), "cannot open kernel"); }

}  // namespace
}  // namespace tortuga::testing
