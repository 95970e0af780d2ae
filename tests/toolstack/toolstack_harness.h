// Runs tortugad in a temporary state directory and the tortuga CLI against
// it, for tests that drive the toolstack from outside as an operator would.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace tortuga::testing {

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

class DaemonHarness {
 public:
  DaemonHarness();  // makes the state directory and starts tortugad
  // ... listening for live migrations at [ADDRESS:]PORT, in network
  // namespace netns ("" = the test's own).
  DaemonHarness(const std::string& migrate_listen, const std::string& netns);
  ~DaemonHarness();  // destroys what is left, stops tortugad, removes the directory

  void start();  // (again, after kill9 or stop)
  void stop();   // SIGTERM and wait
  void kill9();  // SIGKILL and wait: the domains keep running

  CliRun cli(const std::vector<std::string>& args) const;
  // Same, but fails the test unless it exits 0; returns stdout.
  std::string ok(const std::vector<std::string>& args) const;
  // Writes a config file in the state directory; returns its path.
  std::string write_config(const std::string& name, const std::string& json) const;
  // A config for the test guest that blocks on a slow timer for hours.
  std::string long_running_config(const std::string& name, const std::string& extra = "") const;

  const std::string& dir() const { return dir_; }
  std::string socket() const { return dir_ + "/tortugad.sock"; }
  std::string log() const;  // what tortugad printed so far
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  std::string migrate_listen_, netns_;
};

// Whether a process exists and is not a zombie.
bool process_alive(pid_t pid);
// The pid field of `tortuga info DOMAIN --json`, 0 if none.
pid_t domain_pid(const DaemonHarness& d, const std::string& domain);
std::string domain_state(const DaemonHarness& d, const std::string& domain);
// What a domain printed on its console so far (its console log).
std::string console_of(const DaemonHarness& d, const std::string& name);
// Entries in a directory (none when it does not exist).
std::vector<std::string> list_dir(const std::string& path);
// Polls `condition` every 20 ms for at most `seconds`; true once it holds.
bool eventually(const std::function<bool()>& condition, int seconds = 20);

std::string test_guest_path();

}  // namespace tortuga::testing
