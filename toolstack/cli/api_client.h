// The CLI's connection to tortugad: blocking, one request at a time.
#pragma once

#include <stdexcept>
#include <string>

#include "control.pb.h"
#include "unique_fd.h"

namespace tortuga::cli {

// One line for the user; main prints it as "tortuga: COMMAND: LINE", exit 1.
class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options every command shares.
struct Context {
  std::string socket = "/run/tortuga/tortugad.sock";
  bool json = false;
};

class ApiClient {
 public:
  explicit ApiClient(const Context& context);
  // Sends and waits for the reply; a reply's error becomes a CliError.
  api::Response call(const api::Request& request, int timeout_ms = 60'000);
  void send(const api::Request& request);
  // False when the daemon closed the connection.
  bool receive(api::Response& response, int timeout_ms);
  int fd() const { return fd_.get(); }

 private:
  std::string socket_;
  UniqueFd fd_;
};

}  // namespace tortuga::cli
