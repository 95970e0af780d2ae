#include "vmm_supervisor.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace tortuga::toolstack {

VmmSupervisor::VmmSupervisor(asio::io_context& io, OnExit on_exit) : io_(io), on_exit_(std::move(on_exit)) {}

bool VmmSupervisor::watch(pid_t pid, bool is_child) {
  // Owned by the stream_descriptor from here on.
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return false;
  auto w = std::make_unique<Watch>(io_, fd, is_child);
  // A pidfd becomes readable when the process has exited.
  w->pidfd.async_wait(asio::posix::stream_descriptor::wait_read, [this, pid](boost::system::error_code ec) {
    if (ec == asio::error::operation_aborted) return;
    exited(pid);
  });
  watches_[pid] = std::move(w);
  return true;
}

void VmmSupervisor::exited(pid_t pid) {
  auto it = watches_.find(pid);
  if (it == watches_.end()) return;
  std::optional<int> status;
  if (it->second->is_child) {
    int s = 0;
    if (::waitpid(pid, &s, 0) == pid) status = s;
  }
  watches_.erase(it);
  on_exit_(pid, status);
}

bool VmmSupervisor::signal(pid_t pid, int sig) {
  auto it = watches_.find(pid);
  if (it == watches_.end()) return false;
  return ::syscall(SYS_pidfd_send_signal, it->second->pidfd.native_handle(), sig, nullptr, 0) == 0;
}

}  // namespace tortuga::toolstack
