#include "vmm_session.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <stdexcept>

#include "framing.h"
#include "unix_socket.h"
#include "vmm_process.h"

namespace tortuga::testing {
namespace {

// A detach may wait up to a minute for the guest (control_channel.cpp).
constexpr int kCallTimeoutMs = 70000;

// The child's side: stdout/stderr to the pipes, the namespace, then exec.
[[noreturn]] void exec_vmm(const std::vector<std::string>& args, const std::string& netns, int out, int err) {
  int null = open("/dev/null", O_RDONLY);
  dup2(null, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(err, STDERR_FILENO);
  if (!netns.empty()) {
    int ns = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(126);
  }
  std::vector<char*> argv;
  std::string path = vmm_path();
  argv.push_back(path.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv(path.c_str(), argv.data());
  _exit(127);
}

}  // namespace

int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++n;
  return n;
}

VmmSession::VmmSession(const std::vector<std::string>& args, const std::string& netns, bool wait_for_control) {
  static int counter = 0;
  socket_ = (std::filesystem::temp_directory_path() /
             ("tortuga-ctl-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".sock"))
                .string();
  std::vector<std::string> all = args;
  all.insert(all.end(), {"--control", socket_});
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) exec_vmm(all, netns, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  reader_ = std::thread([this, o = out[0], e = err[0]] { collect(o, e); });
  if (!wait_for_control) return;
  // The socket appears once the domain is built; a VMM that refused its
  // configuration exits instead.
  for (int i = 0; i < 1000; ++i) {
    if (std::filesystem::exists(socket_)) return;
    if (wait_exit(std::chrono::seconds(0)) != -1 || reaped_) break;
    usleep(10000);
  }
  throw std::runtime_error("tortuga-vmm did not open its control channel: " + messages());
}

VmmSession::~VmmSession() {
  if (!reaped_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  reader_.join();
  std::filesystem::remove(socket_);
}

void VmmSession::collect(int out, int err) {
  std::array<pollfd, 2> fds{{{out, POLLIN, 0}, {err, POLLIN, 0}}};
  for (int open_fds = 2; open_fds > 0;) {
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
      std::lock_guard lock(mutex_);
      (i == 0 ? console_ : messages_).append(buf, static_cast<size_t>(n));
      cv_.notify_all();
    }
  }
  std::lock_guard lock(mutex_);
  drained_ = true;
  cv_.notify_all();
}

std::string VmmSession::console() const {
  std::lock_guard lock(mutex_);
  return console_;
}

std::string VmmSession::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

bool VmmSession::wait_console(const std::string& text, int times, std::chrono::seconds limit) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, limit, [&] { return occurrences(console_, text) >= times; });
}

api::VmmReply VmmSession::call(const api::VmmRequest& request) {
  UniqueFd fd = connect_unix(socket_);
  send_message(fd.get(), request, kCallTimeoutMs);
  api::VmmReply reply;
  if (!receive_message(fd.get(), reply, kCallTimeoutMs)) throw std::runtime_error("no reply");
  return reply;
}

api::VmmReply VmmSession::call_with_fd(const api::VmmRequest& request, int passed) {
  UniqueFd fd = connect_unix(socket_);
  send_message_with_fd(fd.get(), request, passed, kCallTimeoutMs);
  api::VmmReply reply;
  if (!receive_message(fd.get(), reply, kCallTimeoutMs)) throw std::runtime_error("no reply");
  return reply;
}

bool VmmSession::wait_control(std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(socket_)) return true;
    if (wait_exit(std::chrono::seconds(0)) != -1) return false;
    usleep(10000);
  }
  return false;
}

api::VmmReply VmmSession::status() {
  api::VmmRequest r;
  r.mutable_status();
  return call(r);
}

int VmmSession::wait_exit(std::chrono::seconds limit) {
  if (reaped_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      // Its last lines may still be in the pipes: a test reads them next.
      std::unique_lock lock(mutex_);
      cv_.wait_for(lock, std::chrono::seconds(10), [&] { return drained_; });
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return -1;
    usleep(10000);
  }
}

}  // namespace tortuga::testing
