// The frame that tells a network where a MAC address now lives, sent by
// the destination's network backend after a restore or a migration
// (ABI.md 21). The VMM does not know the guest's IP addresses, so it is a
// RARP request (ethertype 0x8035) from and about the guest's MAC to the
// broadcast address, as QEMU's announce sends: bridges and switches learn
// the MAC's new port from its source address; hosts ignore it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tortuga {

using MacAddress = std::array<uint8_t, 6>;

constexpr uint16_t kEthertypeRarp = 0x8035;
constexpr size_t kAnnouncementBytes = 60;  // the Ethernet minimum, without FCS

// "xx:xx:xx:xx:xx:xx" (hex digits of either case), or nullopt.
std::optional<MacAddress> parse_mac_address(const std::string& text);

// The 60-byte announcement of `mac`.
std::vector<uint8_t> mac_announcement(const MacAddress& mac);

}  // namespace tortuga
