// A Linux bridge on the host: a TAP joins it so that the guest's frames
// reach the host's network (as `ip link set TAP master BR` would). The TAP
// leaves the bridge by itself when it is destroyed.
#pragma once

#include <string>

#include "tap_device.h"

namespace tortuga {

// Adds interface `ifname` to bridge `bridge`. Throws TapError with a line
// for the user: no such bridge, not a bridge, or the kernel refused.
void join_bridge(const std::string& bridge, const std::string& ifname);

}  // namespace tortuga
