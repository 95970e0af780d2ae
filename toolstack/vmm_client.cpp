#include "vmm_client.h"

#include <fmt/format.h>

#include "framing.h"

namespace tortuga::toolstack {

namespace {

template <typename Stream>
awaitable<bool> receive_frame(Stream& socket, google::protobuf::MessageLite& message) {
  uint8_t header[kFrameHeaderBytes];
  boost::system::error_code ec;
  size_t got = co_await asio::async_read(socket, asio::buffer(header), asio::redirect_error(use_awaitable, ec));
  if (ec == asio::error::eof && got == 0) co_return false;
  if (ec == asio::error::eof) throw FramingError("truncated message: the connection closed inside a header");
  if (ec) throw FramingError(fmt::format("read: {}", ec.message()));
  uint32_t length = frame_length(header);
  if (auto problem = frame_length_problem(length)) throw FramingError(*problem);
  std::string body(length, '\0');
  co_await asio::async_read(socket, asio::buffer(body), asio::redirect_error(use_awaitable, ec));
  if (ec == asio::error::eof) {
    throw FramingError(fmt::format("truncated message: the connection closed inside a {} byte body", length));
  }
  if (ec) throw FramingError(fmt::format("read: {}", ec.message()));
  decode_body(body, message);
  co_return true;
}

template <typename Stream>
awaitable<void> send_frame(Stream& socket, const google::protobuf::MessageLite& message) {
  std::string frame = encode_frame(message);
  boost::system::error_code ec;
  co_await asio::async_write(socket, asio::buffer(frame), asio::redirect_error(use_awaitable, ec));
  if (ec) throw FramingError(fmt::format("write: {}", ec.message()));
}

}  // namespace

awaitable<bool> async_receive(UnixSocket& socket, google::protobuf::MessageLite& message) {
  co_return co_await receive_frame(socket, message);
}
awaitable<bool> async_receive(TcpSocket& socket, google::protobuf::MessageLite& message) {
  co_return co_await receive_frame(socket, message);
}
awaitable<void> async_send(UnixSocket& socket, const google::protobuf::MessageLite& message) {
  co_await send_frame(socket, message);
}
awaitable<void> async_send(TcpSocket& socket, const google::protobuf::MessageLite& message) {
  co_await send_frame(socket, message);
}

awaitable<api::VmmReply> call_vmm(const std::string& path, const api::VmmRequest& request,
                                  std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  // Shared with the deadline's handler, which may run after this frame is
  // gone: closing the socket ends whichever step is waiting.
  struct Call {
    explicit Call(asio::any_io_executor ex) : socket(ex) {}
    UnixSocket socket;
    bool expired = false;
  };
  auto call = std::make_shared<Call>(executor);
  asio::steady_timer deadline(executor, timeout);
  deadline.async_wait([call](boost::system::error_code ec) {
    if (ec) return;
    call->expired = true;
    boost::system::error_code ignored;
    call->socket.close(ignored);
  });
  api::VmmReply reply;
  std::string failure;
  try {
    boost::system::error_code ec;
    co_await call->socket.async_connect(asio::local::stream_protocol::endpoint(path),
                                        asio::redirect_error(use_awaitable, ec));
    if (ec) throw VmmCallError(fmt::format("cannot connect to the VMM's control socket: {}", ec.message()));
    co_await async_send(call->socket, request);
    if (!co_await async_receive(call->socket, reply)) throw VmmCallError("the VMM closed its control channel");
  } catch (const std::exception& e) {
    failure = call->expired ? std::string("the VMM did not answer in time") : std::string(e.what());
  }
  deadline.cancel();
  if (!failure.empty()) throw VmmCallError(failure);
  co_return reply;
}

}  // namespace tortuga::toolstack
