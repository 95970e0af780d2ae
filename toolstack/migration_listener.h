// tortugad's TCP listener for incoming live migrations: every connection
// is one source daemon's offer (migration_handshake.proto), which the
// daemon accepts or refuses (Daemon::accept_migration).
#pragma once

#include <cstdint>
#include <string>

#include "asio.h"
#include "daemon.h"

namespace tortuga::toolstack {

class MigrationListener {
 public:
  // "ADDRESS:PORT" or "PORT" (all addresses). Throws std::runtime_error
  // when it is malformed or cannot be bound.
  MigrationListener(asio::io_context& io, Daemon& daemon, const std::string& where);
  void start();
  std::string where() const;

 private:
  awaitable<void> accept_loop();

  Daemon& daemon_;
  asio::ip::tcp::acceptor acceptor_;
};

}  // namespace tortuga::toolstack
