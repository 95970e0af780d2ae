// Unix stream sockets for the control API and the VMM control channel.
#pragma once

#include <string>

#include "unique_fd.h"

namespace tortuga {

// Connects to the socket at `path`; throws std::runtime_error naming it.
UniqueFd connect_unix(const std::string& path);

// Binds and listens at `path` (a stale socket file there is replaced; one
// a live server answers on is an error),
// with permissions `mode` set before anyone can connect: the socket is
// created under a umask that allows nothing else.
UniqueFd listen_unix(const std::string& path, unsigned mode);

// The uid of the process at the other end of a connected socket, or -1.
long peer_uid(int fd);

}  // namespace tortuga
