#include "vmm_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace tortuga::toolstack {
namespace {

// In the child: only async-signal-safe calls until exec.
[[noreturn]] void exec_child(const VmmLaunch& l, char* const argv[]) {
  ::setsid();
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  int in = l.stdin_fifo.empty() ? ::open("/dev/null", O_RDONLY)
                                // O_RDWR: the FIFO never reads as end of file while nobody writes.
                                : ::open(l.stdin_fifo.c_str(), O_RDWR | O_NONBLOCK);
  int out = l.stdout_path.empty() ? ::open("/dev/null", O_WRONLY)
                                  : ::open(l.stdout_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  int err = ::open(l.stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
  if (in < 0 || out < 0 || err < 0) _exit(126);
  ::dup2(in, STDIN_FILENO);
  ::dup2(out, STDOUT_FILENO);
  ::dup2(err, STDERR_FILENO);
  int first_closed = VmmLaunch::kPassedFd;
  if (l.passed_fd >= 0) {
    // dup2 clears close-on-exec on the copy; a passed_fd already at 3 keeps its own.
    if (l.passed_fd == VmmLaunch::kPassedFd) {
      ::fcntl(l.passed_fd, F_SETFD, 0);
    } else if (::dup2(l.passed_fd, VmmLaunch::kPassedFd) < 0) {
      _exit(126);
    }
    first_closed = VmmLaunch::kPassedFd + 1;
  }
  // The daemon's sockets (API clients, the listener) must not live on in
  // the VMM: a client would never see its connection close.
  ::close_range(first_closed, ~0U, 0);
  ::execv(l.vmm_path.c_str(), argv);
  _exit(127);
}

}  // namespace

pid_t spawn_vmm(const VmmLaunch& launch) {
  std::vector<std::string> strings;
  strings.push_back(launch.vmm_path);
  strings.insert(strings.end(), launch.args.begin(), launch.args.end());
  std::vector<char*> argv;
  for (auto& s : strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(errno)));
  if (pid == 0) exec_child(launch, argv.data());
  return pid;
}

std::optional<uint64_t> process_start_time(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in(fmt::format("/proc/{}/stat", pid));
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  // The command name (field 2) may hold spaces and parentheses: fields
  // are counted from the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  char state = 0;
  rest >> state;
  if (state == 'Z' || state == 'X') return std::nullopt;
  for (int i = 4; i < 22 && rest >> field; ++i) {
  }
  uint64_t start = 0;
  if (!(rest >> start)) return std::nullopt;
  return start;
}

UniqueFd open_pidfd(pid_t pid) { return UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))); }

void make_fifo(const std::string& path) {
  ::unlink(path.c_str());
  if (::mkfifo(path.c_str(), 0600) != 0) {
    throw std::runtime_error(fmt::format("cannot create FIFO {}: {}", path, std::strerror(errno)));
  }
}

}  // namespace tortuga::toolstack
