// The announcement a restored NIC sends (ABI.md 21) and the MAC parser.
#include "net_announce.h"

#include <gtest/gtest.h>

namespace tortuga {
namespace {

TEST(NetAnnounce, ParsesMacsOfEitherCaseAndRefusesTheRest) {
  auto mac = parse_mac_address("02:54:47:aB:Cd:0f");
  ASSERT_TRUE(mac);
  EXPECT_EQ(*mac, (MacAddress{0x02, 0x54, 0x47, 0xab, 0xcd, 0x0f}));
  for (const char* bad :
       {"", "02:54:47:ab:cd", "02:54:47:ab:cd:0f:", "02-54-47-ab-cd-0f", "02:54:47:ab:cd:0g", "0254:47:ab:cd:0f:1"}) {
    EXPECT_FALSE(parse_mac_address(bad)) << bad;
  }
}

TEST(NetAnnounce, IsARarpRequestFromAndAboutTheMacToBroadcast) {
  MacAddress mac{0x02, 0x54, 0x47, 0x00, 0x00, 0x09};
  std::vector<uint8_t> f = mac_announcement(mac);
  ASSERT_EQ(f.size(), kAnnouncementBytes);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(f[i], 0xff) << "destination";
    EXPECT_EQ(f[6 + i], mac[i]) << "source";
    EXPECT_EQ(f[22 + i], mac[i]) << "sender hardware address";
    EXPECT_EQ(f[32 + i], mac[i]) << "target hardware address";
  }
  EXPECT_EQ(f[12] << 8 | f[13], kEthertypeRarp);
  const std::vector<uint8_t> arp_head{0, 1, 0x08, 0x00, 6, 4, 0, 3};
  EXPECT_EQ(std::vector<uint8_t>(f.begin() + 14, f.begin() + 22), arp_head);
  for (size_t i : {28u, 29u, 30u, 31u, 38u, 39u, 40u, 41u}) EXPECT_EQ(f[i], 0) << "no IP address at " << i;
  for (size_t i = 42; i < f.size(); ++i) EXPECT_EQ(f[i], 0) << "padding at " << i;
}

}  // namespace
}  // namespace tortuga
