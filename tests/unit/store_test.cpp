// The store's rules (ABI.md 16): paths, permissions, quotas, watches and
// transactions, called directly as the guest (domid 1) and the VMM (0).
#include "store/store.h"

#include <gtest/gtest.h>
#include <tortuga/io/store.h>

#include <string>

#include "store/store_layout.h"

namespace tortuga {
namespace {

constexpr uint16_t kGuest = 1, kVmm = 0;

class StoreTest : public ::testing::Test {
 protected:
  StoreTest() : store(kGuest) { fill_domain_store(store, "dom", 32768); }
  std::string value(const std::string& path) { return store.read(kVmm, 0, path).payload; }
  Store store;
};

TEST_F(StoreTest, TheHomeIsFilledAndReadableByTheGuest) {
  EXPECT_EQ(store.read(kGuest, 0, "domid").payload, "1");
  EXPECT_EQ(store.read(kGuest, 0, "name").payload, "dom");
  EXPECT_EQ(store.read(kGuest, 0, "memory/target").payload, "32768");
  EXPECT_EQ(store.get_perms(kGuest, 0, "/local/domain/1").payload, std::string("n0\0r1\0", 6));
  EXPECT_EQ(store.read(kGuest, 0, "/local/domain").error, TG_STORE_ERR_EACCES) << "above the home is the VMM's";
}

TEST_F(StoreTest, PathsAreCheckedComponentByComponent) {
  for (const char* bad : {"", "a//b", "a/", "/a/", std::string(2000, 'x').c_str()}) {
    EXPECT_EQ(store.read(kGuest, 0, bad).error, TG_STORE_ERR_EINVAL) << bad;
  }
  EXPECT_EQ(store.write(kGuest, 0, "data/" + std::string(TG_STORE_NAME_MAX, 'n'), "x").error, TG_STORE_ERR_EINVAL);
  EXPECT_TRUE(store.write(kGuest, 0, "data/" + std::string(TG_STORE_NAME_MAX - 1, 'n'), "x").ok());
  EXPECT_EQ(store.read(kGuest, 0, std::string("data/a\0b", 8)).error, TG_STORE_ERR_EINVAL);
}

TEST_F(StoreTest, TheGuestWritesOnlyWhereItIsAllowed) {
  EXPECT_TRUE(store.write(kGuest, 0, "data/a/b/c", "v").ok());
  EXPECT_EQ(store.get_perms(kVmm, 0, "/local/domain/1/data/a").payload, std::string("n1\0", 3));
  EXPECT_EQ(store.write(kGuest, 0, "domid", "2").error, TG_STORE_ERR_EACCES);
  EXPECT_EQ(store.write(kGuest, 0, "newtop", "x").error, TG_STORE_ERR_EACCES);
  EXPECT_EQ(store.rm(kGuest, 0, "data").error, TG_STORE_ERR_EACCES);
  EXPECT_EQ(store.rm(kGuest, 0, "/").error, TG_STORE_ERR_EACCES);
  EXPECT_EQ(store.write(kGuest, 0, "data/big", std::string(TG_STORE_VALUE_MAX + 1, 'x')).error, TG_STORE_ERR_E2BIG);
  EXPECT_TRUE(store.write(kVmm, 0, "/local/domain/0/backend/vbd/1/51712/state", "1").ok());
  EXPECT_EQ(store.read(kGuest, 0, "/local/domain/0/backend/vbd/1/51712/state").error, TG_STORE_ERR_EACCES)
      << "a node the VMM creates is its own until it grants access";
}

TEST_F(StoreTest, TheGuestsNodesAreCappedAtItsQuota) {
  size_t before = store.nodes();
  int made = 0;
  while (store.write(kGuest, 0, "data/n" + std::to_string(made), "").ok()) ++made;
  EXPECT_EQ(made, TG_STORE_MAX_NODES);
  EXPECT_EQ(store.write(kGuest, 0, "data/one-more", "").error, TG_STORE_ERR_ENOSPC);
  EXPECT_EQ(store.nodes(), before + TG_STORE_MAX_NODES);
  EXPECT_TRUE(store.write(kVmm, 0, "/local/domain/1/data/vmm", "").ok()) << "the VMM is not the guest's quota";
}

TEST_F(StoreTest, DirectoriesListChildrenInByteOrder) {
  for (const char* n : {"b", "a", "B", "a0", "a/x"}) store.write(kGuest, 0, std::string("data/d/") + n, "");
  EXPECT_EQ(store.directory(kGuest, 0, "data/d").payload, std::string("B\0a\0a0\0b\0", 9));
}

TEST_F(StoreTest, WatchesFireAtOnceThenOnChangesBelowAndOnRemovalAbove) {
  ASSERT_TRUE(store.watch(kGuest, "data/w", "t").ok());
  auto ev = store.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].path, "data/w");
  store.write(kGuest, 0, "data/w/x", "1");
  store.write(kGuest, 0, "data/other", "1");
  ev = store.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].path, "data/w/x") << "relative, as the watch was given";
  store.rm(kVmm, 0, "/local/domain/1/data");
  ev = store.take_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].path, "data/w") << "an ancestor went away";
  EXPECT_EQ(store.watch(kGuest, "data/w", "t").error, TG_STORE_ERR_EEXIST);
  for (int i = 1; i < TG_STORE_MAX_WATCHES; ++i) ASSERT_TRUE(store.watch(kGuest, "data/w", std::to_string(i)).ok());
  EXPECT_EQ(store.watch(kGuest, "data/w", "too-many").error, TG_STORE_ERR_ENOSPC);
}

TEST_F(StoreTest, TransactionsAreIsolatedAndCommitOnlyWithoutConflicts) {
  uint32_t tx = std::stoul(store.transaction_start(kGuest).payload);
  ASSERT_TRUE(store.write(kGuest, tx, "data/t", "1").ok());
  EXPECT_EQ(store.read(kGuest, 0, "data/t").error, TG_STORE_ERR_ENOENT);
  ASSERT_TRUE(store.watch(kGuest, "data", "w").ok());
  store.take_events();
  EXPECT_TRUE(store.transaction_end(kGuest, tx, true).ok());
  EXPECT_EQ(value("/local/domain/1/data/t"), "1");
  EXPECT_FALSE(store.take_events().empty()) << "watches fire at commit";

  tx = std::stoul(store.transaction_start(kGuest).payload);
  store.directory(kGuest, tx, "data");
  store.write(kVmm, 0, "/local/domain/1/data/new", "x");  // a listing the transaction read changes
  store.write(kGuest, tx, "data/t", "2");
  EXPECT_EQ(store.transaction_end(kGuest, tx, true).error, TG_STORE_ERR_EAGAIN);
  EXPECT_EQ(value("/local/domain/1/data/t"), "1");

  tx = std::stoul(store.transaction_start(kGuest).payload);
  store.rm(kGuest, tx, "data/t");
  EXPECT_TRUE(store.transaction_end(kGuest, tx, true).ok());
  EXPECT_EQ(store.read(kGuest, 0, "data/t").error, TG_STORE_ERR_ENOENT);
  EXPECT_EQ(store.transaction_end(kGuest, tx, true).error, TG_STORE_ERR_ENOENT);
  EXPECT_EQ(store.transaction_end(kVmm, 999, true).error, TG_STORE_ERR_ENOENT);
}

TEST_F(StoreTest, RemovingASubtreeConflictsWithAChangeInsideIt) {
  store.write(kGuest, 0, "data/s/deep/x", "1");
  uint32_t tx = std::stoul(store.transaction_start(kGuest).payload);
  store.rm(kGuest, tx, "data/s");
  store.write(kGuest, 0, "data/s/deep/x", "2");
  EXPECT_EQ(store.transaction_end(kGuest, tx, true).error, TG_STORE_ERR_EAGAIN);
  EXPECT_EQ(store.read(kGuest, 0, "data/s/deep/x").payload, "2");
}

TEST_F(StoreTest, OpenTransactionsAreCapped) {
  for (int i = 0; i < TG_STORE_MAX_TRANSACTIONS; ++i) ASSERT_TRUE(store.transaction_start(kGuest).ok());
  EXPECT_EQ(store.transaction_start(kGuest).error, TG_STORE_ERR_ENOSPC);
  store.disconnect(kGuest);
  EXPECT_TRUE(store.transaction_start(kGuest).ok());
}

TEST_F(StoreTest, OnlyTheOwnerOrTheVmmSetsPermissions) {
  store.write(kGuest, 0, "data/p", "");
  EXPECT_TRUE(store.set_perms(kGuest, 0, "data/p", {"n1", "r0"}).ok());
  EXPECT_EQ(store.set_perms(kGuest, 0, "data/p", {"n2"}).error, TG_STORE_ERR_EACCES);
  EXPECT_EQ(store.set_perms(kGuest, 0, "domid", {"n1"}).error, TG_STORE_ERR_EACCES);
  EXPECT_EQ(store.set_perms(kGuest, 0, "data/p", {"q1"}).error, TG_STORE_ERR_EINVAL);
  EXPECT_EQ(store.set_perms(kGuest, 0, "data/p", {"n70000"}).error, TG_STORE_ERR_EINVAL);
  EXPECT_TRUE(store.set_perms(kVmm, 0, "/local/domain/1/data/p", {"n0"}).ok());
  EXPECT_EQ(store.read(kGuest, 0, "data/p").error, TG_STORE_ERR_EACCES);
}

}  // namespace
}  // namespace tortuga
