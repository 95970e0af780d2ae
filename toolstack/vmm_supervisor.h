// Watches tortuga-vmm processes through pidfds: children the daemon
// started (reaped here, so their exit status is known) and VMMs adopted
// after a daemon restart (not our children: only the exit record says
// how they ended). Signals go through the pidfd too, so a pid reused by
// another process can never be hit.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "asio.h"

namespace tortuga::toolstack {

class VmmSupervisor {
 public:
  // wait_status: from waitpid for a child, nullopt for an adopted VMM.
  using OnExit = std::function<void(pid_t pid, std::optional<int> wait_status)>;

  VmmSupervisor(asio::io_context& io, OnExit on_exit);

  // Starts watching; false when the process is already gone.
  bool watch(pid_t pid, bool is_child);
  bool watching(pid_t pid) const { return watches_.count(pid) != 0; }
  // Sends sig to a watched process; false when it is not watched or gone.
  bool signal(pid_t pid, int sig);

 private:
  struct Watch {
    Watch(asio::io_context& io, int fd, bool child) : pidfd(io, fd), is_child(child) {}
    asio::posix::stream_descriptor pidfd;
    bool is_child;
  };
  void exited(pid_t pid);

  asio::io_context& io_;
  OnExit on_exit_;
  std::map<pid_t, std::unique_ptr<Watch>> watches_;
};

}  // namespace tortuga::toolstack
