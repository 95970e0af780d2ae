// Runs tortuga-vmm as a child process and collects what it printed and how
// it exited, for tests that check a domain's whole life from outside.
#pragma once

#include <string>
#include <vector>

namespace tortuga::testing {

struct VmmRun {
  int exit_code = -1;    // -1 when it did not exit normally
  std::string console;   // stdout: the guest console
  std::string messages;  // stderr: the VMM's own lines
};

// Runs `tortuga-vmm args...`; if signal_after_output is nonzero, sends that
// signal once the guest console has printed `wait_for` (or immediately when
// it is empty). `input` is the VMM's stdin (then end of file); /dev/null
// when empty.
VmmRun run_vmm(const std::vector<std::string>& args, const std::string& wait_for = "", int signal_after_output = 0,
               const std::string& input = "");

// A tortuga-vmm running in the background, for tests that act on it while
// it runs (control channel requests) and then collect how it ended.
class VmmChild {
 public:
  explicit VmmChild(const std::vector<std::string>& args);
  ~VmmChild();  // SIGKILL if still running
  VmmChild(const VmmChild&) = delete;
  VmmChild& operator=(const VmmChild&) = delete;

  // Reads output until the console holds `text` at or after offset `from`
  // (true) or the VMM ended / `limit_ms` passed (false: the test fails on it).
  bool wait_for_console(const std::string& text, size_t from = 0, int limit_ms = 30000);
  void signal(int sig);
  // Waits for the exit and returns everything it printed.
  VmmRun wait();
  const std::string& console() const { return run_.console; }
  const std::string& messages() const { return run_.messages; }
  int pid() const { return pid_; }

 private:
  bool pump(int timeout_ms);  // false once both pipes are closed

  int pid_ = -1;
  int out_ = -1, err_ = -1;
  VmmRun run_;
  bool exited_ = false;
};

std::string vmm_path();
std::string test_guest_path();

}  // namespace tortuga::testing
