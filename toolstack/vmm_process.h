// Starting a tortuga-vmm process and recognising it later. The VMM runs in
// its own session (a terminal's signals for the daemon do not reach it),
// with the console input FIFO as stdin, the console log as stdout and the
// VMM log as stderr, so it keeps running and logging without the daemon.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "unique_fd.h"

namespace tortuga::toolstack {

struct VmmLaunch {
  std::string vmm_path;
  std::vector<std::string> args;  // after argv[0]
  std::string stdin_fifo;         // "" = /dev/null
  std::string stdout_path;        // "" = /dev/null; appended to
  std::string stderr_path;        // appended to
  int passed_fd = -1;             // inherited as kPassedFd (a migration's connection)
  static constexpr int kPassedFd = 3;
};

// Forks and execs; returns the child's pid. Throws std::runtime_error.
pid_t spawn_vmm(const VmmLaunch& launch);

// /proc/PID/stat's start time (clock ticks since boot), nullopt when the
// process is gone or a zombie. Together with the pid it names one process.
std::optional<uint64_t> process_start_time(pid_t pid);

// A pidfd for pid (pidfd_open), invalid when the process is gone.
UniqueFd open_pidfd(pid_t pid);

// Creates a FIFO at path (0600).
void make_fifo(const std::string& path);

}  // namespace tortuga::toolstack
