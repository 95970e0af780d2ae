// tortugad and tortuga with the test guest (needs /dev/kvm, label `guest`):
// a domain's whole life, crashes of the VMM and of the daemon, hostile API
// messages and configs, and racing clients.
#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "control.pb.h"
#include "framing.h"
#include "toolstack_harness.h"
#include "unix_socket.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

uint64_t exits_of(const DaemonHarness& d, const std::string& domain) {
  std::smatch m;
  std::string json = d.ok({"stats", domain, "--json"});
  std::regex re("\"exits\": \"([0-9]+)\"");
  return std::regex_search(json, m, re) ? std::stoull(m[1].str()) : 0;
}

TEST(Toolstack, CreateListPauseUnpauseDestroyLeavesNothingBehind) {
  DaemonHarness d;
  std::string out = d.ok({"create", d.long_running_config("web")});
  EXPECT_THAT(out, HasSubstr("domain 'web' created (id 1)"));
  pid_t pid = domain_pid(d, "web");
  ASSERT_TRUE(process_alive(pid));

  std::string list = d.ok({"list"});
  EXPECT_THAT(list, HasSubstr("Name"));
  EXPECT_THAT(list, HasSubstr("Time(s)"));
  EXPECT_TRUE(std::regex_search(list, std::regex("web +1 +32 +1 +running")));
  EXPECT_THAT(d.ok({"list", "--json"}), HasSubstr("\"state\": \"RUNNING\""));

  EXPECT_THAT(d.ok({"pause", "web"}), HasSubstr("paused"));
  EXPECT_EQ(domain_state(d, "web"), "PAUSED");
  // Paused means no guest progress: the 10 Hz timer would make exits otherwise.
  uint64_t before = exits_of(d, "web");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_EQ(exits_of(d, "web"), before);

  d.ok({"unpause", "1"});  // by id
  EXPECT_EQ(domain_state(d, "web"), "RUNNING");
  EXPECT_TRUE(eventually([&] { return exits_of(d, "web") > before; }));

  d.ok({"destroy", "web"});
  EXPECT_FALSE(process_alive(pid));
  EXPECT_THAT(d.ok({"list", "--json"}), Not(HasSubstr("web")));
  EXPECT_THAT(list_dir(d.dir() + "/domains"), IsEmpty());
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
  CliRun gone = d.cli({"info", "web"});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_EQ(gone.err, "tortuga: info: no domain 'web'\n");
}

// With two vCPUs (the second one down) and while paused: destroy must
// release the parked vCPUs.
TEST(Toolstack, PausedDomainWithTwoVcpusIsDestroyed) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("frozen", ", \"vcpus\": 2")});
  pid_t pid = domain_pid(d, "frozen");
  d.ok({"pause", "frozen"});
  d.ok({"pause", "frozen"});  // idempotent
  EXPECT_EQ(domain_state(d, "frozen"), "PAUSED");
  d.ok({"destroy", "frozen"});
  EXPECT_FALSE(process_alive(pid));
  EXPECT_THAT(d.log(), Not(HasSubstr("SIGKILL")));  // it left on SIGTERM, not after the grace period
}

TEST(Toolstack, TestGuestRunsItsSelfTestToPoweroffWithConsoleAndStats) {
  DaemonHarness d;
  std::string config = d.write_config(
      "selftest", "{\"name\": \"selftest\", \"kernel\": \"" + test_guest_path() + "\", \"memory_mib\": 32}");
  CliRun run = d.cli({"create", "--console", config});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.out, HasSubstr("tortuga test guest: hello from CPL3"));
  EXPECT_THAT(run.out, HasSubstr(" passed, 0 failed"));
  EXPECT_THAT(run.err, HasSubstr("domain 'selftest' ended: guest shut down: poweroff"));
  EXPECT_EQ(domain_state(d, "selftest"), "SHUTOFF");
  EXPECT_THAT(d.ok({"info", "selftest"}), HasSubstr("guest shut down: poweroff (exit status 0)"));
  std::string stats = d.ok({"stats", "selftest"});
  EXPECT_THAT(stats, HasSubstr("hypercall iret"));
  EXPECT_THAT(stats, HasSubstr("syscall bounces"));
  // The console stays attachable after the end: the log holds its output.
  EXPECT_THAT(d.ok({"console", "selftest"}), HasSubstr(" passed, 0 failed"));
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
  d.ok({"destroy", "selftest"});
}

// The page-table counters of issue 15 reach `tortuga stats` from the exit
// record: the self test's memory suite pins tables, batches mmu_update and
// runs multicalls.
TEST(Toolstack, StatsShowPageTableKindsAndBatchSizes) {
  DaemonHarness d;
  std::string config =
      d.write_config("pt", "{\"name\": \"pt\", \"kernel\": \"" + test_guest_path() + "\", \"memory_mib\": 32}");
  CliRun run = d.cli({"create", "--console", config});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::string stats = d.ok({"stats", "pt"});
  EXPECT_THAT(stats, HasSubstr("page-table requests"));
  EXPECT_TRUE(std::regex_search(stats, std::regex("\n  mmu_update normal +[1-9][0-9]* +[0-9]+\n"))) << stats;
  EXPECT_TRUE(std::regex_search(stats, std::regex("\n  mmuext pin_l1_table +[0-9]+ +[0-9]+\n"))) << stats;
  EXPECT_TRUE(std::regex_search(stats, std::regex("\nmmu_update batches +1:[1-9]"))) << stats;
  EXPECT_THAT(stats, HasSubstr("multicall batches"));
  std::string json = d.ok({"stats", "pt", "--json"});
  EXPECT_THAT(json, HasSubstr("\"mmu_requests_by_kind\""));
  EXPECT_THAT(json, HasSubstr("\"kind\": \"mmu_update normal\""));
  EXPECT_THAT(json, HasSubstr("\"multicall_entries_by_op\""));
  EXPECT_THAT(json, HasSubstr("\"mmu_update_batches\""));
  d.ok({"destroy", "pt"});
}

// Keys typed into `tortuga console` reach the guest: the VMM feeds its
// stdin FIFO into the console ring (ABI.md 20), and the test guest in
// console=echo mode answers each line and powers off at "quit".
TEST(Toolstack, ConsoleInputReachesTheGuest) {
  DaemonHarness d;
  d.ok({"create", d.write_config("typist", "{\"name\": \"typist\", \"kernel\": \"" + test_guest_path() +
                                               "\", \"memory_mib\": 32, \"cmdline\": \"console=echo\"}")});
  int keys[2];
  ASSERT_EQ(::pipe(keys), 0);
  pid_t cli = ::fork();
  if (cli == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(keys[0], STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::close(keys[1]);
    ::execl(TORTUGA_CLI_PATH, TORTUGA_CLI_PATH, "--socket", d.socket().c_str(), "console", "typist", nullptr);
    _exit(127);
  }
  ::close(keys[0]);
  ASSERT_EQ(::write(keys[1], "hello\nquit\n", 11), 11);
  ::close(keys[1]);  // end of input: the CLI stops forwarding, keeps showing output
  EXPECT_TRUE(eventually([&] { return domain_state(d, "typist") == "SHUTOFF"; }));
  EXPECT_THAT(d.ok({"console", "typist"}), HasSubstr("echo: hello"));
  ::kill(cli, SIGTERM);
  ::waitpid(cli, nullptr, 0);
}

TEST(Toolstack, CrashedVmmIsReportedAndCleanedUp) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("victim")});
  pid_t pid = domain_pid(d, "victim");
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return domain_state(d, "victim") == "CRASHED"; })) << d.log();
  EXPECT_THAT(d.ok({"info", "victim"}), HasSubstr("killed by signal 9 (SIGKILL)"));
  EXPECT_THAT(d.log(), HasSubstr("domain 'victim': tortuga-vmm pid"));
  // The domain's own log has its story too.
  std::ifstream vmm_log(d.dir() + "/logs/victim.vmm.log");
  std::string story((std::istreambuf_iterator<char>(vmm_log)), std::istreambuf_iterator<char>());
  EXPECT_THAT(story, HasSubstr("tortugad: started tortuga-vmm pid " + std::to_string(pid)));
  EXPECT_THAT(story, HasSubstr("tortugad: tortuga-vmm pid " + std::to_string(pid) +
                               " ended: tortuga-vmm was killed by signal 9"));
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
  EXPECT_THAT(d.ok({"list"}), HasSubstr("crashed"));
  d.ok({"destroy", "victim"});
  EXPECT_THAT(list_dir(d.dir() + "/domains"), IsEmpty());
}

TEST(Toolstack, OnCrashRestartStartsANewVmmAndDestroyForgets) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("phoenix", ", \"on_crash\": \"restart\"")});
  pid_t first = domain_pid(d, "phoenix");
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] {
    pid_t now = domain_pid(d, "phoenix");
    return now != 0 && now != first && domain_state(d, "phoenix") == "RUNNING";
  })) << d.log();
  EXPECT_THAT(d.ok({"info", "phoenix"}), HasSubstr("restarts:    1"));

  d.ok({"create", d.long_running_config("gone", ", \"on_crash\": \"destroy\"")});
  ASSERT_EQ(::kill(domain_pid(d, "gone"), SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return d.cli({"info", "gone"}).exit_code == 1; }));
  EXPECT_THAT(d.log(), HasSubstr("domain 'gone': crashed"));
}

TEST(Toolstack, RestartedDaemonReadoptsRunningVmms) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("survivor")});
  d.ok({"create", d.long_running_config("doomed")});
  pid_t survivor = domain_pid(d, "survivor"), doomed = domain_pid(d, "doomed");
  d.kill9();
  ASSERT_TRUE(process_alive(survivor));
  // One VMM ends while no daemon watches: the next one must notice.
  ASSERT_EQ(::kill(doomed, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return !process_alive(doomed); }));
  d.start();
  EXPECT_EQ(domain_pid(d, "survivor"), survivor);
  EXPECT_EQ(domain_state(d, "survivor"), "RUNNING");
  EXPECT_THAT(d.log(), HasSubstr("domain 'survivor': re-adopted tortuga-vmm pid"));
  EXPECT_EQ(domain_state(d, "doomed"), "LOST");
  // The adopted VMM is fully under control again: pause, stats, destroy.
  d.ok({"pause", "survivor"});
  EXPECT_EQ(domain_state(d, "survivor"), "PAUSED");
  d.ok({"unpause", "survivor"});
  d.ok({"destroy", "survivor"});
  EXPECT_FALSE(process_alive(survivor));
  d.ok({"destroy", "doomed"});
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
}

// A daemon killed between spawning a VMM and recording its pid: the record
// has the control socket but no pid, and the next daemon finds the VMM there.
TEST(Toolstack, RestartedDaemonFindsAVmmWhosePidWasNeverRecorded) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("unrecorded")});
  pid_t pid = domain_pid(d, "unrecorded");
  d.kill9();
  std::string path = d.dir() + "/domains/unrecorded.json";
  std::ifstream in(path);
  std::string json((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  json = std::regex_replace(json, std::regex("\"pid\": [0-9]+"), "\"pid\": 0");
  json = std::regex_replace(json, std::regex("\"pid_start_time\": \"[0-9]+\""), "\"pid_start_time\": \"0\"");
  ASSERT_THAT(json, HasSubstr("\"pid\": 0"));
  ASSERT_THAT(json, HasSubstr("\"pid_start_time\": \"0\""));
  std::ofstream(path) << json;
  d.start();
  EXPECT_EQ(domain_pid(d, "unrecorded"), pid) << d.log();
  EXPECT_EQ(domain_state(d, "unrecorded"), "RUNNING");
  d.ok({"destroy", "unrecorded"});
  EXPECT_FALSE(process_alive(pid));
}

TEST(Toolstack, ShutdownWaitsThenDestroysAndSaysSo) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("stubborn")});
  pid_t pid = domain_pid(d, "stubborn");
  std::string out = d.ok({"shutdown", "stubborn", "--timeout", "1"});
  EXPECT_THAT(out, HasSubstr("domain 'stubborn': the guest cannot be asked (it does not watch control/shutdown)"));
  EXPECT_THAT(out, HasSubstr("destroyed after 1 s"));
  EXPECT_FALSE(process_alive(pid));
  EXPECT_EQ(domain_state(d, "stubborn"), "SHUTOFF") << d.ok({"info", "stubborn"}) << d.log();
  CliRun again = d.cli({"shutdown", "stubborn"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "tortuga: shutdown: domain 'stubborn' is shutoff, not running\n");
}

// A guest that powers off on its own (30 ticks of a 10 Hz timer, 3 s after
// create returns): shutdown sees it end within its timeout, destroys nothing.
TEST(Toolstack, ShutdownOfAGuestThatStopsInTimeDestroysNothing) {
  DaemonHarness d;
  d.ok({"create", "-n", "brief", "-k", test_guest_path(), "--cmdline", "bench=timer hz=10 n=30"});
  std::string out = d.ok({"shutdown", "brief", "--timeout", "120", "--json"});
  EXPECT_THAT(out, HasSubstr("\"destroyed\": false"));
  EXPECT_THAT(out, HasSubstr("domain 'brief' shut down"));
  EXPECT_EQ(domain_state(d, "brief"), "SHUTOFF");
  EXPECT_THAT(d.ok({"info", "brief"}), HasSubstr("guest shut down: poweroff (exit status 0)"));
}

TEST(Toolstack, ListAndUsageErrorsAreClear) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("box")});
  EXPECT_TRUE(std::regex_search(d.ok({"list", "box"}), std::regex("\nbox +1 ")));
  CliRun missing = d.cli({"list", "box", "nosuch"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err, "tortuga: list: no domain 'nosuch'\n");
  CliRun usage = d.cli({"pause"});
  EXPECT_EQ(usage.exit_code, 1);
  EXPECT_THAT(usage.err, HasSubstr("domain is required"));
  d.ok({"create", d.long_running_config("quiet", ", \"console\": \"none\"")});
  CliRun console = d.cli({"console", "quiet"});
  EXPECT_EQ(console.exit_code, 1);
  EXPECT_EQ(console.err, "tortuga: console: domain 'quiet': its console is not captured (console: none)\n");
  EXPECT_THAT(list_dir(d.dir() + "/logs"), Not(::testing::Contains("quiet.console.log")));
  CliRun none = d.cli({"pause", "nosuch"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_EQ(none.err, "tortuga: pause: no domain 'nosuch'\n");
}

TEST(Toolstack, BadConfigsGetAnErrorNamingTheKey) {
  DaemonHarness d;
  auto create_error = [&](const std::string& json) {
    CliRun run = d.cli({"create", d.write_config("bad", json)});
    EXPECT_EQ(run.exit_code, 1);
    return run.err;
  };
  std::string k = "\"kernel\": \"" + test_guest_path() + "\"";
  EXPECT_THAT(create_error("{\"name\": \"a\", " + k + ", \"memroy_mib\": 64}"), HasSubstr("memroy_mib"));
  EXPECT_THAT(create_error("{\"name\": \"a\", " + k + ", \"vcpus\": \"many\"}"), HasSubstr("vcpus"));
  EXPECT_THAT(create_error("{\"name\": \"a\", " + k + ", \"memory_mib\": 999999999}"), HasSubstr("memory_mib"));
  EXPECT_THAT(create_error("{\"name\": \"a\", " + k + ", \"vcpus\": 64}"), HasSubstr("vcpus: 64 is outside"));
  EXPECT_THAT(create_error("{\"name\": \"a b\", " + k + "}"), HasSubstr("name: 'a b' is not a valid domain name"));
  EXPECT_THAT(create_error("{\"name\": \"a\", \"kernel\": \"/no/such/kernel\"}"), HasSubstr("kernel: no such file"));
  EXPECT_THAT(create_error("{\"name\": \"a\", " + k), HasSubstr("invalid config"));
  // A file that is no kernel passes the config checks; the VMM refuses it.
  std::string not_elf = d.write_config("notelf", "hello");
  CliRun run = d.cli({"create", "--name", "text", "--kernel", not_elf});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("domain 'text': did not start: refused:"));
  EXPECT_THAT(d.ok({"list", "--json"}), Not(HasSubstr("text")));
  EXPECT_THAT(list_dir(d.dir() + "/run"), IsEmpty());
}

// Raw bytes on the API socket, as a broken or hostile client would send them.
class RawClient {
 public:
  explicit RawClient(const DaemonHarness& d) : fd_(connect_unix(d.socket())) {}
  void bytes(const std::string& data) {
    ASSERT_EQ(::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL), ssize_t(data.size()));
  }
  api::Response reply() {
    api::Response r;
    EXPECT_TRUE(receive_message(fd_.get(), r, 10'000));
    return r;
  }
  bool closed_by_daemon() {
    api::Response r;
    try {
      return !receive_message(fd_.get(), r, 10'000);
    } catch (const FramingError&) {
      return true;
    }
  }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

std::string header(uint32_t n) { return std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)}; }

TEST(Toolstack, MalformedTruncatedAndOversizedMessagesGetErrorsWhileOthersAreServed) {
  DaemonHarness d;
  RawClient bystander(d);  // connected throughout, served at the end

  RawClient malformed(d);
  malformed.bytes(header(4) + "\xff\xff\xff\xff");
  EXPECT_THAT(malformed.reply().error(), HasSubstr("malformed message"));
  api::Request list;
  list.mutable_list();
  malformed.bytes(tortuga::encode_frame(list));  // the connection goes on
  EXPECT_TRUE(malformed.reply().has_list());

  RawClient empty(d);
  empty.bytes(header(0));
  EXPECT_THAT(empty.reply().error(), HasSubstr("empty request"));

  RawClient oversized(d);
  oversized.bytes(header(64u << 20));
  api::Response r = oversized.reply();
  EXPECT_THAT(r.error(), HasSubstr("over the 1048576 byte limit"));
  EXPECT_TRUE(oversized.closed_by_daemon());

  RawClient truncated(d);
  truncated.bytes(header(100) + "abc");
  truncated.close();
  RawClient half_header(d);
  half_header.bytes(std::string("\0\0", 2));
  half_header.close();

  bystander.bytes(tortuga::encode_frame(list));
  EXPECT_TRUE(bystander.reply().has_list());
  EXPECT_EQ(d.cli({"list"}).exit_code, 0);
  EXPECT_THAT(d.log(), HasSubstr("truncated message"));
}

TEST(Toolstack, TwoClientsCreatingTheSameNameEndWithOneDomain) {
  DaemonHarness d;
  std::string config = d.long_running_config("twin");
  CliRun a, b;
  std::thread ta([&] { a = d.cli({"create", config}); });
  std::thread tb([&] { b = d.cli({"create", config}); });
  ta.join();
  tb.join();
  EXPECT_EQ((a.exit_code == 0) + (b.exit_code == 0), 1) << a.err << b.err;
  EXPECT_THAT(a.err + b.err, HasSubstr("tortuga: create: domain 'twin' already exists"));
  std::string list = d.ok({"list"});
  std::regex row("\ntwin ");
  EXPECT_EQ(std::distance(std::sregex_iterator(list.begin(), list.end(), row), std::sregex_iterator()), 1);
}

TEST(Toolstack, TopShowsRatesPerDomain) {
  DaemonHarness d;
  d.ok({"create", d.long_running_config("busy")});
  std::string out = d.ok({"top", "--iterations", "2", "--delay", "0.5"});
  EXPECT_THAT(out, HasSubstr("EXITS/s"));
  EXPECT_THAT(out, HasSubstr("HCALLS/s"));
  EXPECT_TRUE(std::regex_search(out, std::regex("busy +1 +running +- +- +- +-"))) << out;  // first sample
  EXPECT_TRUE(std::regex_search(out, std::regex("busy +1 +running +[0-9.]+ +[0-9]+ +[0-9]+ +[0-9]+"))) << out;
  std::string json = d.ok({"top", "--json", "--iterations", "2", "--delay", "0.5"});
  EXPECT_THAT(json, HasSubstr("\"rates_known\": true"));
  EXPECT_THAT(json, HasSubstr("\"exits_per_s\""));
}

TEST(Toolstack, OneDaemonPerStateDirectory) {
  DaemonHarness d;
  std::string command = std::string(TORTUGAD_PATH) + " --state-dir " + d.dir() + " --socket " + d.dir() +
                        "/second.sock 2>" + d.dir() + "/second.err";
  int status = std::system(command.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  std::ifstream err(d.dir() + "/second.err");
  std::string line;
  std::getline(err, line);
  EXPECT_EQ(line, "tortugad: another tortugad is using " + d.dir());
  EXPECT_EQ(d.cli({"list"}).exit_code, 0);  // the first one carries on
  // Nor may a daemon elsewhere take the live socket's address.
  std::string other = std::string(TORTUGAD_PATH) + " --state-dir " + d.dir() + "/other --socket " + d.socket() + " 2>" +
                      d.dir() + "/other.err";
  status = std::system(other.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1);
  std::ifstream other_err(d.dir() + "/other.err");
  std::getline(other_err, line);
  EXPECT_EQ(line, "tortugad: " + d.socket() + " is in use by a running server");
  EXPECT_EQ(d.cli({"list"}).exit_code, 0);
}

TEST(Toolstack, HelpEverywhere) {
  DaemonHarness d;
  for (const char* cmd : {"create", "list", "info", "console", "pause", "unpause", "shutdown", "destroy", "mem-set",
                          "top", "stats", "block-attach", "block-detach", "network-attach", "network-detach"}) {
    CliRun run = d.cli({cmd, "--help"});
    EXPECT_EQ(run.exit_code, 0) << cmd;
    EXPECT_THAT(run.out, HasSubstr("Usage")) << cmd;
  }
}

}  // namespace
}  // namespace tortuga::testing
