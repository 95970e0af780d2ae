// A network interface as a split device (ABI.md 19): vif <id> over a TAP
// interface, its MAC in the frontend's directory, and a NetBackend on the
// frontend's two rings for each connection. `restored` as for
// make_block_device.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "grant_access.h"
#include "io_counters.h"
#include "devices/split_device.h"
#include "tap_device.h"

namespace tortuga {

std::unique_ptr<SplitDevice> make_net_device(SplitDevice::Parts parts, GrantAccess& grants, TapDevice& tap,
                                             const std::string& mac, uint16_t domid, uint32_t id,
                                             const SplitDeviceState* restored = nullptr, IoCounters* io = nullptr);

// A MAC for a domain's interface when none was given: locally administered,
// from the domain and interface numbers.
std::string default_mac(uint16_t domid, uint32_t id);

}  // namespace tortuga
