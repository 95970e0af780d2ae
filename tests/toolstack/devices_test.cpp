// Device naming and the VMM options the daemon derives from a config.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devices.h"

namespace tortuga::toolstack {
namespace {

using ::testing::ElementsAre;

TEST(Devices, VbdIdsFollowLinuxXenDiskNumbering) {
  EXPECT_EQ(vbd_id("xvda"), 51712u);
  EXPECT_EQ(vbd_id("xvdb"), 51728u);
  EXPECT_EQ(vbd_id("xvdp"), 51712u + 15 * 16);
  for (const char* bad : {"", "xvd", "xvdq", "xvdA", "xvdaa", "sda", "hda", "xvd1"})
    EXPECT_EQ(vbd_id(bad), std::nullopt) << bad;
}

TEST(Devices, MacAddresses) {
  EXPECT_TRUE(valid_mac("02:74:67:00:01:00"));
  EXPECT_TRUE(valid_mac("00:16:3E:AA:bb:cc"));
  for (const char* bad : {"", "02:74:67:00:01", "02:74:67:00:01:000", "02-74-67-00-01-00", "0g:00:00:00:00:01",
                          "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00"}) {
    EXPECT_FALSE(valid_mac(bad)) << bad;
  }
  EXPECT_EQ(default_mac(1, 0), "02:74:67:00:01:00");
  EXPECT_EQ(default_mac(0x1234, 7), "02:74:67:12:34:07");
  EXPECT_TRUE(valid_mac(default_mac(65535, 255)));
}

TEST(Devices, TapNamesFitAnInterfaceName) {
  EXPECT_EQ(tap_name(3, 1), "tg3.1");
  EXPECT_TRUE(valid_interface_name(tap_name(4294967295u, 7)));
  EXPECT_FALSE(valid_interface_name(""));
  EXPECT_FALSE(valid_interface_name("sixteen-letters!"));
  EXPECT_FALSE(valid_interface_name("br 0"));
  EXPECT_TRUE(valid_interface_name("br0"));
}

TEST(Devices, NicsAreNumberedAndGivenMacs) {
  api::DomainConfig c;
  c.add_nics()->set_bridge("br0");
  c.add_nics()->set_mac("02:00:00:00:00:09");
  c.mutable_nics(1)->set_devid(77);  // a config's devid is ignored
  assign_nic_identities(c, 5);
  EXPECT_EQ(c.nics(0).devid(), 0u);
  EXPECT_EQ(c.nics(0).mac(), "02:74:67:00:05:00");
  EXPECT_EQ(c.nics(1).devid(), 1u);
  EXPECT_EQ(c.nics(1).mac(), "02:00:00:00:00:09");
  EXPECT_EQ(free_vif_id(c), 2u);
  c.mutable_nics()->DeleteSubrange(0, 1);
  EXPECT_EQ(free_vif_id(c), 0u);
  EXPECT_EQ(find_nic(c, "1"), 0);
  EXPECT_EQ(find_nic(c, "02:00:00:00:00:09"), 0);
  EXPECT_EQ(find_nic(c, "02:00"), std::nullopt);
  EXPECT_EQ(find_nic(c, "0"), std::nullopt);
}

TEST(Devices, VmmOptions) {
  api::DomainConfig c;
  api::Disk* d = c.add_disks();
  d->set_path("/img/a.img");
  d->set_vdev("xvda");
  d = c.add_disks();
  d->set_path("/img/b.img");
  d->set_vdev("xvdc");
  d->set_readonly(true);
  c.add_nics()->set_bridge("br0");
  c.add_nics();
  assign_nic_identities(c, 12);
  EXPECT_THAT(
      vmm_device_args(c, 12),
      ElementsAre("--domid=12", "--disk=/img/a.img,vdev=xvda", "--disk=/img/b.img,ro,vdev=xvdc",
                  "--nic=tg12.0,mac=02:74:67:00:0c:00,id=0,bridge=br0", "--nic=tg12.1,mac=02:74:67:00:0c:01,id=1"));
  api::NicAttach a = nic_attach(c.nics(0), 12);
  EXPECT_EQ(a.tap(), "tg12.0");
  EXPECT_EQ(a.bridge(), "br0");
  EXPECT_EQ(a.id(), 0u);
  EXPECT_EQ(disk_attach(c.disks(1)).readonly(), true);
}

}  // namespace
}  // namespace tortuga::toolstack
