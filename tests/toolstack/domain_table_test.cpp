#include <gtest/gtest.h>

#include "domain_table.h"

namespace tortuga::toolstack {
namespace {

api::DomainRecord named(const std::string& name, uint32_t id = 0) {
  api::DomainRecord r;
  r.mutable_info()->mutable_config()->set_name(name);
  r.mutable_info()->set_domid(id);
  return r;
}

TEST(DomainTable, NamesAreUniqueAndIdsCountFromOne) {
  DomainTable t;
  auto* a = t.insert(named("a"));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->info().domid(), 1u);
  EXPECT_EQ(t.insert(named("a")), nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.insert(named("b"))->info().domid(), 2u);
}

TEST(DomainTable, FindsByNameOrId) {
  DomainTable t;
  t.insert(named("a"));
  t.insert(named("b"));
  EXPECT_EQ(t.find("b")->info().domid(), 2u);
  EXPECT_EQ(t.find("2")->info().config().name(), "b");
  EXPECT_EQ(t.find("3"), nullptr);
  EXPECT_EQ(t.find(""), nullptr);
  EXPECT_EQ(t.find("2x"), nullptr);
  EXPECT_EQ(t.find("99999999999999999999"), nullptr);
}

TEST(DomainTable, IdsAreNotReusedAfterErase) {
  DomainTable t;
  t.insert(named("a"));
  t.insert(named("b"));
  EXPECT_TRUE(t.erase("b"));
  EXPECT_FALSE(t.erase("b"));
  EXPECT_EQ(t.insert(named("c"))->info().domid(), 3u);
}

TEST(DomainTable, RecoveredIdsAreKeptAndNotDuplicated) {
  DomainTable t;
  EXPECT_EQ(t.insert(named("old", 7))->info().domid(), 7u);
  EXPECT_EQ(t.insert(named("clash", 7)), nullptr);
  EXPECT_EQ(t.insert(named("new"))->info().domid(), 8u);
}

TEST(DomainTable, ListsByIdAndFindsByPid) {
  DomainTable t;
  t.insert(named("z"));
  t.insert(named("a"));
  auto all = t.all();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0]->info().config().name(), "z");
  all[1]->mutable_info()->set_pid(1234);
  EXPECT_EQ(t.find_by_pid(1234)->info().config().name(), "a");
  EXPECT_EQ(t.find_by_pid(0), nullptr);
}

}  // namespace
}  // namespace tortuga::toolstack
