#include "net_packet.h"

namespace tortuga {
namespace {

constexpr uint16_t kKnownTxFlags = TG_NETTXF_MORE_DATA | TG_NETTXF_CSUM_BLANK | TG_NETTXF_DATA_VALIDATED;
constexpr uint32_t kEthernetHeader = 14;

uint32_t sum16(std::span<const uint8_t> b, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < b.size(); i += 2) sum += static_cast<uint32_t>(b[i] << 8 | b[i + 1]);
  if (b.size() % 2) sum += static_cast<uint32_t>(b.back() << 8);
  return sum;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

int check_tx_packet(std::span<const tg_netif_tx_request> slots, const NetFeatures& f, NetTxPlan* plan) {
  *plan = NetTxPlan{};
  if (slots.empty() || slots.size() > TG_NETIF_MAX_TX_SLOTS) return TG_NETIF_RSP_ERROR;
  if (slots.size() > 1 && !f.sg) return TG_NETIF_RSP_ERROR;
  const tg_netif_tx_request& first = slots[0];
  uint32_t rest = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    const tg_netif_tx_request& s = slots[i];
    if ((s.flags & ~kKnownTxFlags) != 0 || net_tx_more(s) != (i + 1 < slots.size())) return TG_NETIF_RSP_ERROR;
    if (i > 0 && (s.flags & (TG_NETTXF_CSUM_BLANK | TG_NETTXF_DATA_VALIDATED))) return TG_NETIF_RSP_ERROR;
    if (i > 0) rest += s.size;
  }
  // The first slot's size is the packet's; its own bytes are what the others leave.
  if (first.size < kEthernetHeader || rest >= first.size) return TG_NETIF_RSP_ERROR;
  if ((first.flags & TG_NETTXF_CSUM_BLANK) && !f.csum) return TG_NETIF_RSP_ERROR;
  for (size_t i = 0; i < slots.size(); ++i) {
    uint32_t len = i == 0 ? first.size - rest : slots[i].size;
    if (len == 0 || slots[i].offset + len > 4096) return TG_NETIF_RSP_ERROR;
    plan->slots.push_back({slots[i].gref, slots[i].offset, static_cast<uint16_t>(len)});
  }
  plan->total = first.size;
  plan->csum_blank = first.flags & TG_NETTXF_CSUM_BLANK;
  return TG_NETIF_RSP_OKAY;
}

bool fill_l4_checksum(std::span<uint8_t> frame) {
  if (frame.size() < kEthernetHeader + 20 || frame[12] != 0x08 || frame[13] != 0x00) return false;
  std::span<uint8_t> ip = frame.subspan(kEthernetHeader);
  uint32_t ihl = (ip[0] & 0x0f) * 4u;
  if ((ip[0] >> 4) != 4 || ihl < 20 || ip.size() < ihl) return false;
  uint32_t total = static_cast<uint32_t>(ip[2] << 8 | ip[3]);
  if (total < ihl || total > ip.size() || (ip[6] & 0x3f) || ip[7]) return false;  // no fragments
  uint8_t proto = ip[9];
  std::span<uint8_t> l4 = ip.subspan(ihl, total - ihl);
  size_t at = proto == 6 ? 16 : proto == 17 ? 6 : SIZE_MAX;
  if (at == SIZE_MAX || l4.size() < at + 2 || (proto == 6 && l4.size() < 20) || (proto == 17 && l4.size() < 8)) {
    return false;
  }
  l4[at] = l4[at + 1] = 0;
  uint32_t sum = sum16(ip.subspan(12, 8));  // source and destination addresses
  sum += proto + static_cast<uint32_t>(l4.size());
  uint16_t c = fold(sum16(l4, sum));
  if (proto == 17 && c == 0) c = 0xffff;  // UDP: 0 means "no checksum"
  l4[at] = static_cast<uint8_t>(c >> 8);
  l4[at + 1] = static_cast<uint8_t>(c);
  return true;
}

}  // namespace tortuga
