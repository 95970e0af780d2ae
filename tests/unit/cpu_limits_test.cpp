// CpuLimitsCgroup on a fake cgroup tree: which files it writes for cgroup
// v2 and v1, and what it refuses.
#include "kvm/cpu_limits.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace tortuga {
namespace {

namespace fs = std::filesystem;

class CpuLimitsTest : public ::testing::Test {
 protected:
  fs::path root_ = fs::temp_directory_path() / ("tortuga-cgroup-test-" + std::to_string(::getpid()));
  void SetUp() override { fs::create_directories(root_); }
  void TearDown() override { fs::remove_all(root_); }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  static void write(const fs::path& p, const std::string& v) { std::ofstream(p) << v; }
  std::string leaf() const { return "tortuga-dom-" + std::to_string(::getpid()); }
};

TEST_F(CpuLimitsTest, UnifiedHierarchyGetsWeightAndMax) {
  write(root_ / "cgroup.controllers", "cpuset cpu io memory pids\n");
  CpuLimitsCgroup cg("dom", {250, 50}, root_);
  EXPECT_EQ(cg.path(), root_ / leaf());
  EXPECT_EQ(read(cg.path() / "cpu.weight"), "250");
  EXPECT_EQ(read(cg.path() / "cpu.max"), "50000 100000");
  EXPECT_EQ(read(cg.path() / "cgroup.procs"), std::to_string(::getpid()));
}

TEST_F(CpuLimitsTest, NoCapIsMax) {
  write(root_ / "cgroup.controllers", "cpu\n");
  CpuLimitsCgroup cg("dom", {100, 0}, root_);
  EXPECT_EQ(read(cg.path() / "cpu.max"), "max 100000");
}

TEST_F(CpuLimitsTest, VersionOneGetsSharesAndQuota) {
  write(root_ / "cgroup.controllers", "memory\n");  // v2 without cpu: use v1
  fs::create_directories(root_ / "cpu");
  write(root_ / "cpu" / "cpu.shares", "1024");
  CpuLimitsCgroup cg("dom", {50, 150}, root_);
  EXPECT_EQ(cg.path(), root_ / "cpu" / leaf());
  EXPECT_EQ(read(cg.path() / "cpu.shares"), "512");
  EXPECT_EQ(read(cg.path() / "cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(cg.path() / "cpu.cfs_quota_us"), "150000") << "a cap above 100% spans several host CPUs";
}

TEST_F(CpuLimitsTest, GoingBackMovesTheProcessToTheParent) {
  write(root_ / "cgroup.controllers", "cpu\n");
  { CpuLimitsCgroup cg("dom", {100, 10}, root_); }
  EXPECT_EQ(read(root_ / "cgroup.procs"), std::to_string(::getpid()));
}

TEST_F(CpuLimitsTest, RefusesWhatCannotWork) {
  EXPECT_THROW(CpuLimitsCgroup("dom", {100, 10}, root_), CpuLimitsError) << "no cpu controller at all";
  write(root_ / "cgroup.controllers", "cpu\n");
  EXPECT_THROW(CpuLimitsCgroup("dom", {0, 0}, root_), CpuLimitsError);
  EXPECT_THROW(CpuLimitsCgroup("dom", {10001, 0}, root_), CpuLimitsError);
}

}  // namespace
}  // namespace tortuga
