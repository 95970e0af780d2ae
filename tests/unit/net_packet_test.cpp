// Checking transmit packets (ABI.md 19): slot chains, sizes, offsets and
// flags; and the UDP/TCP checksum filled in for CSUM_BLANK.
#include "net_packet.h"

#include <gtest/gtest.h>

#include <vector>

namespace tortuga {
namespace {

tg_netif_tx_request slot(uint32_t gref, uint16_t size, uint16_t flags = 0, uint16_t offset = 0) {
  return {gref, offset, flags, 0, size};
}

int check(const std::vector<tg_netif_tx_request>& s, NetFeatures f = {}) {
  NetTxPlan p;
  return check_tx_packet(s, f, &p);
}

TEST(NetPacket, ASlotChainBecomesItsPieces) {
  std::vector<tg_netif_tx_request> s{slot(1, 1000, TG_NETTXF_MORE_DATA | TG_NETTXF_CSUM_BLANK),
                                     slot(2, 300, TG_NETTXF_MORE_DATA, 100), slot(3, 200)};
  NetTxPlan p;
  ASSERT_EQ(check_tx_packet(s, {}, &p), TG_NETIF_RSP_OKAY);
  EXPECT_EQ(p.total, 1000u);
  ASSERT_EQ(p.slots.size(), 3u);
  EXPECT_EQ(p.slots[0].length, 500);
  EXPECT_EQ(p.slots[1].offset, 100);
  EXPECT_EQ(p.slots[1].length, 300);
  EXPECT_TRUE(p.csum_blank);
}

TEST(NetPacket, MalformedChainsAreErrors) {
  EXPECT_EQ(check({}), TG_NETIF_RSP_ERROR);
  EXPECT_EQ(check({slot(1, 10)}), TG_NETIF_RSP_ERROR) << "shorter than an Ethernet header";
  EXPECT_EQ(check({slot(1, 100, TG_NETTXF_MORE_DATA)}), TG_NETIF_RSP_ERROR) << "the last slot says more";
  EXPECT_EQ(check({slot(1, 100, TG_NETTXF_MORE_DATA), slot(2, 100)}), TG_NETIF_RSP_ERROR) << "nothing left for slot 1";
  EXPECT_EQ(check({slot(1, 100, TG_NETTXF_MORE_DATA), slot(2, 0)}), TG_NETIF_RSP_ERROR) << "an empty slot";
  EXPECT_EQ(check({slot(1, 100, 0, 4000)}), TG_NETIF_RSP_ERROR) << "past the end of its page";
  EXPECT_EQ(check({slot(1, 100, 0x80)}), TG_NETIF_RSP_ERROR) << "unknown flags";
  EXPECT_EQ(check({slot(1, 100, TG_NETTXF_MORE_DATA), slot(2, 50, TG_NETTXF_CSUM_BLANK)}), TG_NETIF_RSP_ERROR)
      << "checksum flags only on the first slot";
  std::vector<tg_netif_tx_request> many(TG_NETIF_MAX_TX_SLOTS + 1, slot(1, 10, TG_NETTXF_MORE_DATA));
  many[0].size = 2000;
  many.back().flags = 0;
  EXPECT_EQ(check(many), TG_NETIF_RSP_ERROR) << "more than 18 slots";
  many.pop_back();
  many.back().flags = 0;
  EXPECT_EQ(check(many), TG_NETIF_RSP_OKAY) << "18 slots are fine";
}

TEST(NetPacket, FeaturesNotOfferedAreErrors) {
  NetFeatures none{false, false};
  EXPECT_EQ(check({slot(1, 100, TG_NETTXF_MORE_DATA), slot(2, 50)}, none), TG_NETIF_RSP_ERROR);
  EXPECT_EQ(check({slot(1, 100, TG_NETTXF_CSUM_BLANK)}, none), TG_NETIF_RSP_ERROR);
  EXPECT_EQ(check({slot(1, 100)}, none), TG_NETIF_RSP_OKAY);
}

// An Ethernet/IPv4/UDP frame 10.0.0.1 -> 10.0.0.2, ports 1234 -> 80, "hi".
std::vector<uint8_t> udp_frame() {
  std::vector<uint8_t> f(14, 0);
  f[12] = 0x08;
  std::vector<uint8_t> ip{0x45, 0, 0, 30, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2};
  std::vector<uint8_t> udp{0x04, 0xd2, 0, 80, 0, 10, 0xab, 0xcd, 'h', 'i'};
  f.insert(f.end(), ip.begin(), ip.end());
  f.insert(f.end(), udp.begin(), udp.end());
  return f;
}

TEST(NetPacket, UdpChecksumIsFilledIn) {
  auto f = udp_frame();
  ASSERT_TRUE(fill_l4_checksum(f));
  // Pseudo header 0a00 0001 0a00 0002 0011 000a, UDP 04d2 0050 000a csum 6869.
  uint32_t sum = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 0x0011 + 0x000a + 0x04d2 + 0x0050 + 0x000a + 0x6869;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  uint16_t want = static_cast<uint16_t>(~sum);
  EXPECT_EQ(f[14 + 20 + 6], want >> 8);
  EXPECT_EQ(f[14 + 20 + 7], want & 0xff);
}

TEST(NetPacket, FramesThatAreNotIpv4TcpOrUdpAreLeftAlone) {
  auto f = udp_frame();
  f[12] = 0x86;  // IPv6 ethertype
  auto before = f;
  EXPECT_FALSE(fill_l4_checksum(f));
  EXPECT_EQ(f, before);
  f = udp_frame();
  f[14 + 3] = 200;  // an IP length past the frame
  EXPECT_FALSE(fill_l4_checksum(f));
  f = udp_frame();
  f[14 + 6] = 0x20;  // a fragment
  EXPECT_FALSE(fill_l4_checksum(f));
  std::vector<uint8_t> tiny(20, 0);
  EXPECT_FALSE(fill_l4_checksum(tiny));
}

}  // namespace
}  // namespace tortuga
