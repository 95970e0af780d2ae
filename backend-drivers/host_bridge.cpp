#include "host_bridge.h"

#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace tortuga {

void join_bridge(const std::string& bridge, const std::string& ifname) {
  if (bridge.empty() || bridge.size() >= IFNAMSIZ) throw TapError("bad bridge name '" + bridge + "'");
  if (::if_nametoindex(bridge.c_str()) == 0) throw TapError("no bridge named " + bridge + " on the host");
  // A bridge has a bridge/ directory in sysfs; any other interface would
  // make SIOCBRADDIF fail with a less helpful EOPNOTSUPP.
  struct stat st{};
  if (::stat(("/sys/class/net/" + bridge + "/bridge").c_str(), &st) != 0) {
    throw TapError(bridge + " is not a bridge");
  }
  unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) throw TapError("no interface " + ifname + " to add to bridge " + bridge);
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw TapError("socket: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, bridge.c_str(), IFNAMSIZ - 1);
  ifr.ifr_ifindex = static_cast<int>(index);
  int rc = ::ioctl(s, SIOCBRADDIF, &ifr);
  int err = errno;
  ::close(s);
  if (rc != 0) throw TapError("cannot add " + ifname + " to bridge " + bridge + ": " + std::strerror(err));
}

}  // namespace tortuga
