#include "migration_listener.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace tortuga::toolstack {
namespace {

asio::ip::tcp::endpoint parse_endpoint(const std::string& where) {
  std::string address = "0.0.0.0", port = where;
  if (auto colon = where.rfind(':'); colon != std::string::npos) {
    address = where.substr(0, colon);
    port = where.substr(colon + 1);
  }
  if (address.size() > 2 && address.front() == '[' && address.back() == ']')
    address = address.substr(1, address.size() - 2);
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address, ec);
  if (ec) throw std::runtime_error(fmt::format("--migrate-listen: '{}' is not an IP address", address));
  unsigned long number = 0;
  try {
    size_t used = 0;
    number = std::stoul(port, &used);
    if (used != port.size()) throw std::invalid_argument(port);
  } catch (const std::exception&) {
    throw std::runtime_error(fmt::format("--migrate-listen: '{}' is not a port number", port));
  }
  if (number == 0 || number > 65535)
    throw std::runtime_error(fmt::format("--migrate-listen: port {} is out of range", number));
  return {ip, static_cast<uint16_t>(number)};
}

}  // namespace

MigrationListener::MigrationListener(asio::io_context& io, Daemon& daemon, const std::string& where)
    : daemon_(daemon), acceptor_(io) {
  auto endpoint = parse_endpoint(where);
  boost::system::error_code ec;
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot listen for migrations on {}: {}", where, ec.message()));
}

std::string MigrationListener::where() const {
  auto e = acceptor_.local_endpoint();
  return fmt::format("{}:{}", e.address().to_string(), e.port());
}

void MigrationListener::start() { asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached); }

awaitable<void> MigrationListener::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    TcpSocket socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      spdlog::warn("migration listener: accept: {}", ec.message());
      continue;
    }
    asio::co_spawn(acceptor_.get_executor(), daemon_.accept_migration(std::move(socket)), asio::detached);
  }
}

}  // namespace tortuga::toolstack
