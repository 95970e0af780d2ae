#include "tap_device.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tortuga {
namespace {

// Brings the interface up, as `ip link set NAME up` would.
void bring_up(const std::string& name) {
  UniqueFd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) throw TapError("socket: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  int rc = ::ioctl(s.get(), SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ::ioctl(s.get(), SIOCSIFFLAGS, &ifr);
  }
  if (rc != 0) throw TapError("cannot bring " + name + " up: " + std::strerror(errno));
}

}  // namespace

TapDevice::TapDevice(const std::string& name) : name_(name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw TapError("bad TAP interface name '" + name + "'");
  fd_.reset(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd_.valid()) throw TapError("cannot open /dev/net/tun: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd_.get(), TUNSETIFF, &ifr) != 0) {
    throw TapError("cannot attach TAP " + name + ": " + std::strerror(errno));
  }
  bring_up(name);
}

bool TapDevice::send(std::span<const uint8_t> frame) {
  ssize_t n = ::write(fd_.get(), frame.data(), frame.size());
  return n == static_cast<ssize_t>(frame.size());
}

size_t TapDevice::receive(std::span<uint8_t> buf) {
  ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
  return n > 0 ? static_cast<size_t>(n) : 0;
}

}  // namespace tortuga
