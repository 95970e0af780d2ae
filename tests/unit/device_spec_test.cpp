// The options of --disk and --nic and the names that follow from them
// (device_spec.h): every string is a user's, so the bad ones are refused
// with a reason and the defaults come out in order.
#include "devices/device_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tortuga {
namespace {

using ::testing::HasSubstr;

TEST(DeviceSpec, VdevNamesMapToLinuxDiskNumbers) {
  EXPECT_EQ(vbd_id_from_vdev("xvda"), 51712u);
  EXPECT_EQ(vbd_id_from_vdev("xvdb"), 51728u);
  EXPECT_EQ(vbd_id_from_vdev("xvdp"), 51712u + 16 * 15);
  EXPECT_EQ(vdev_from_vbd_id(51744), "xvdc");
  for (const char* bad : {"xvdq", "xvd", "xvdaa", "sda", "XVDA", "xvd`", ""}) {
    EXPECT_THROW(vbd_id_from_vdev(bad), DeviceSpecError) << bad;
  }
}

TEST(DeviceSpec, DiskOptionsFollowThePath) {
  DiskSpec d = parse_disk_option("/img/a,b.raw,ro,uring,vdev=xvdc");
  EXPECT_EQ(d.path, "/img/a,b.raw");
  EXPECT_TRUE(d.read_only);
  EXPECT_TRUE(d.uring);
  EXPECT_EQ(d.vdev, "xvdc");
  d = parse_disk_option("plain.img");
  EXPECT_EQ(d.path, "plain.img");
  EXPECT_FALSE(d.read_only);
  EXPECT_TRUE(d.vdev.empty());
  EXPECT_THROW(parse_disk_option(",ro"), DeviceSpecError);
  EXPECT_THROW(parse_disk_option("a.img,vdev=hda"), DeviceSpecError);
}

TEST(DeviceSpec, NicOptionsAreCheckedOneByOne) {
  NicSpec n = parse_nic_option("tap7,mac=02:AB:cd:00:00:01,bridge=br0,id=3");
  EXPECT_EQ(n.tap, "tap7");
  EXPECT_EQ(n.mac, "02:AB:cd:00:00:01");
  EXPECT_EQ(n.bridge, "br0");
  ASSERT_TRUE(n.id.has_value());
  EXPECT_EQ(*n.id, 3u);
  EXPECT_FALSE(parse_nic_option("tap7").id.has_value());
  EXPECT_THROW(parse_nic_option("tap7,mac=01:00:00:00:00:01"), DeviceSpecError);  // multicast
  EXPECT_THROW(parse_nic_option("tap7,mac=02:00:00:00:00"), DeviceSpecError);
  EXPECT_THROW(parse_nic_option("tap7,id=x"), DeviceSpecError);
  EXPECT_THROW(parse_nic_option("tap7,id=1024"), DeviceSpecError);
  EXPECT_THROW(parse_nic_option("this-name-is-far-too-long"), DeviceSpecError);
  EXPECT_THROW(parse_nic_option("a/b"), DeviceSpecError);
  EXPECT_THROW(parse_nic_option("tap7,bridge=b r"), DeviceSpecError);
}

TEST(DeviceSpec, DefaultsFillTheFirstFreeNamesInOrder) {
  std::vector<DiskSpec> disks{{"a", false, false, ""}, {"b", false, false, "xvda"}, {"c", false, false, ""}};
  std::vector<NicSpec> nics{{"t0", "", "", std::nullopt}, {"t1", "", "", 0}, {"t2", "", "", std::nullopt}};
  complete_device_specs(disks, nics);
  EXPECT_EQ(disks[0].vdev, "xvdb");
  EXPECT_EQ(disks[1].vdev, "xvda");
  EXPECT_EQ(disks[2].vdev, "xvdc");
  EXPECT_EQ(*nics[0].id, 1u);
  EXPECT_EQ(*nics[1].id, 0u);
  EXPECT_EQ(*nics[2].id, 2u);
}

TEST(DeviceSpec, DuplicatesAreRefused) {
  std::vector<DiskSpec> disks{{"a", false, false, "xvdb"}, {"b", false, false, "xvdb"}};
  std::vector<NicSpec> none;
  try {
    complete_device_specs(disks, none);
    FAIL() << "two disks named xvdb";
  } catch (const DeviceSpecError& e) {
    EXPECT_THAT(e.what(), HasSubstr("two disks named xvdb"));
  }
  std::vector<DiskSpec> no_disks;
  std::vector<NicSpec> same_id{{"t0", "", "", 1}, {"t1", "", "", 1}};
  EXPECT_THROW(complete_device_specs(no_disks, same_id), DeviceSpecError);
  std::vector<NicSpec> same_tap{{"t0", "", "", std::nullopt}, {"t0", "", "", std::nullopt}};
  EXPECT_THROW(complete_device_specs(no_disks, same_tap), DeviceSpecError);
  std::vector<DiskSpec> seventeen(17, DiskSpec{"x", false, false, ""});
  EXPECT_THROW(complete_device_specs(seventeen, none), DeviceSpecError);
}

TEST(DeviceSpec, AHotPlugSpecNeedsEveryName) {
  EXPECT_THROW(check_disk_spec({"a.img", false, false, ""}), DeviceSpecError);
  EXPECT_NO_THROW(check_disk_spec({"a.img", false, false, "xvdd"}));
  EXPECT_THROW(check_nic_spec({"tap0", "", "", std::nullopt}), DeviceSpecError);
  EXPECT_NO_THROW(check_nic_spec({"tap0", "", "", 5}));
}

}  // namespace
}  // namespace tortuga
