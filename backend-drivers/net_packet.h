// Checking the transmit slots of one packet (io/netif.h, ABI.md 19) as
// copied out of the tx ring, and filling in an L4 checksum the frontend
// left blank. Pure, so it can be fuzzed.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <tortuga/io/netif.h>

namespace tortuga {

struct NetFeatures {
  bool sg = true;    // multi-slot packets accepted
  bool csum = true;  // CSUM_BLANK accepted
};

struct NetTxSlotPlan {
  uint32_t gref;
  uint16_t offset;
  uint16_t length;
};

struct NetTxPlan {
  std::vector<NetTxSlotPlan> slots;
  uint32_t total = 0;
  bool csum_blank = false;
};

// True when the packet so far continues in another slot.
inline bool net_tx_more(const tg_netif_tx_request& r) { return r.flags & TG_NETTXF_MORE_DATA; }

// The packet's slots (the last without MORE_DATA): TG_NETIF_RSP_OKAY and
// *plan, or TG_NETIF_RSP_ERROR.
int check_tx_packet(std::span<const tg_netif_tx_request> slots, const NetFeatures& f, NetTxPlan* plan);

// Fills the TCP or UDP checksum of an Ethernet/IPv4 frame; false when the
// frame is not one (it is then sent as it is).
bool fill_l4_checksum(std::span<uint8_t> frame);

}  // namespace tortuga
