#include "control_server.h"

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "console_stream.h"
#include "framing.h"
#include "unix_socket.h"
#include "vmm_client.h"

namespace tortuga::toolstack {

ControlServer::ControlServer(asio::io_context& io, Daemon& daemon, std::string path)
    : io_(io), daemon_(daemon), path_(std::move(path)), acceptor_(io) {
  // listen_unix creates the socket with its mode already 0600 (no window
  // in which another user could connect).
  UniqueFd fd = listen_unix(path_, 0600);
  acceptor_.assign(asio::local::stream_protocol(), ::dup(fd.get()));
}

ControlServer::~ControlServer() { stop(); }

void ControlServer::start() { asio::co_spawn(io_, accept_loop(), asio::detached); }

void ControlServer::stop() {
  if (!acceptor_.is_open()) return;
  boost::system::error_code ec;
  acceptor_.close(ec);
  ::unlink(path_.c_str());
}

awaitable<void> ControlServer::accept_loop() {
  while (acceptor_.is_open()) {
    boost::system::error_code ec;
    UnixSocket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) break;
      spdlog::warn("accept: {}", ec.message());
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

awaitable<void> ControlServer::serve(UnixSocket socket) {
  long uid = peer_uid(socket.native_handle());
  if (uid != 0 && uid != static_cast<long>(::geteuid())) {
    spdlog::warn("refused an API client of uid {}", uid);
    co_return;
  }
  try {
    for (;;) {
      api::Request request;
      std::string malformed;
      try {
        if (!co_await async_receive(socket, request)) co_return;
      } catch (const MalformedMessage& e) {
        malformed = e.what();
      }
      if (!malformed.empty()) {
        // The frame was whole: the stream is still in step, so go on.
        spdlog::warn("API client: {}", malformed);
        api::Response reply;
        reply.set_error(malformed);
        co_await async_send(socket, reply);
        continue;
      }
      if (request.op_case() == api::Request::kConsole) {
        co_await stream_console(daemon_, socket, request.console().domain());
        co_return;
      }
      api::Response response = co_await daemon_.handle(request);
      co_await async_send(socket, response);
    }
  } catch (const FramingError& e) {
    // Oversized or truncated: say why if the client still listens, then close.
    spdlog::warn("API client dropped: {}", e.what());
    api::Response reply;
    reply.set_error(e.what());
    std::string frame = encode_frame(reply);
    boost::system::error_code ec;
    socket.non_blocking(true, ec);  // a client that does not read cannot stall the daemon
    asio::write(socket, asio::buffer(frame), ec);
  } catch (const std::exception& e) {
    spdlog::warn("API client dropped: {}", e.what());
  }
}

}  // namespace tortuga::toolstack
