#include "unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace tortuga {
namespace {

sockaddr_un address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    throw std::runtime_error(
        fmt::format("socket path '{}' is empty or longer than {} bytes", path, sizeof addr.sun_path - 1));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

UniqueFd connect_unix(const std::string& path) {
  sockaddr_un addr = address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error(fmt::format("cannot connect to {}: {}", path, std::strerror(errno)));
  }
  return fd;
}

UniqueFd listen_unix(const std::string& path, unsigned mode) {
  sockaddr_un addr = address(path);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) throw std::runtime_error(fmt::format("socket: {}", std::strerror(errno)));
  // A socket file nobody answers on is stale (its server died); one that
  // answers belongs to a live server, which must not lose its address.
  bool answered = false;
  try {
    connect_unix(path);
    answered = true;
  } catch (const std::runtime_error&) {
  }
  if (answered) throw std::runtime_error(fmt::format("{} is in use by a running server", path));
  ::unlink(path.c_str());
  mode_t old = ::umask(0777 & ~mode);
  int r = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int bind_errno = errno;
  ::umask(old);
  if (r != 0) throw std::runtime_error(fmt::format("cannot bind {}: {}", path, std::strerror(bind_errno)));
  if (::chmod(path.c_str(), mode) != 0 || ::listen(fd.get(), 16) != 0) {
    throw std::runtime_error(fmt::format("cannot listen on {}: {}", path, std::strerror(errno)));
  }
  return fd;
}

long peer_uid(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
  return static_cast<long>(cred.uid);
}

}  // namespace tortuga
