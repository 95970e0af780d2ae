// The grant table's rules (ABI.md 12): what a backend may touch, with which
// access, and for how long; what a guest may turn into a grant table; and
// that a frame in use through a grant cannot change type under the user.
#include "memory/grant_table.h"

#include <gtest/gtest.h>
#include <tortuga/errno.h>

#include <vector>

#include "mmu_model_domain.h"

namespace tortuga {
namespace {

using test::MmuModelDomain;

constexpr uint64_t kTableGfn = 1, kData = 10, kOther = 11;

class GrantTableTest : public ::testing::Test {
 protected:
  GrantTableTest() : grants(d.memory, d.mmu) {
    std::vector<uint64_t> frames{kTableGfn};
    if (grants.setup(frames) != 0) throw std::logic_error("setup");
  }
  tg_grant_entry_v1& entry(uint32_t ref) { return d.memory.ram_object<tg_grant_entry_v1>(kTableGfn << 12)[ref]; }
  void grant(uint32_t ref, uint64_t gfn, uint16_t flags = TG_GTF_permit_access, uint16_t domid = TG_DOMID_VMM) {
    entry(ref) = {flags, domid, static_cast<uint32_t>(gfn)};
  }

  MmuModelDomain d;
  GrantTable grants;
};

TEST_F(GrantTableTest, SetupTakesOrdinaryFramesAndOnlyGrowsInOrder) {
  EXPECT_EQ(grants.nr_frames(), 1u);
  EXPECT_EQ(d.frame(kTableGfn).type, PageType::kVmm);
  std::vector<uint64_t> none, reorder{2, kTableGfn}, outside{kTableGfn, 1000}, twice{kTableGfn, 2, 2};
  EXPECT_EQ(grants.setup(none), -TG_EINVAL);
  EXPECT_EQ(grants.setup(reorder), -TG_EINVAL);
  EXPECT_EQ(grants.setup(outside), -TG_EPERM);
  EXPECT_EQ(grants.setup(twice), -TG_EBUSY);
  std::vector<uint64_t> too_many(TG_GNTTAB_MAX_FRAMES + 1, 3);
  EXPECT_EQ(grants.setup(too_many), -TG_EINVAL);
  ASSERT_EQ(d.pin(5, 1), 0);
  std::vector<uint64_t> table{kTableGfn, 5};
  EXPECT_EQ(grants.setup(table), -TG_EBUSY) << "a page table cannot be a grant frame";
  EXPECT_EQ(grants.nr_frames(), 1u) << "a refused setup changes nothing";
  std::vector<uint64_t> grow{kTableGfn, 2};
  EXPECT_EQ(grants.setup(grow), 0);
  EXPECT_EQ(grants.nr_entries(), 2 * TG_GRANT_ENTRIES_PER_FRAME);
}

TEST_F(GrantTableTest, AUseMarksTheEntryAndReachesTheGrantedFrame) {
  grant(3, kData);
  {
    GrantUse u = grants.use(TG_DOMID_VMM, 3, true);
    ASSERT_TRUE(u.ok()) << u.error();
    EXPECT_EQ(u.page(), d.memory.ram(kData << 12, 4096));
    EXPECT_EQ(entry(3).flags, TG_GTF_permit_access | TG_GTF_writing);
  }
  EXPECT_EQ(entry(3).flags, TG_GTF_permit_access) << "the in-use bit goes when the use ends";
}

TEST_F(GrantTableTest, ReadOnlyGrantsAreNeverWritten) {
  grant(4, kData, TG_GTF_permit_access | TG_GTF_readonly);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 4, true).error(), -TG_EACCES);
  EXPECT_EQ(entry(4).flags, TG_GTF_permit_access | TG_GTF_readonly);
  EXPECT_TRUE(grants.use(TG_DOMID_VMM, 4, false).ok());
}

TEST_F(GrantTableTest, EntriesThatGrantNothingOrToSomeoneElseAreRefused) {
  grant(5, kData, TG_GTF_invalid);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 5, false).error(), -TG_EACCES);
  grant(6, kData, TG_GTF_permit_access, 7);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 6, false).error(), -TG_EACCES);
  grant(7, kData, TG_GTF_permit_access | 0x20);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 7, false).error(), -TG_EACCES) << "unknown flag bits";
  grant(8, kData, 2);  // a type that is not permit_access
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 8, false).error(), -TG_EACCES);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, TG_GRANT_ENTRIES_PER_FRAME, false).error(), -TG_ENOENT);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 0xffffffff, false).error(), -TG_ENOENT);
}

TEST_F(GrantTableTest, OnlyOrdinaryDomainRamCanBeUsed) {
  ASSERT_EQ(d.pin(kOther, 1), 0);
  grant(9, kOther);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 9, false).error(), -TG_EPERM) << "a page table";
  EXPECT_EQ(entry(9).flags, TG_GTF_permit_access) << "a refused use leaves no in-use bit";
  grant(10, kTableGfn);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 10, true).error(), -TG_EPERM) << "a VMM frame (the grant table itself)";
  grant(11, 5000);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 11, true).error(), -TG_EPERM) << "outside RAM";
  ASSERT_TRUE(d.release(12));
  grant(12, 12);
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 12, true).error(), -TG_EPERM) << "released by the balloon";
}

TEST_F(GrantTableTest, AFrameInUseCannotBecomeAPageTableOrBeReleased) {
  grant(3, kData);
  GrantUse u = grants.use(TG_DOMID_VMM, 3, true);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(d.pin(kData, 1), -TG_EBUSY);
  EXPECT_FALSE(d.release(kData));
  u.reset();
  EXPECT_EQ(d.pin(kData, 1), 0) << "once the use ended the frame is ordinary memory again";
  EXPECT_EQ(d.invariants(), "");
}

TEST_F(GrantTableTest, AGrantInUseCannotBeRevoked) {
  grant(3, kData);
  GrantUse u = grants.use(TG_DOMID_VMM, 3, false);
  ASSERT_TRUE(u.ok());
  // The guest's revoke: compare-and-exchange from "permit, idle" to 0.
  uint16_t expected = TG_GTF_permit_access;
  EXPECT_FALSE(__atomic_compare_exchange_n(&entry(3).flags, &expected, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  u.reset();
  expected = TG_GTF_permit_access;
  EXPECT_TRUE(__atomic_compare_exchange_n(&entry(3).flags, &expected, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
  EXPECT_EQ(grants.use(TG_DOMID_VMM, 3, false).error(), -TG_EACCES) << "after revoke no new use starts";
}

TEST_F(GrantTableTest, UsesOfOneGrantShareItsInUseBit) {
  grant(3, kData);
  GrantUse a = grants.use(TG_DOMID_VMM, 3, false);
  GrantUse b = grants.use(TG_DOMID_VMM, 3, false);
  ASSERT_TRUE(a.ok() && b.ok());
  a.reset();
  EXPECT_EQ(entry(3).flags, TG_GTF_permit_access | TG_GTF_reading) << "b still reads";
  EXPECT_EQ(d.pin(kData, 1), -TG_EBUSY);
  b.reset();
  EXPECT_EQ(entry(3).flags, TG_GTF_permit_access);
}

TEST_F(GrantTableTest, AGuestThatClearsTheFlagsMidUseHurtsOnlyItself) {
  grant(3, kData);
  GrantUse u = grants.use(TG_DOMID_VMM, 3, true);
  ASSERT_TRUE(u.ok());
  entry(3).flags = 0;  // a plain store instead of the protocol
  EXPECT_EQ(d.pin(kData, 1), -TG_EBUSY) << "the frame stays held while the VMM uses it";
  u.reset();
  EXPECT_EQ(entry(3).flags, 0);
  EXPECT_EQ(d.pin(kData, 1), 0);
}

TEST_F(GrantTableTest, EveryPageWrittenThroughAGrantIsReportedDirty) {
  std::vector<uint64_t> dirty;
  grants.set_dirty_hook([&](uint64_t gfn) { dirty.push_back(gfn); });
  grant(3, kData);
  grants.use(TG_DOMID_VMM, 3, false).reset();
  EXPECT_TRUE(dirty.empty()) << "a read writes nothing";
  grants.use(TG_DOMID_VMM, 3, true).reset();
  EXPECT_EQ(dirty, std::vector<uint64_t>{kData});
  EXPECT_EQ(grants.dirty_pages(), 1u);
}

TEST_F(GrantTableTest, MapsHoldTheGrantUntilUnmappedAtTheSameAddress) {
  grant(3, kData, TG_GTF_permit_access | TG_GTF_readonly);
  uint64_t gfn = 0;
  uint32_t handle = 0;
  EXPECT_EQ(grants.map(3, false, 0x400000, &gfn, &handle), -TG_EACCES);
  ASSERT_EQ(grants.map(3, true, 0x400000, &gfn, &handle), 0);
  EXPECT_EQ(gfn, kData);
  ASSERT_NE(grants.mapping(handle), nullptr);
  EXPECT_EQ(entry(3).flags, TG_GTF_permit_access | TG_GTF_readonly | TG_GTF_reading);
  GrantTable::Mapping was;
  EXPECT_EQ(grants.unmap(handle, 0x401000, &was), -TG_EINVAL);
  EXPECT_EQ(grants.unmap(handle + 1, 0x400000, &was), -TG_EINVAL);
  EXPECT_EQ(grants.unmap(handle, 0x400000, &was), 0);
  EXPECT_EQ(was.gfn, kData);
  EXPECT_EQ(grants.mapping(handle), nullptr);
  EXPECT_EQ(entry(3).flags, TG_GTF_permit_access | TG_GTF_readonly);
  EXPECT_EQ(grants.unmap(handle, 0x400000, &was), -TG_EINVAL) << "a handle is used once";
}

}  // namespace
}  // namespace tortuga
