// Boost.Asio with C++20 coroutines, as the daemon uses it. <utility> comes
// first because Boost 1.74's awaitable.hpp uses std::exchange without it.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tortuga::toolstack {
namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using UnixSocket = asio::local::stream_protocol::socket;
using TcpSocket = asio::ip::tcp::socket;
}  // namespace tortuga::toolstack
