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

constexpr int kPoweroff = 0, kVmmError = 1, kKilled = 2, kCrash = 3, kReboot = 4, kSuspended = 6, kDestroyed = 7;

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

// Arguments ABI.md 7 allows or refuses, as the self test checks them.
TEST(TestGuest, HypercallArgumentsAreTreatedAsAbiSection7Says) {
  VmmRun run = run_guest("", {"--memory", "32"});
  for (const char* line : {
           "ok - oversized console write: -E2BIG",                         // 7.0
           "ok - trap table entry with nonzero _pad0: -EINVAL",            // 7.3
           "ok - trap table entry with nonzero _pad1: -EINVAL",            //
           "ok - trap table naming only vector 3",                         //
           "ok - vectors a trap table does not list keep their handlers",  //
           "ok - stack_switch to a non-canonical stack: -EINVAL",          // 7.6
           "ok - stack_switch with ss 0",                                  //
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

// The console ring's doorbell: a store KVM completes in the host kernel.
// The only doorbell access that reaches the VMM is the guest's deliberate
// load from the slot.
TEST(TestGuest, ConsoleRingOutputThroughItsDoorbellCostsNoExit) {
  VmmRun run = run_guest("", {"--memory", "32", "--stats"});
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("ok - console_evtchn is bound to the VMM's console backend"));
  EXPECT_THAT(run.console, HasSubstr("console ring: hello through the doorbell\n"));
  EXPECT_THAT(run.console, HasSubstr("console ring: hello through event_channel_op send\n"));
  EXPECT_THAT(run.console, HasSubstr("ok - the console backend drained the ring after the doorbell"));
  EXPECT_THAT(run.messages, ::testing::ContainsRegex("doorbell misses +1\n"));
}

TEST(TestGuest, StatsCountHypercallsAndBounces) {
  VmmRun run = run_guest("", {"--stats"});
  EXPECT_EQ(run.exit_code, kPoweroff) << run.messages;
  EXPECT_THAT(run.messages, HasSubstr("hypercall iret"));
  EXPECT_THAT(run.messages, HasSubstr("syscall bounce"));
  EXPECT_THAT(run.messages, HasSubstr("exception vector 14"));
}

// The memory suite (tests/guest/mm.c) runs as part of the self test: the PV
// MMU, multicall and memory reservation of ABI.md 8, 13 and 14.
TEST(TestGuest, MemorySuiteMapsBatchesForksAndBalloons) {
  VmmRun run = run_guest("", {"--memory", "32", "--stats"});
  for (const char* line : {
           "ok - features word 0 offers the PV MMU, multicall and ballooning",
           "ok - the kernel's direct map is extended over all of RAM with batched mmu_update",
           "ok - every frame of RAM is reachable at virt_base + gpa",
           "ok - a user program reads the data page its own page table maps",
           "ok - the kernel's memory is not mapped in the user page table",
           "ok - user base pointer back to 0, the L4 unpinned, its tables writable again",
           "ok - unbatched demand paging: 1024 page faults, one update_va_mapping each",
           "ok - batched demand paging: one page fault, one mmu_update of 1024 requests",
           "ok - fork: the whole copy cost one hypercall",
           "ok - CLEAR_BITS writes each entry's previous value (P, RW, frame) back into val",
           "ok - copy-on-write: one write fault (P|W|U) per page, each resolved",
           "ok - the child sees the data as it was at the fork",
           "ok - increase_reservation brings the four frames back",
           "ok - and hold zeroes",
           "ok - the memory suite gave back every frame it took",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_THAT(run.console, Not(HasSubstr("memory suite skipped")));
  for (const char* counter : {"hypercall mmu_update", "hypercall mmuext_op", "hypercall update_va_mapping",
                              "hypercall multicall", "hypercall memory_op"}) {
    EXPECT_THAT(run.messages, HasSubstr(counter));
  }
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(TestGuest, InvalidPageTableUpdatesGetTheirErrorsAndTheGuestRunsOn) {
  VmmRun run = run_guest("", {"--memory", "32"});
  for (const char* line : {
           "ok - writable mapping of a pinned L1: -EPERM",
           "ok - mapping a frame outside the domain (gfn >= nr_pages): -EPERM",
           "ok - mmu_update of L4 slot 257 (the VMM's), even with its own value: -EPERM",
           "ok - update_va_mapping of a VA in the reserved range: -EINVAL",
           "ok - unpin of the L4 that is the kernel base pointer: -EBUSY",
           "ok - pin as an L1 of a frame one of whose entries maps it writable: -EPERM",
           "ok - an L2 entry pointing at a frame typed L2: -EINVAL",
           "ok - an L4 entry pointing at a frame typed L1: -EINVAL",
           "ok - pin of a frame that is mapped writable: -EBUSY",
           "ok - pin of the shared info page (VMM type): -EBUSY",
           "ok - pin of an L2 holding an entry with PS: -EINVAL",
           "ok - pin of an already pinned L1: -EEXIST",
           "ok - unpin of a frame that is not pinned: -EINVAL",
           "ok - NEW_BASEPTR to an ordinary frame: -EINVAL",
           "ok - mmu_update into the shared info page: -EPERM",
           "ok - mmu_update request type 3: -EINVAL",
           "ok - mmu_update of 4097 requests: -E2BIG",
           "ok - unknown mmuext_op command: -ENOSYS",
           "ok - update_va_mapping where the L4 entry is empty: -ENOENT",
           "ok - TLB_FLUSH_MULTI naming a vCPU the domain does not have: -ESRCH",
           "ok - and reports 3 requests done",
           "ok - an iret entry in a multicall: -EINVAL",
           "ok - mapping a released frame writable: -EPERM",
           "ok - after every refused update the guest runs on, its tables as they were",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

// 300 MiB: the direct map grows in several rounds, later L1s taken from
// frames an earlier round mapped.
TEST(TestGuest, MemorySuiteOnALargerDomain) {
  VmmRun run = run_guest("", {"--memory", "300"});
  EXPECT_THAT(run.console,
              HasSubstr("ok - the kernel's direct map is extended over all of RAM with batched mmu_update"));
  EXPECT_THAT(run.console, HasSubstr("ok - every frame of RAM is reachable at virt_base + gpa"));
  EXPECT_THAT(run.console, HasSubstr("ok - current_reservation: every RAM frame is populated"));
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(TestGuest, MemorySuiteSkipsOnATinyDomain) {
  VmmRun run = run_guest("", {"--memory", "4"});
  EXPECT_THAT(run.console, HasSubstr("# memory suite skipped: it needs at least 8 MiB of RAM"));
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

class MemoryBench : public ::testing::TestWithParam<const char*> {};

TEST_P(MemoryBench, RunsAndPrintsItsTiming) {
  std::string kind = GetParam();
  VmmRun run = run_guest("bench=" + kind + " n=3", {"--stats"});
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("bench " + kind + " ops=3 ns="));
  EXPECT_THAT(run.messages, HasSubstr("hypercall mmu_update"));
}

INSTANTIATE_TEST_SUITE_P(Kinds, MemoryBench,
                         ::testing::Values("map-unbatched", "map-batched", "mmu-entries", "mmu-single"),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The event, timer and vCPU suites (tests/guest/events.c) run in the self
// test after the memory suite: event channels, upcalls and masking (ABI.md
// 9, 2.9), time and the one-shot timer (6, 10), block and poll (7.1), vCPUs
// (11).
TEST(TestGuest, EventSuiteDeliversMasksAndRefusesBadPorts) {
  VmmRun run = run_guest("", {"--memory", "32", "--stats"});
  for (const char* line : {
           "ok - shared info at boot: no port masked, none pending",
           "ok - features word 0 offers events and the timer",
           "ok - its port is the lowest free one, never 0",
           "ok - status of the timer port: virq, VIRQ_TIMER, vCPU 0",
           "ok - with events unmasked the upcall runs the handler on the send's return",
           "ok - the upcall frame: rip at the hypercall's return, rax its result",
           "ok - after the scan: pending bit, upcall_pending and pending_sel clear",
           "ok - a masked port: pending bit set, no upcall",
           "ok - unmask delivers the pending port at once",
           "ok - with upcall_mask = 1 a send sets upcall_pending and makes no upcall",
           "ok - storing 0 to upcall_mask, then the null hypercall delivers it",
           "ok - close of a closed port: -ENOENT",
           "ok - send to a closed port: -ENOENT",
           "ok - status of a closed port: closed",
           "ok - it gets the port just closed (lowest free first)",
           "ok - send to port 0: -EINVAL",
           "ok - send to port 4096: -EINVAL",
           "ok - bind_virq of VIRQ_TIMER on vCPU 0 again: -EEXIST",
           "ok - bind_virq of VIRQ 5 (reserved): -EINVAL",
           "ok - bind_virq on vCPU 7: -ESRCH",
           "ok - bind_virq with nonzero padding: -EINVAL",
           "ok - unknown event_channel_op: -ENOSYS",
           "ok - send to an unbound port is accepted and does nothing",
           "ok - alloc_unbound with every port taken: -ENOSPC",
           "ok - every upcall came with upcall_pending set, events masked, a frame with IF",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_THAT(run.console, Not(HasSubstr("event suite skipped")));
  EXPECT_THAT(run.messages, HasSubstr("hypercall event_channel_op"));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(TestGuest, TimerSuiteWakesBlockPollsAndTicks) {
  VmmRun run = run_guest("", {"--memory", "32", "--stats"});
  for (const char* line : {
           "ok - system time from the pvclock record advances",
           "ok - the wall clock is after 2020",
           "ok - sched_op block is ended by VIRQ_TIMER",
           "ok - the timer fired at or after its deadline",
           "ok - a deadline in the past: VIRQ_TIMER pending when the call returns",
           "ok - a disarmed timer never fires: poll on its port times out",
           "ok - a deadline 365 days and 1 s ahead: -EINVAL",
           "ok - set_singleshot_timer replaces the set_timer_op deadline",
           "ok - an upcall interrupting user mode: a user frame on the kernel stack, iret back to user mode",
           "ok - a 1000 Hz tick re-armed from the handler: 50 ticks, none early",
           "# timer 1000 Hz: 50 ticks, deviation mean ",
           "ok - block with an event already pending returns at once, the upcall delivered",
           "ok - poll on a pending port returns 0 even when it is masked, and changes nothing",
           "ok - poll of 0 ports: -EINVAL",
           "ok - poll of 129 ports: -EINVAL",
           "ok - poll naming port 0: -EINVAL",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_THAT(run.messages, HasSubstr("hypercall set_timer_op"));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(TestGuest, VcpuSuiteOnOneVcpuChecksWhatItCan) {
  VmmRun run = run_guest("", {"--memory", "32"});
  for (const char* line : {
           "ok - vcpu_op is_up(0) = 1",
           "ok - get_info(0): running, times sane",
           "ok - is_up of vCPU nr_vcpus: -ESRCH",
           "ok - down of the only vCPU: -EBUSY",
           "ok - the NMI callback runs with events masked, on a kernel frame",
           "# vcpu suite skipped: one vCPU",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

// A VMM without SMP refuses --vcpus 2 before the VM exists; these tests turn
// themselves on when it stops doing so.
bool refuses_smp(const VmmRun& run) {
  return run.exit_code == kVmmError && run.messages.find("this VMM runs 1 vCPU per domain") != std::string::npos;
}

TEST(TestGuest, VcpuSuiteOnTwoVcpus) {
  VmmRun run = run_guest("", {"--memory", "32", "--vcpus", "2"});
  if (refuses_smp(run)) GTEST_SKIP() << run.messages;
  for (const char* line : {
           "ok - features word 0 offers SMP",
           "ok - vcpu_op is_up(1) = 0 at boot",
           "ok - up of a vCPU never initialised: -EINVAL",
           "ok - initialise with a non-canonical rip: -EINVAL",
           "ok - refused contexts leave vCPU 1 uninitialised",
           "ok - vCPU 1 runs ap_main and sends its first IPI",
           "ok - initialise of vCPU 1 while up: -EBUSY",
           "ok - 100 IPI round trips between vCPU 0 and vCPU 1",
           "ok - a counter incremented in turn by both vCPUs under an IPI handshake: 400",
           "ok - both vCPUs adding 100000 at once with lock add: 200000",
           "ok - vCPU 1 arms its own timer; it fires on vCPU 1, not before the deadline",
           "ok - send_nmi reaches vCPU 1 running with events masked",
           "ok - down vCPU 1 from vCPU 0",
           "ok - get_info(1): offline",
           "ok - down of the last vCPU up: -EBUSY",
           "ok - it resumes where it stopped and takes the IPI sent while it was down",
           "ok - it starts from the new context",
           "ok - vCPU 0 takes itself down, vCPU 1 brings it up, and the down returns 0",
           "ok - down vCPU 1 at the end",
       }) {
    EXPECT_THAT(run.console, HasSubstr(line));
  }
  EXPECT_THAT(run.console, Not(HasSubstr("not ok")));
  EXPECT_THAT(run.console, Not(HasSubstr("vcpu suite skipped")));
  EXPECT_THAT(run.console, Not(HasSubstr("vcpu suite stopped")));
  EXPECT_THAT(run.console, HasSubstr(" passed, 0 failed"));
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(TestGuest, PoweroffWhileAnotherVcpuSpinsEndsCleanly) {
  VmmRun run = run_guest("scenario=shutdown-while-running", {"--vcpus", "2"});
  if (refuses_smp(run)) GTEST_SKIP() << run.messages;
  EXPECT_THAT(run.console, HasSubstr("scenario shutdown-while-running: vCPU 1 spins, vCPU 0 powers off"));
  EXPECT_THAT(run.messages, HasSubstr("guest shut down: poweroff"));
  EXPECT_EQ(std::count(run.messages.begin(), run.messages.end(), '\n'), 1) << run.messages;
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
}

TEST(EventBench, TimerTicksAndPrintsItsJitter) {
  VmmRun run = run_guest("bench=timer n=5 hz=1000", {"--stats"});
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("bench timer ops=5 ns="));
  EXPECT_THAT(run.console, HasSubstr("# jitter mean_us="));
  EXPECT_THAT(run.console, HasSubstr(" max_us="));
  EXPECT_THAT(run.messages, HasSubstr("hypercall set_timer_op"));
}

TEST(EventBench, BlockWakesOnTheTimer) {
  VmmRun run = run_guest("bench=block n=3", {"--stats"});
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("bench block ops=3 ns="));
  EXPECT_THAT(run.messages, HasSubstr("hypercall sched_op"));
}

TEST(EventBench, PingPongBetweenTwoVcpus) {
  VmmRun run = run_guest("bench=event-pingpong n=3", {"--vcpus", "2", "--stats"});
  if (refuses_smp(run)) GTEST_SKIP() << run.messages;
  EXPECT_EQ(run.exit_code, kPoweroff) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("bench event-pingpong ops=3 ns="));
  EXPECT_THAT(run.messages, HasSubstr("hypercall event_channel_op"));
}

TEST(EventBench, PingPongNeedsTwoVcpus) {
  VmmRun run = run_guest("bench=event-pingpong n=3");
  EXPECT_EQ(run.exit_code, kCrash) << run.console << run.messages;
  EXPECT_THAT(run.console, HasSubstr("bench event-pingpong: it needs 2 vCPUs (--vcpus 2)"));
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
        Misbehaviour{"reboot", kReboot, "guest shut down: reboot"},
        // ABI.md 7.1: the VMM writes no image for a guest's suspend; it ends the domain.
        Misbehaviour{"suspend", kSuspended, "guest shut down: suspend"}),
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
  std::filesystem::path dir_ =
      std::filesystem::temp_directory_path() / ("tortuga-badkernel-" + std::to_string(getpid()));
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
