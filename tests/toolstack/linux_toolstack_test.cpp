// The patched Linux through tortugad and tortuga (label `linux`): the
// default domain of `make run`, asked to reboot and then to shut down
// through the store (its store client, frontend-drivers/tortuga_store.c,
// watches control/shutdown), so neither needs a timeout and a destroy.
#include <filesystem>
#include <fstream>
#include <iterator>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "toolstack_harness.h"

namespace tortuga::testing {
namespace {

using ::testing::HasSubstr;

std::string linux_file(const std::string& name) { return std::string(TORTUGA_LINUX_DIR) + "/" + name; }

size_t count_of(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(ToolstackLinux, RebootAndShutdownReachLinuxThroughTheStore) {
  ASSERT_TRUE(std::filesystem::exists(linux_file("vmlinux"))) << "run `make linux` first";
  DaemonHarness d;
  const std::string shell = "busybox shell on hvc0";
  d.ok({"create", d.write_config("tux", "{\"name\": \"tux\", \"kernel\": \"" + linux_file("vmlinux") +
                                            "\", \"initramfs\": \"" + linux_file("initramfs.cpio.gz") +
                                            "\", \"memory_mib\": 128, \"cmdline\": \"console=hvc0\"}")});
  ASSERT_TRUE(eventually([&] { return count_of(console_of(d, "tux"), shell) == 1; }, 60)) << console_of(d, "tux");

  EXPECT_THAT(d.ok({"reboot", "tux"}), HasSubstr("reboot requested"));
  EXPECT_TRUE(eventually([&] { return count_of(console_of(d, "tux"), shell) == 2; }, 60)) << console_of(d, "tux");
  EXPECT_THAT(console_of(d, "tux"), HasSubstr("the toolstack asks for a reboot"));
  EXPECT_THAT(d.ok({"info", "tux"}), HasSubstr("restarts:    1"));

  std::string out = d.ok({"shutdown", "tux", "--timeout", "60", "--json"});
  EXPECT_THAT(out, HasSubstr("\"guest_asked\": true"));
  EXPECT_THAT(out, HasSubstr("\"destroyed\": false"));
  EXPECT_EQ(domain_state(d, "tux"), "SHUTOFF");
  EXPECT_THAT(console_of(d, "tux"), HasSubstr("the toolstack asks for a power off"));
  EXPECT_THAT(console_of(d, "tux"), HasSubstr("reboot: Power down"));
  EXPECT_THAT(d.ok({"info", "tux"}), HasSubstr("exit status 0"));
}

}  // namespace
}  // namespace tortuga::testing
