#include "toolstack_harness.h"

#include <fcntl.h>
#include <sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace tortuga::testing {
namespace fs = std::filesystem;

std::string test_guest_path() { return TORTUGA_TEST_GUEST_PATH; }

DaemonHarness::DaemonHarness() : DaemonHarness("", "") {}

DaemonHarness::DaemonHarness(const std::string& migrate_listen, const std::string& netns)
    : migrate_listen_(migrate_listen), netns_(netns) {
  char tmpl[] = "/tmp/tortuga-ts-XXXXXX";
  dir_ = ::mkdtemp(tmpl);
  start();
}

DaemonHarness::~DaemonHarness() {
  if (pid_ <= 0) start();
  // Whatever a failed test left running goes with the directory.
  CliRun list = cli({"list", "--json"});
  std::regex name_re("\"name\": \"([^\"]+)\"");
  for (std::sregex_iterator it(list.out.begin(), list.out.end(), name_re), end; it != end; ++it) {
    cli({"destroy", (*it)[1]});
  }
  stop();
  fs::remove_all(dir_);
}

void DaemonHarness::start() {
  pid_t pid = ::fork();
  if (pid == 0) {
    int log = ::open((dir_ + "/tortugad.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    std::string state = "--state-dir=" + dir_, sock = "--socket=" + socket(),
                vmm = std::string("--vmm=") + TORTUGA_VMM_PATH;
    if (!netns_.empty()) {
      int ns = ::open(("/var/run/netns/" + netns_).c_str(), O_RDONLY | O_CLOEXEC);
      if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) _exit(125);
    }
    // No migration listener unless a test asks: daemons of tests running at
    // the same time would want the same port.
    std::string listen = "--migrate-listen=" + (migrate_listen_.empty() ? std::string("off") : migrate_listen_);
    ::execl(TORTUGAD_PATH, TORTUGAD_PATH, state.c_str(), sock.c_str(), vmm.c_str(), listen.c_str(), nullptr);
    _exit(127);
  }
  pid_ = pid;
  // Ready once a request is answered (the socket exists before recovery ends).
  int status = 0;
  bool exited = false;
  bool up = eventually(
      [&] {
        exited = exited || ::waitpid(pid_, &status, WNOHANG) == pid_;
        return exited || cli({"list"}).exit_code == 0;
      },
      20);
  if (exited) pid_ = -1;  // reaped: its pid may name another process by now
  ASSERT_FALSE(exited) << "tortugad exited at once, status " << status << ":\n" << log();
  ASSERT_TRUE(up) << log();
}

void DaemonHarness::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void DaemonHarness::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

std::string DaemonHarness::log() const {
  std::ifstream in(dir_ + "/tortugad.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

CliRun DaemonHarness::cli(const std::vector<std::string>& args) const {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(err[1], STDERR_FILENO);
    std::vector<std::string> all{TORTUGA_CLI_PATH, "--socket", socket()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(TORTUGA_CLI_PATH, argv.data());
    _exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  CliRun run;
  std::array<pollfd, 2> fds{{{out[0], POLLIN, 0}, {err[0], POLLIN, 0}}};
  for (int open = 2; open > 0;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
        continue;
      }
      (i == 0 ? run.out : run.err).append(buf, static_cast<size_t>(n));
    }
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

std::string DaemonHarness::ok(const std::vector<std::string>& args) const {
  CliRun run = cli(args);
  std::string joined;
  for (const auto& a : args) joined += a + " ";
  EXPECT_EQ(run.exit_code, 0) << "tortuga " << joined << "\n" << run.err << "\n--- tortugad:\n" << log();
  return run.out;
}

std::string DaemonHarness::write_config(const std::string& name, const std::string& json) const {
  std::string path = dir_ + "/" + name + ".json";
  std::ofstream(path) << json;
  return path;
}

std::string DaemonHarness::long_running_config(const std::string& name, const std::string& extra) const {
  // 10 timer ticks a second for a million ticks: blocked nearly all the time.
  return write_config(name, "{\"name\": \"" + name + "\", \"kernel\": \"" + test_guest_path() +
                                "\", \"memory_mib\": 32, \"vcpus\": 1, "
                                "\"cmdline\": \"bench=timer hz=10 n=1000000\"" +
                                extra + "}");
}

std::string console_of(const DaemonHarness& d, const std::string& name) {
  std::ifstream in(d.dir() + "/logs/" + name + ".console.log", std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool process_alive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] != 'Z';
}

namespace {
std::string json_field(const std::string& json, const std::string& key) {
  std::smatch m;
  std::regex re("\"" + key + "\": \"?([^\",\n]+)\"?");
  return std::regex_search(json, m, re) ? m[1].str() : "";
}
}  // namespace

pid_t domain_pid(const DaemonHarness& d, const std::string& domain) {
  std::string v = json_field(d.cli({"info", domain, "--json"}).out, "pid");
  return v.empty() ? 0 : std::stoi(v);
}

std::string domain_state(const DaemonHarness& d, const std::string& domain) {
  return json_field(d.cli({"info", domain, "--json"}).out, "state");
}

std::vector<std::string> list_dir(const std::string& path) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::directory_iterator(path, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    out.push_back(it->path().filename().string());
  }
  return out;
}

bool eventually(const std::function<bool()>& condition, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace tortuga::testing
