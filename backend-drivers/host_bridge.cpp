#include "host_bridge.h"

#include <linux/sockios.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "unique_fd.h"

namespace tortuga {

void join_bridge(const std::string& bridge, const std::string& ifname) {
  if (bridge.empty() || bridge.size() >= IFNAMSIZ) throw TapError("bad bridge name '" + bridge + "'");
  // Asked of the kernel (not of sysfs, which may show another network
  // namespace than ours).
  if (::if_nametoindex(bridge.c_str()) == 0) throw TapError("no bridge named " + bridge + " on the host");
  unsigned index = ::if_nametoindex(ifname.c_str());
  if (index == 0) throw TapError("no interface " + ifname + " to add to bridge " + bridge);
  UniqueFd s(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) throw TapError("socket: " + std::string(std::strerror(errno)));
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, bridge.c_str(), IFNAMSIZ - 1);
  ifr.ifr_ifindex = static_cast<int>(index);
  int rc = ::ioctl(s.get(), SIOCBRADDIF, &ifr);
  int err = errno;
  // Any interface but a bridge refuses the bridge's ioctl.
  if (rc != 0 && err == EOPNOTSUPP) throw TapError(bridge + " is not a bridge");
  if (rc != 0) throw TapError("cannot add " + ifname + " to bridge " + bridge + ": " + std::strerror(err));
}

}  // namespace tortuga
