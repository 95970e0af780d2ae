// The store over its ring (ABI.md 16) as the test guest uses it
// (tests/guest/store.c): the guest's view of its home, permissions,
// watches, transactions and malformed messages. Needs /dev/kvm.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm_process.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(Store, TheGuestSuiteOverTheRingPasses) {
  VmmRun run = run_vmm({test_guest_path(), "--name", "storeguest", "--memory", "32"});
  EXPECT_EQ(run.exit_code, 0) << run.console << run.messages;
  for (const char* line : {
           "ok - store: store_evtchn is bound to the VMM's store",
           "ok - store: domid reads 1 (relative to home)",
           "ok - store: the home directory lists its children in byte order",
           "ok - store: the guest may not write its domid (EACCES)",
           "ok - store: ... fires it with the changed node's path",
           "ok - store: its commit is refused with EAGAIN and applies nothing",
           "ok - store: the home is the VMM's, readable by the guest (n0 r1)",
           "ok - store: a 2048-byte value, streamed through the 1024-byte ring",
           "ok - store: a message over 4096 bytes is EINVAL",
           "ok - store: ... and the connection carries on",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
}

}  // namespace
}  // namespace tortuga::testing
