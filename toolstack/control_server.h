// tortugad's API endpoint: a Unix socket (0600: only its owner, root in
// production, may connect), one coroutine per client, one Request and one
// Response per frame. A malformed message gets an error reply and the
// connection goes on; an oversized or truncated one gets an error reply
// (when still possible) and the connection is closed, because the stream
// is out of step. Either way the daemon keeps serving every other client.
#pragma once

#include <string>

#include "asio.h"
#include "daemon.h"

namespace tortuga::toolstack {

class ControlServer {
 public:
  // Binds path; throws std::runtime_error.
  ControlServer(asio::io_context& io, Daemon& daemon, std::string path);
  ~ControlServer();
  void start();
  void stop();

 private:
  awaitable<void> accept_loop();
  awaitable<void> serve(UnixSocket socket);

  asio::io_context& io_;
  Daemon& daemon_;
  std::string path_;
  asio::local::stream_protocol::acceptor acceptor_;
};

}  // namespace tortuga::toolstack
