// `tortuga console`: the daemon streams a domain's console log to one
// client, from where the current VMM's output starts, until the VMM is gone
// and the log is drained or the client detaches; the client's
// ConsoleInput goes to the VMM's stdin FIFO, which console_io READ reads.
// The log file is the source (not a pipe from the VMM), so output is kept
// and attachable across daemon restarts.
#pragma once

#include "asio.h"
#include "daemon.h"

namespace tortuga::toolstack {

awaitable<void> stream_console(Daemon& daemon, UnixSocket& socket, const std::string& ref);

}  // namespace tortuga::toolstack
