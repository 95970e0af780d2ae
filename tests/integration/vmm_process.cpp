#include "vmm_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <stdexcept>
#include <thread>

namespace tortuga::testing {

std::string vmm_path() { return TORTUGA_VMM_PATH; }
std::string test_guest_path() { return TORTUGA_TEST_GUEST_PATH; }

VmmRun run_vmm(const std::vector<std::string>& args, const std::string& wait_for, int signal_after_output,
               const std::string& input) {
  int out[2], err[2], in[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe");
  }
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    if (input.empty()) {
      int null = open("/dev/null", O_RDONLY);
      dup2(null, STDIN_FILENO);
    } else {
      dup2(in[0], STDIN_FILENO);
    }
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    std::vector<char*> argv;
    std::string path = vmm_path();
    argv.push_back(path.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  close(in[0]);
  signal(SIGPIPE, SIG_IGN);  // a VMM that exits before reading all its input
  // The VMM's stdin from a thread: input beyond the pipe's buffer waits
  // for the guest to read it while we collect the output here.
  std::thread feeder([fd = in[1], input] {
    for (size_t done = 0; done < input.size();) {
      ssize_t n = write(fd, input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(fd);
  });
  VmmRun run;
  bool signalled = false;
  std::array<pollfd, 2> fds{{{out[0], POLLIN, 0}, {err[0], POLLIN, 0}}};
  int open_fds = 2;
  while (open_fds > 0) {
    if (poll(fds.data(), fds.size(), -1) < 0) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      (i == 0 ? run.console : run.messages).append(buf, static_cast<size_t>(n));
    }
    if (signal_after_output && !signalled && run.console.find(wait_for) != std::string::npos) {
      kill(pid, signal_after_output);
      signalled = true;
    }
  }
  feeder.join();
  int status = 0;
  waitpid(pid, &status, 0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

VmmChild::VmmChild(const std::vector<std::string>& args) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    int null = open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    std::vector<char*> argv;
    std::string path = vmm_path();
    argv.push_back(path.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  out_ = out[0];
  err_ = err[0];
}

VmmChild::~VmmChild() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    wait();
  }
}

bool VmmChild::pump(int timeout_ms) {
  std::array<pollfd, 2> fds{{{out_, POLLIN, 0}, {err_, POLLIN, 0}}};
  if (out_ < 0 && err_ < 0) return false;
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return true;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
    char buf[4096];
    ssize_t n = read(fds[i].fd, buf, sizeof buf);
    if (n <= 0) {
      close(fds[i].fd);
      (i == 0 ? out_ : err_) = -1;
      continue;
    }
    (i == 0 ? run_.console : run_.messages).append(buf, static_cast<size_t>(n));
  }
  return true;
}

bool VmmChild::wait_for_console(const std::string& text, size_t from, int limit_ms) {
  for (int waited = 0; waited < limit_ms; waited += 10) {
    if (run_.console.find(text, from) != std::string::npos) return true;
    if (!pump(10)) return run_.console.find(text, from) != std::string::npos;
  }
  return false;
}

void VmmChild::signal(int sig) { kill(pid_, sig); }

VmmRun VmmChild::wait() {
  while (pump(100)) {
  }
  if (!exited_) {
    int status = 0;
    waitpid(pid_, &status, 0);
    run_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    exited_ = true;
  }
  return run_;
}

}  // namespace tortuga::testing
