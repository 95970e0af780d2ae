// Domain configs: protobuf's JSON mapping plus our checks of meaning.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config.h"

namespace tortuga::toolstack {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

api::DomainConfig valid() {
  api::DomainConfig c;
  c.set_name("web-1");
  c.set_kernel("/bin/sh");  // any regular file
  apply_defaults(c);
  return c;
}

TEST(Config, ParsesEveryKey) {
  api::DomainConfig c = parse_config_json(R"({
    "name": "db", "kernel": "/k", "cmdline": "console=hvc0", "initramfs": "/i",
    "memory_mib": 256, "vcpus": 2, "console": "none", "weight": 200, "cap": 50,
    "on_crash": "restart", "disks": [{"path": "/d.img", "vdev": "xvda", "readonly": true}],
    "nics": [{"bridge": "br0", "mac": "00:16:3e:00:00:01"}]})");
  EXPECT_EQ(c.name(), "db");
  EXPECT_EQ(c.memory_mib(), 256u);
  EXPECT_EQ(c.vcpus(), 2u);
  EXPECT_EQ(c.console(), api::DomainConfig::none);
  EXPECT_EQ(c.on_crash(), api::DomainConfig::restart);
  ASSERT_EQ(c.disks_size(), 1);
  EXPECT_TRUE(c.disks(0).readonly());
  EXPECT_EQ(c.nics(0).bridge(), "br0");
}

TEST(Config, UnknownKeyIsAnErrorNamingIt) {
  EXPECT_THAT(error_of([] { parse_config_json(R"({"name": "a", "memroy_mib": 64})"); }), HasSubstr("memroy_mib"));
}

TEST(Config, BadValueIsAnErrorNamingTheKey) {
  EXPECT_THAT(error_of([] { parse_config_json(R"({"vcpus": "two"})"); }), HasSubstr("vcpus"));
  EXPECT_THAT(error_of([] { parse_config_json(R"({"on_crash": "reboot"})"); }), HasSubstr("on_crash"));
  EXPECT_THAT(error_of([] { parse_config_json(R"({"memory_mib": -1})"); }), HasSubstr("memory_mib"));
}

TEST(Config, MalformedJsonIsAnError) {
  EXPECT_THAT(error_of([] { parse_config_json(R"({"name": )"); }), HasSubstr("invalid config"));
  EXPECT_THAT(error_of([] { parse_config_json("[1, 2]"); }), HasSubstr("invalid config"));
}

TEST(Config, DefaultsFillWhatIsLeftOut) {
  api::DomainConfig c;
  apply_defaults(c);
  EXPECT_EQ(c.memory_mib(), 32u);
  EXPECT_EQ(c.vcpus(), 1u);
  EXPECT_EQ(c.console(), api::DomainConfig::log);
  EXPECT_EQ(c.on_crash(), api::DomainConfig::preserve);
}

TEST(Config, AValidConfigPasses) {
  EXPECT_EQ(error_of([] { validate_config(valid(), true); }), "");
}

TEST(Config, RangesAreChecked) {
  auto with = [](auto change) {
    api::DomainConfig c = valid();
    change(c);
    return error_of([&] { validate_config(c, false); });
  };
  EXPECT_THAT(with([](auto& c) { c.set_memory_mib(0); }), HasSubstr("memory_mib: 0"));
  EXPECT_THAT(with([](auto& c) { c.set_memory_mib(kMaxMemoryMib + 1); }), HasSubstr("memory_mib"));
  EXPECT_THAT(with([](auto& c) { c.set_vcpus(0); }), HasSubstr("vcpus: 0"));
  EXPECT_THAT(with([](auto& c) { c.set_vcpus(33); }), HasSubstr("vcpus: 33"));
  EXPECT_THAT(with([](auto& c) { c.set_weight(100000); }), HasSubstr("weight"));
  EXPECT_THAT(with([](auto& c) { c.set_cap(1000000); }), HasSubstr("cap"));
  EXPECT_THAT(with([](auto& c) { c.set_cmdline("a\nb"); }), HasSubstr("cmdline"));
  EXPECT_THAT(with([](auto& c) { c.set_kernel("relative/k"); }), HasSubstr("absolute"));
  EXPECT_THAT(with([](auto& c) { c.set_kernel(""); }), HasSubstr("kernel: missing"));
}

TEST(Config, FilesMustExist) {
  api::DomainConfig c = valid();
  c.set_kernel("/nonexistent/kernel");
  EXPECT_THAT(error_of([&] { validate_config(c, true); }), HasSubstr("kernel: no such file"));
  EXPECT_EQ(error_of([&] { validate_config(c, false); }), "");
  c = valid();
  c.set_initramfs("/");
  EXPECT_THAT(error_of([&] { validate_config(c, true); }), HasSubstr("initramfs: not a regular file"));
}

TEST(Config, DevicesAreCheckedKeyByKey) {
  auto with = [](auto change) {
    api::DomainConfig c = valid();
    change(c);
    return error_of([&] { validate_config(c, false); });
  };
  auto disk = [](api::DomainConfig& c, const char* path, const char* vdev) {
    api::Disk* d = c.add_disks();
    d->set_path(path);
    d->set_vdev(vdev);
  };
  EXPECT_EQ(with([&](auto& c) {
              disk(c, "/d.img", "xvda");
              disk(c, "/e.img", "xvdp");
            }),
            "");
  EXPECT_EQ(with([&](auto& c) { disk(c, "d.img", "xvda"); }), "disks[0].path: 'd.img' is not an absolute path");
  EXPECT_EQ(with([&](auto& c) { disk(c, "", "xvda"); }), "disks[0].path: missing (the image file)");
  EXPECT_THAT(with([&](auto& c) { disk(c, "/a,ro.img", "xvda"); }), HasSubstr("contains a comma"));
  EXPECT_EQ(with([&](auto& c) { disk(c, "/d.img", "sda"); }), "disks[0].vdev: 'sda' is not xvda..xvdp");
  EXPECT_THAT(with([&](auto& c) { disk(c, "/d.img", "xvdq"); }), HasSubstr("is not xvda..xvdp"));
  EXPECT_EQ(with([&](auto& c) {
              disk(c, "/d.img", "xvda");
              disk(c, "/e.img", "xvda");
            }),
            "disks[1].vdev: xvda is used twice");
  EXPECT_EQ(with([&](auto& c) {
              disk(c, "/d.img", "xvda");
              disk(c, "/d.img", "xvdb");
            }),
            "disks[1].path: /d.img is attached twice");
  EXPECT_EQ(with([](auto& c) { c.add_nics()->set_bridge("br0"); }), "");
  EXPECT_EQ(with([](auto& c) { c.add_nics(); }), "");  // no bridge: a TAP on its own
  EXPECT_THAT(with([](auto& c) { c.add_nics()->set_bridge("a/b"); }), HasSubstr("nics[0].bridge: 'a/b'"));
  EXPECT_THAT(with([](auto& c) { c.add_nics()->set_bridge(std::string(16, 'b')); }), HasSubstr("nics[0].bridge"));
  EXPECT_THAT(with([](auto& c) { c.add_nics()->set_mac("01:00:5e:00:00:01"); }), HasSubstr("nics[0].mac"));
  EXPECT_THAT(with([](auto& c) { c.add_nics()->set_mac("02:00:00:00:00"); }), HasSubstr("nics[0].mac"));
  EXPECT_EQ(with([](auto& c) {
              c.add_nics()->set_mac("02:00:00:00:00:01");
              c.add_nics()->set_mac("02:00:00:00:00:01");
            }),
            "nics[1].mac: 02:00:00:00:00:01 is used twice");
  EXPECT_THAT(with([](auto& c) {
                for (int i = 0; i < 9; ++i) c.add_nics();
              }),
              HasSubstr("nics: more than 8"));
}

TEST(Config, DeviceFilesAndBridgesMustExist) {
  api::DomainConfig c = valid();
  c.add_disks()->set_path("/nonexistent/d.img");
  c.mutable_disks(0)->set_vdev("xvda");
  EXPECT_EQ(error_of([&] { validate_config(c, true); }), "disks[0].path: no such file: /nonexistent/d.img");
  c.mutable_disks(0)->set_path("/");
  EXPECT_THAT(error_of([&] { validate_config(c, true); }), HasSubstr("not a regular file or block device"));
  c = valid();
  c.add_nics()->set_bridge("tgnosuchbr0");
  EXPECT_EQ(error_of([&] { validate_config(c, true); }), "nics[0].bridge: no bridge 'tgnosuchbr0' on this host");
}

TEST(Config, NameCharset) {
  for (const char* good : {"a", "web-1", "db_2.prod", "A9"}) EXPECT_TRUE(valid_domain_name(good)) << good;
  for (const char* bad : {"", "-x", ".x", "a b", "a/b", "ä", "123", "x\n"}) EXPECT_FALSE(valid_domain_name(bad)) << bad;
  EXPECT_FALSE(valid_domain_name(std::string(kMaxNameLength + 1, 'a')));
  EXPECT_TRUE(valid_domain_name(std::string(kMaxNameLength, 'a')));
  api::DomainConfig c = valid();
  c.set_name("../etc");
  EXPECT_THAT(error_of([&] { validate_config(c, false); }), HasSubstr("name: '../etc'"));
}

TEST(Config, JsonRoundTrip) {
  api::DomainConfig c = valid();
  c.set_cmdline("x=1");
  api::DomainConfig back = parse_config_json(config_to_json(c));
  EXPECT_EQ(back.SerializeAsString(), c.SerializeAsString());
}

}  // namespace
}  // namespace tortuga::toolstack
