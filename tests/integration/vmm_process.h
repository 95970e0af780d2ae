// Runs tortuga-vmm as a child process and collects what it printed and how
// it exited, for tests that check a domain's whole life from outside.
#pragma once

#include <string>
#include <vector>

namespace tortuga::testing {

struct VmmRun {
  int exit_code = -1;      // -1 when it did not exit normally
  std::string console;     // stdout: the guest console
  std::string messages;    // stderr: the VMM's own lines
};

// Runs `tortuga-vmm args...`; if signal_after_output is nonzero, sends that
// signal once the guest console has printed `wait_for` (or immediately when
// it is empty). `input` is the VMM's stdin (then end of file); /dev/null
// when empty.
VmmRun run_vmm(const std::vector<std::string>& args, const std::string& wait_for = "", int signal_after_output = 0,
               const std::string& input = "");

std::string vmm_path();
std::string test_guest_path();

}  // namespace tortuga::testing
