// A tortuga-vmm that runs while a test talks to it: its console and
// messages collected as they come, its control channel (--control) called
// as tortugad calls it, and its end awaited. For hot-plug, shutdown and
// balloon tests that steer a running domain.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vmm_control.pb.h"

namespace tortuga::testing {

class VmmSession {
 public:
  // Starts `tortuga-vmm args... --control SOCK` (in network namespace
  // `netns` when given) and waits until the control channel answers.
  // Throws std::runtime_error if it does not start.
  // With wait_for_control false it returns at once (a migration's
  // destination opens its channel only once the domain arrived).
  explicit VmmSession(const std::vector<std::string>& args, const std::string& netns = "",
                      bool wait_for_control = true);
  ~VmmSession();  // SIGKILL if still running
  VmmSession(const VmmSession&) = delete;
  VmmSession& operator=(const VmmSession&) = delete;

  pid_t pid() const { return pid_; }
  std::string console() const;
  std::string messages() const;
  // True once the console holds `text` at least `times` times; false
  // after `limit` (the guest never said it: the test fails on that).
  bool wait_console(const std::string& text, int times = 1, std::chrono::seconds limit = std::chrono::seconds(30));

  // One request on a fresh connection, as tortugad makes them.
  api::VmmReply call(const api::VmmRequest& request);
  api::VmmReply status();
  // The same with a descriptor as SCM_RIGHTS (migrate_send's stream).
  api::VmmReply call_with_fd(const api::VmmRequest& request, int fd);
  // True once the control channel's socket exists (false after `limit`).
  bool wait_control(std::chrono::seconds limit);
  // Bytes of the console so far (to look for output after a point).
  size_t console_size() const { return console().size(); }

  // The exit code, or -1 if it did not exit within `limit` (or by a signal).
  int wait_exit(std::chrono::seconds limit = std::chrono::seconds(30));

 private:
  void collect(int out, int err);

  std::string socket_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int exit_code_ = -1;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::string console_, messages_;
  bool drained_ = false;  // both pipes at their end: everything it wrote is here
  std::thread reader_;
};

// How many times `needle` occurs in `text`.
int occurrences(const std::string& text, const std::string& needle);

}  // namespace tortuga::testing
