#include "net_announce.h"

namespace tortuga {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void put16(std::vector<uint8_t>& f, uint16_t v) {
  f.push_back(static_cast<uint8_t>(v >> 8));
  f.push_back(static_cast<uint8_t>(v & 0xff));
}

}  // namespace

std::optional<MacAddress> parse_mac_address(const std::string& text) {
  if (text.size() != 17) return std::nullopt;
  MacAddress mac{};
  for (size_t i = 0; i < 6; ++i) {
    int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return std::nullopt;
    mac[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return mac;
}

// RFC 903: an Ethernet/IPv4 ARP packet with opcode 3 (request reverse);
// sender and target hardware addresses both the guest's, no IP addresses.
std::vector<uint8_t> mac_announcement(const MacAddress& mac) {
  std::vector<uint8_t> f;
  f.reserve(kAnnouncementBytes);
  f.insert(f.end(), 6, 0xff);  // broadcast
  f.insert(f.end(), mac.begin(), mac.end());
  put16(f, kEthertypeRarp);
  put16(f, 1);                                // hardware type: Ethernet
  put16(f, 0x0800);                           // protocol type: IPv4
  f.push_back(6);                             // hardware address length
  f.push_back(4);                             // protocol address length
  put16(f, 3);                                // request reverse
  f.insert(f.end(), mac.begin(), mac.end());  // sender hardware address
  f.insert(f.end(), 4, 0);                    // sender protocol address
  f.insert(f.end(), mac.begin(), mac.end());  // target hardware address
  f.insert(f.end(), 4, 0);                    // target protocol address
  f.resize(kAnnouncementBytes, 0);            // padding
  return f;
}

}  // namespace tortuga
