// Running a host tool (tar, patch, diff) and collecting what it printed.
#pragma once

#include <string>
#include <vector>

namespace tortuga::porting {

struct ProcessResult {
  int exit_status = 0;  // the exit code, or 128 + the signal that ended it
  std::string output;   // stdout and stderr together
};

// Runs argv[0] (looked up in PATH) with argv and waits for it. Throws only
// when it cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv);

}  // namespace tortuga::porting
