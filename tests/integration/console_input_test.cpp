// Console input through the console ring (ABI.md 20): what is piped into
// tortuga-vmm's stdin reaches the guest's ring, in order and complete,
// also when it is much larger than the ring and the VMM's backlog.
// Needs /dev/kvm (label `guest`).
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;

VmmRun run_echo(const std::string& input, const std::string& extra = "") {
  return run_vmm({test_guest_path(), "--name", "echoguest", "--cmdline", "console=echo " + extra}, "", 0, input);
}

TEST(ConsoleInput, LinesPipedIntoTheVmmAreEchoedByTheGuest) {
  VmmRun run = run_echo("hello tortuga\nsecond line\nquit\n");
  EXPECT_EQ(run.exit_code, 0) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("echo: ready\necho: hello tortuga\necho: second line\necho: bye after 3 lines\n"));
}

TEST(ConsoleInput, InputLargerThanTheRingArrivesWholeAndInOrder) {
  std::string input, expected;
  for (int i = 0; i < 500; ++i) {
    std::string line = "line " + std::to_string(i) + " of the console input test";
    input += line + "\n";
    expected += "echo: " + line + "\n";
  }
  input += "quit\n";
  VmmRun run = run_echo(input);
  ASSERT_GT(input.size(), 4096u + 1024u) << "more than the backlog and the ring together";
  EXPECT_EQ(run.exit_code, 0) << run.messages;
  EXPECT_THAT(run.console, HasSubstr(expected + "echo: bye after 501 lines\n"));
}

TEST(ConsoleInput, TheEndOfInputLeavesTheGuestWaitingNotTheVmmBroken) {
  // No "quit": the guest waits for more and gives up after its own timeout.
  VmmRun run = run_echo("only line\n", "echowait=1");
  EXPECT_THAT(run.console, HasSubstr("echo: only line\n"));
  EXPECT_THAT(run.console, HasSubstr("echo: no more input"));
  EXPECT_EQ(run.exit_code, 3) << run.messages;
}

}  // namespace
}  // namespace tortuga::testing
