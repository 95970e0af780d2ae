// Fuzz target: a hostile frontend's transmit slots and frames. The input
// is a feature byte, a slot count and that many 12-byte tx requests, then
// frame bytes. check_tx_packet's accepted plans must stay in their pages
// and add up; fill_l4_checksum must stay inside the frame whatever its
// headers claim.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "net_packet.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tortuga;
  if (size < 2) return 0;
  NetFeatures f{bool(data[0] & 1), bool(data[0] & 2)};
  size_t n = data[1] % (TG_NETIF_MAX_TX_SLOTS + 3);
  data += 2;
  size -= 2;
  if (size < n * sizeof(tg_netif_tx_request)) return 0;
  std::vector<tg_netif_tx_request> slots(n);
  if (n > 0) std::memcpy(slots.data(), data, n * sizeof(tg_netif_tx_request));
  data += n * sizeof(tg_netif_tx_request);
  size -= n * sizeof(tg_netif_tx_request);
  NetTxPlan plan;
  if (check_tx_packet(slots, f, &plan) == TG_NETIF_RSP_OKAY) {
    uint32_t total = 0;
    for (const auto& s : plan.slots) {
      if (s.length == 0 || s.offset + s.length > 4096) std::abort();
      total += s.length;
    }
    if (total != plan.total || plan.slots.size() != slots.size() || plan.slots.size() > TG_NETIF_MAX_TX_SLOTS) {
      std::abort();
    }
    if (plan.slots.size() > 1 && !f.sg) std::abort();
  }
  std::vector<uint8_t> frame(data, data + size);  // exactly the bytes: ASan sees any overrun
  fill_l4_checksum(frame);
  return 0;
}
