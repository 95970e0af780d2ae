#include "api_client.h"

#include <fmt/format.h>

#include "framing.h"
#include "unix_socket.h"

namespace tortuga::cli {

ApiClient::ApiClient(const Context& context) : socket_(context.socket) {
  try {
    fd_ = connect_unix(socket_);
  } catch (const std::exception& e) {
    throw CliError(fmt::format("{} (is tortugad running? --socket or TORTUGA_SOCKET name another)", e.what()));
  }
}

void ApiClient::send(const api::Request& request) {
  try {
    send_message(fd_.get(), request, 10'000);
  } catch (const FramingError& e) {
    throw CliError(fmt::format("talking to tortugad: {}", e.what()));
  }
}

bool ApiClient::receive(api::Response& response, int timeout_ms) {
  try {
    return receive_message(fd_.get(), response, timeout_ms);
  } catch (const FramingError& e) {
    throw CliError(fmt::format("talking to tortugad: {}", e.what()));
  }
}

api::Response ApiClient::call(const api::Request& request, int timeout_ms) {
  send(request);
  api::Response response;
  if (!receive(response, timeout_ms)) throw CliError("tortugad closed the connection without an answer");
  if (!response.error().empty()) throw CliError(response.error());
  return response;
}

}  // namespace tortuga::cli
