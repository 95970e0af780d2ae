// The daemon's side of a VMM's control channel: one request, one reply,
// on a fresh connection each time (nothing to resynchronise after either
// side restarts), with a deadline so a stuck VMM cannot stall the daemon.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "asio.h"
#include "vmm_control.pb.h"

namespace tortuga::toolstack {

class VmmCallError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws VmmCallError (cannot connect, timeout, malformed reply). An
// error the VMM answered is in the reply's `error`.
awaitable<api::VmmReply> call_vmm(const std::string& socket_path, const api::VmmRequest& request,
                                  std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Reads one framed message from an Asio socket: false at a clean end of
// stream; throws FramingError for truncated, oversized or malformed input.
awaitable<bool> async_receive(UnixSocket& socket, google::protobuf::MessageLite& message);
awaitable<void> async_send(UnixSocket& socket, const google::protobuf::MessageLite& message);
// The same frames between daemons (live migration's handshake).
awaitable<bool> async_receive(TcpSocket& socket, google::protobuf::MessageLite& message);
awaitable<void> async_send(TcpSocket& socket, const google::protobuf::MessageLite& message);

}  // namespace tortuga::toolstack
