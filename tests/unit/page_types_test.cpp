// Page types, reference counts and entry validation (ABI.md 8.2-8.4): the
// FrameTable on its own, then the same rules as the guest meets them
// through PvMmu's pin and mmu_update on a model domain.
#include "mmu/page_types.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>

#include <tortuga/cpu.h>
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "mmu_model_domain.h"

namespace tortuga {
namespace {

using namespace tortuga::test;

// ---------------------------------------------------------------------------
// FrameTable alone, reading entries straight from RAM.

class RamReader : public EntryReader {
 public:
  explicit RamReader(const GuestMemory& memory) : memory_(memory) {}
  uint64_t read_entry(uint64_t gpa) const override {
    auto* e = memory_.ram_object<uint64_t>(gpa);
    if (e == nullptr) throw std::logic_error("entry outside RAM");
    return *e;
  }

 private:
  const GuestMemory& memory_;
};

class FrameTableTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kFrames = 32;
  uint64_t& ram(uint64_t gfn, unsigned index) { return *memory.ram_object<uint64_t>(entry_gpa(gfn, index)); }

  // Every frame writable, with no reference of any kind.
  void expect_all_unreferenced() {
    for (uint64_t gfn = 0; gfn < kFrames; ++gfn) {
      SCOPED_TRACE(gfn);
      const FrameInfo& f = table.at(gfn);
      EXPECT_EQ(f.type, PageType::kWritable);
      EXPECT_EQ(f.type_refs, 0u);
      EXPECT_EQ(f.mappings, 0u);
      EXPECT_EQ(f.writable_mappings, 0u);
      EXPECT_FALSE(f.validating);
    }
  }

  GuestMemory memory{kFrames * 4096, reserved_area::kGpa, reserved_area::kSize};
  RamReader reader{memory};
  FrameTable table{kFrames, reader};
};

TEST_F(FrameTableTest, FreshFramesAreWritableRamWithoutReferences) {
  EXPECT_EQ(table.nr_frames(), kFrames);
  for (uint64_t gfn = 0; gfn < kFrames; ++gfn) EXPECT_TRUE(table.is_ram(gfn)) << gfn;
  EXPECT_FALSE(table.is_ram(kFrames));
  EXPECT_FALSE(table.is_ram(~uint64_t{0}));
  expect_all_unreferenced();
  EXPECT_FALSE(table.flush_needed());
  EXPECT_FALSE(table.maybe_cached(5));
}

TEST_F(FrameTableTest, TypingAnL2TypesItsL1AndCountsEveryEntry) {
  ram(2, 0) = pte_to(3, kTable);
  ram(2, 1) = pte_to(3, kTable);
  ram(2, 7) = pte_to(3, kP | kUS);
  ram(3, 0) = pte_to(5, kPageRw);
  ram(3, 1) = pte_to(6, kPageRo);
  ram(3, 2) = pte_to(5, kPageRo);
  ram(3, 3) = pte_to(7, kRW);  // not present: no reference
  ASSERT_EQ(table.get_type(2, 2), 0);
  EXPECT_EQ(table.at(2).type, PageType::kL2);
  EXPECT_EQ(table.at(2).type_refs, 1u);
  EXPECT_EQ(table.at(3).type, PageType::kL1);
  EXPECT_EQ(table.at(3).type_refs, 3u);
  EXPECT_EQ(table.at(5).mappings, 2u);
  EXPECT_EQ(table.at(5).writable_mappings, 1u);
  EXPECT_EQ(table.at(6).mappings, 1u);
  EXPECT_EQ(table.at(6).writable_mappings, 0u);
  EXPECT_EQ(table.at(7).mappings, 0u);

  table.put_type(2);
  expect_all_unreferenced();
}

TEST_F(FrameTableTest, SecondTypingOfTheSameLevelOnlyCounts) {
  ram(3, 0) = pte_to(5, kPageRw);
  ASSERT_EQ(table.get_type(3, 1), 0);
  ASSERT_EQ(table.get_type(3, 1), 0);
  EXPECT_EQ(table.at(3).type_refs, 2u);
  EXPECT_EQ(table.at(5).mappings, 1u) << "the entries are validated once";
  table.put_type(3);
  EXPECT_EQ(table.at(3).type, PageType::kL1);
  EXPECT_EQ(table.at(5).mappings, 1u);
  table.put_type(3);
  expect_all_unreferenced();
}

TEST_F(FrameTableTest, AnotherLevelIsRefusedWhileTyped) {
  ASSERT_EQ(table.get_type(3, 1), 0);
  for (unsigned level : {2u, 3u, 4u}) EXPECT_EQ(table.get_type(3, level), -TG_EINVAL) << level;
  EXPECT_EQ(table.at(3).type_refs, 1u);
  table.put_type(3);
}

TEST_F(FrameTableTest, L1ValidationIsAllOrNothing) {
  for (unsigned i = 0; i < 300; ++i) ram(2, i) = pte_to(5 + i % 4, (i % 2) ? kPageRw : kPageRo);
  for (uint64_t bad : {pte_to(5, kPageRo | (1ULL << 60)), pte_to(kFrames, kPageRo), pte_to(2, kPageRw)}) {
    SCOPED_TRACE(bad);
    ram(2, 300) = bad;
    ram(2, 301) = pte_to(6, kPageRw);
    int expected = (bad & TG_PTE_PKEY) ? -TG_EINVAL : -TG_EPERM;
    EXPECT_EQ(table.get_type(2, 1), expected);
    expect_all_unreferenced();
  }
}

TEST_F(FrameTableTest, L2ValidationIsAllOrNothing) {
  ram(3, 0) = pte_to(5, kPageRw);
  ram(4, 9) = pte_to(6, kPageRo);
  for (unsigned i = 0; i < 300; ++i) ram(2, i) = pte_to(3 + i % 2, kTable);
  table.at(9).type = PageType::kVmm;
  ram(10, 0) = pte_to(11, kPageRw);
  ASSERT_EQ(table.get_type(10, 1), 0);  // 11 now has a writable mapping
  struct Case {
    uint64_t entry;
    int error;
  } cases[] = {
      {pte_to(3, kTable | kPS), -TG_EINVAL},           // large page
      {pte_to(3, kTable | (1ULL << 62)), -TG_EINVAL},  // protection key
      {pte_to(kFrames + 3, kTable), -TG_EPERM},        // not RAM
      {pte_to(2, kTable), -TG_EINVAL},                 // itself: another level
      {pte_to(9, kTable), -TG_EBUSY},                  // VMM frame
      {pte_to(11, kTable), -TG_EBUSY},                 // writable mappings
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.entry);
    ram(2, 300) = c.entry;
    EXPECT_EQ(table.get_type(2, 2), c.error);
    for (uint64_t gfn : {2, 3, 4}) {
      EXPECT_EQ(table.at(gfn).type, PageType::kWritable) << gfn;
      EXPECT_EQ(table.at(gfn).type_refs, 0u) << gfn;
    }
    EXPECT_EQ(table.at(5).mappings, 0u);
    EXPECT_EQ(table.at(6).mappings, 0u);
    EXPECT_FALSE(table.at(2).validating);
  }
  table.put_type(10);
  table.at(9).type = PageType::kWritable;
  expect_all_unreferenced();
}

TEST_F(FrameTableTest, LastReferenceDropsTheWholeTree) {
  ram(1, 0) = pte_to(2, kTable);
  ram(2, 0) = pte_to(3, kTable);
  ram(3, 0) = pte_to(4, kTable);
  ram(4, 0) = pte_to(5, kPageRw);
  ram(4, 1) = pte_to(6, kPageRo);
  ASSERT_EQ(table.get_type(1, 4), 0);
  EXPECT_EQ(table.at(2).type, PageType::kL3);
  EXPECT_EQ(table.at(3).type, PageType::kL2);
  EXPECT_EQ(table.at(4).type, PageType::kL1);
  table.put_type(1);
  expect_all_unreferenced();
  for (uint64_t gfn : {1, 2, 3, 4}) EXPECT_TRUE(table.maybe_cached(gfn)) << gfn << " stopped being a table";
  EXPECT_TRUE(table.maybe_cached(5)) << "lost a writable mapping";
  EXPECT_FALSE(table.maybe_cached(6)) << "only a read-only mapping went";
}

TEST_F(FrameTableTest, ReservedL4SlotsAreNeitherValidatedNorCounted) {
  for (unsigned slot = TG_RESERVED_L4_FIRST; slot <= TG_RESERVED_L4_LAST; ++slot) ram(1, slot) = pte_to(2, kTable);
  ram(1, TG_RESERVED_L4_SLOT) = reserved_area::l4_entry();
  ASSERT_EQ(table.get_type(1, 4), 0);
  EXPECT_EQ(table.at(2).type, PageType::kWritable);
  EXPECT_EQ(table.at(2).type_refs, 0u);
  table.put_type(1);
  expect_all_unreferenced();
}

TEST_F(FrameTableTest, FrameThatLostAWritableMappingNeedsAFlushBeforeItIsTyped) {
  ram(3, 0) = pte_to(5, kPageRw);
  ASSERT_EQ(table.get_type(3, 1), 0);
  table.put_type(3);  // the writable mapping of 5 goes; a TLB may keep it
  EXPECT_FALSE(table.flush_needed());
  EXPECT_TRUE(table.maybe_cached(5));
  ASSERT_EQ(table.get_type(5, 1), 0);
  EXPECT_TRUE(table.flush_needed());
  table.flushed();
  EXPECT_FALSE(table.flush_needed());
  EXPECT_FALSE(table.maybe_cached(5));
  table.put_type(5);
}

TEST_F(FrameTableTest, FrameThatStoppedBeingATableNeedsAFlushBeforeAWritableMapping) {
  ASSERT_EQ(table.get_type(5, 1), 0);
  table.put_type(5);
  ram(3, 0) = pte_to(5, kPageRo);
  ASSERT_EQ(table.get_type(3, 1), 0);
  EXPECT_FALSE(table.flush_needed()) << "a read-only mapping is harmless";
  table.put_type(3);
  ram(4, 0) = pte_to(5, kPageRw);  // 4 is a fresh frame: only 5 is stale
  ASSERT_EQ(table.get_type(4, 1), 0);
  EXPECT_TRUE(table.flush_needed());
  table.put_type(4);
}

TEST_F(FrameTableTest, AfterAFlushNothingIsStale) {
  ram(3, 0) = pte_to(5, kPageRw);
  ASSERT_EQ(table.get_type(3, 1), 0);
  table.put_type(3);
  table.flushed();
  EXPECT_FALSE(table.maybe_cached(3));
  EXPECT_FALSE(table.maybe_cached(5));
  ASSERT_EQ(table.get_type(5, 1), 0);
  ram(4, 0) = pte_to(3, kPageRw);
  ASSERT_EQ(table.get_type(4, 1), 0);
  EXPECT_FALSE(table.flush_needed());
  table.put_type(4);
  table.put_type(5);
}

// ---------------------------------------------------------------------------
// The same rules through PvMmu, as the guest meets them.

class PageTypeRulesTest : public ::testing::Test, protected MmuModelDomain {
 protected:
  // A typed chain: L4 1 (pinned) -> L3 2 -> L2 3 -> L1 4, and the table of
  // each level.
  static constexpr uint64_t kL4 = 1, kL3 = 2, kL2 = 3, kL1 = 4;
  static constexpr uint64_t kTableOf[5] = {0, kL1, kL2, kL3, kL4};
  // Data frames, and frames left zero for new tables.
  static constexpr uint64_t kData = 10, kFresh = 20;

  void SetUp() override {
    chain(kL4, kL3, kL2, kL1);
    ram(kL1, 0) = pte_to(kData, kPageRw);
    ASSERT_EQ(pin(kL4, 4), 0);
    commit();
    ASSERT_EQ(invariants(), "");
  }
  void TearDown() override {
    EXPECT_EQ(invariants(), "") << "before the writes are applied";
    commit();
    EXPECT_EQ(invariants(), "") << "after";
  }

  // A valid present entry for a level-<level> table that takes a fresh
  // frame (a new, empty table one level down, or a data page for an L1).
  static uint64_t fresh_target(unsigned level, uint64_t extra = 0) {
    return pte_to(level == 1 ? kData + 1 : kFresh + level, (level == 1 ? kPageRw : kTable) | extra);
  }
};

TEST_F(PageTypeRulesTest, PinningTheChainTypedEveryLevel) {
  EXPECT_EQ(frame(kL4).type, PageType::kL4);
  EXPECT_TRUE(frame(kL4).pinned);
  EXPECT_EQ(frame(kL3).type, PageType::kL3);
  EXPECT_EQ(frame(kL2).type, PageType::kL2);
  EXPECT_EQ(frame(kL1).type, PageType::kL1);
  for (uint64_t gfn : {kL4, kL3, kL2, kL1}) EXPECT_EQ(frame(gfn).type_refs, 1u) << gfn;
  EXPECT_FALSE(frame(kL3).pinned);
  EXPECT_EQ(frame(kData).mappings, 1u);
  EXPECT_EQ(frame(kData).writable_mappings, 1u);
}

TEST_F(PageTypeRulesTest, FreshTableIsValidatedAllOrNothing) {
  const uint64_t l1 = kFresh;
  for (unsigned i = 0; i < 300; ++i) ram(l1, i) = pte_to(kData + 1 + i % 3, (i & 1) ? kPageRw : kPageRo);
  ram(l1, 300) = pte_to(kData + 1, kPageRo | TG_PTE_PKEY);
  ram(l1, 301) = pte_to(kData + 5, kPageRw);
  EXPECT_EQ(update(kL2, 1, pte_to(l1, kTable)), -TG_EINVAL);
  EXPECT_EQ(pin(l1, 1), -TG_EINVAL);
  EXPECT_EQ(frame(l1).type, PageType::kWritable);
  EXPECT_EQ(frame(l1).type_refs, 0u);
  for (uint64_t gfn = kData + 1; gfn <= kData + 5; ++gfn) {
    EXPECT_EQ(frame(gfn).mappings, 0u) << gfn;
    EXPECT_EQ(frame(gfn).writable_mappings, 0u) << gfn;
  }
  EXPECT_EQ(program.store_count(), 0u);
  EXPECT_EQ(entry(kL2, 1), 0u);
  EXPECT_EQ(invariants(), "");

  ram(l1, 300) = pte_to(kData + 1, kPageRo);
  ASSERT_EQ(update(kL2, 1, pte_to(l1, kTable)), 0);
  EXPECT_EQ(frame(l1).type, PageType::kL1);
  EXPECT_EQ(frame(kData + 1).mappings, 101u);
  EXPECT_EQ(frame(kData + 5).writable_mappings, 1u);
}

TEST_F(PageTypeRulesTest, ReservedL4SlotsRefuseEveryRequest) {
  for (unsigned slot = TG_RESERVED_L4_FIRST; slot <= TG_RESERVED_L4_LAST; ++slot) {
    SCOPED_TRACE(slot);
    uint64_t before = entry(kL4, slot);
    for (uint64_t kind : {TG_MMU_NORMAL_PT_UPDATE, TG_MMU_PT_UPDATE_PRESERVE_AD, TG_MMU_PT_CLEAR_BITS}) {
      for (uint64_t val :
           {uint64_t{0}, pte_to(kFresh, kTable), uint64_t{0x7fe}, reserved_area::l4_entry(), ~uint64_t{0}}) {
        EXPECT_EQ(update(kL4, slot, val, kind), -TG_EPERM) << kind << " " << val;
      }
    }
    EXPECT_EQ(entry(kL4, slot), before);
  }
  EXPECT_EQ(program.store_count(), 0u);
  EXPECT_EQ(frame(kFresh).type, PageType::kWritable);
  EXPECT_EQ(entry(kL4, TG_RESERVED_L4_SLOT), reserved_area::l4_entry());
  // The slots around the range are the guest's.
  EXPECT_EQ(update(kL4, TG_RESERVED_L4_FIRST - 1, pte_to(kFresh, kTable)), 0);
  EXPECT_EQ(update(kL4, TG_RESERVED_L4_LAST + 1, pte_to(kFresh, kTable)), 0);
  EXPECT_EQ(frame(kFresh).type_refs, 2u);
}

TEST_F(PageTypeRulesTest, ProtectionKeyBitsAreRefusedAtEveryLevel) {
  for (unsigned level = 1; level <= 4; ++level) {
    for (unsigned bit = 59; bit <= 62; ++bit) {
      SCOPED_TRACE(testing::Message() << "L" << level << " bit " << bit);
      EXPECT_EQ(update(kTableOf[level], 5, fresh_target(level, 1ULL << bit)), -TG_EINVAL);
      EXPECT_EQ(entry(kTableOf[level], 5), 0u);
    }
  }
  EXPECT_EQ(program.store_count(), 0u);
  for (unsigned level = 2; level <= 4; ++level) EXPECT_EQ(frame(kFresh + level).type, PageType::kWritable);
  EXPECT_EQ(frame(kData + 1).mappings, 0u);
}

TEST_F(PageTypeRulesTest, LargePagesAreRefusedAboveL1) {
  for (unsigned level = 2; level <= 4; ++level) {
    SCOPED_TRACE(level);
    EXPECT_EQ(update(kTableOf[level], 5, fresh_target(level, kPS)), -TG_EINVAL);
    // A large page would map RAM directly, without a table below.
    EXPECT_EQ(update(kTableOf[level], 6, pte_to(kData + 2, kPageRw | kPS)), -TG_EINVAL);
  }
  // Bit 7 of an L1 entry is PAT.
  EXPECT_EQ(update(kL1, 5, pte_to(kData + 1, kPageRo | TG_PTE_PAT)), 0);
  EXPECT_EQ(entry(kL1, 5), pte_to(kData + 1, kPageRo | TG_PTE_PAT));
}

TEST_F(PageTypeRulesTest, EveryAllowedBitIsAccepted) {
  uint64_t l1_flags = TG_PTE_L1_ALLOWED & ~TG_PTE_FRAME & ~kRW;  // RW tested elsewhere
  ASSERT_EQ(update(kL1, 7, pte_to(kData + 1, l1_flags)), 0);
  EXPECT_EQ(entry(kL1, 7), pte_to(kData + 1, l1_flags & ~kG));
  uint64_t upper_flags = TG_PTE_UPPER_ALLOWED & ~TG_PTE_FRAME;
  for (unsigned level = 2; level <= 4; ++level) {
    SCOPED_TRACE(level);
    ASSERT_EQ(update(kTableOf[level], 7, fresh_target(level, upper_flags)), 0);
    EXPECT_EQ(entry(kTableOf[level], 7), fresh_target(level, upper_flags & ~kG));
  }
}

TEST_F(PageTypeRulesTest, FramesOutsideDomainRamAreRefused) {
  const uint64_t outside[] = {kFrames, kFrames + 1, TG_PTE_FRAME >> 12, reserved_area::kGpa >> 12,
                              (reserved_area::kGpa >> 12) + 2};
  for (unsigned level = 1; level <= 4; ++level) {
    for (uint64_t gfn : outside) {
      SCOPED_TRACE(testing::Message() << "L" << level << " gfn " << gfn);
      EXPECT_EQ(update(kTableOf[level], 9, pte_to(gfn, kTable)), -TG_EPERM);
      EXPECT_EQ(update(kTableOf[level], 9, pte_to(gfn, kPageRo)), -TG_EPERM);
    }
  }
  EXPECT_EQ(program.store_count(), 0u);
}

TEST_F(PageTypeRulesTest, EntriesToATableOfAnotherLevelAreRefused) {
  struct Case {
    unsigned level;  // of the table written
    uint64_t target;
  } cases[] = {
      {2, kL2}, {2, kL3}, {2, kL4},  // an L2 entry needs an L1
      {3, kL1}, {3, kL3}, {3, kL4},  // an L3 entry needs an L2
      {4, kL1}, {4, kL2}, {4, kL4},  // an L4 entry needs an L3; kL4 is itself
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "L" << c.level << " -> " << c.target);
    EXPECT_EQ(update(kTableOf[c.level], 9, pte_to(c.target, kP | kUS)), -TG_EINVAL);
    EXPECT_EQ(frame(c.target).type_refs, 1u);
  }
  // A second pinned L4 cannot be linked from the first either.
  ram(kFresh, 0) = 0;
  ASSERT_EQ(pin(kFresh, 4), 0);
  EXPECT_EQ(update(kL4, 9, pte_to(kFresh, kTable)), -TG_EINVAL);
  EXPECT_EQ(program.store_count(), 16u) << "only the new L4's reserved slots";
}

TEST_F(PageTypeRulesTest, VmmFramesAreMappableButNeverTables) {
  const uint64_t vmm = 30;
  mmu.set_vmm_frame(vmm);
  EXPECT_EQ(frame(vmm).type, PageType::kVmm);
  for (unsigned level = 2; level <= 4; ++level)
    EXPECT_EQ(update(kTableOf[level], 9, pte_to(vmm, kTable)), -TG_EBUSY) << level;
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(pin(vmm, level), -TG_EBUSY) << level;
  EXPECT_EQ(update(kL1, 9, pte_to(vmm, kPageRw)), 0);
  EXPECT_EQ(update(kL1, 10, pte_to(vmm, kPageRo)), 0);
  EXPECT_EQ(frame(vmm).mappings, 2u);
  EXPECT_EQ(frame(vmm).writable_mappings, 1u);
}

TEST_F(PageTypeRulesTest, FramesWithWritableMappingsCannotBeTyped) {
  // kData is mapped writable by kL1[0].
  for (unsigned level = 2; level <= 4; ++level) {
    EXPECT_EQ(update(kTableOf[level], 9, pte_to(kData, kTable)), -TG_EBUSY) << level;
  }
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(pin(kData, level), -TG_EBUSY) << level;
  EXPECT_EQ(frame(kData).type, PageType::kWritable);
  // Read-only, it can.
  ASSERT_EQ(update(kL1, 0, pte_to(kData, kPageRo)), 0);
  EXPECT_EQ(update(kL2, 9, pte_to(kData, kTable)), 0);
  EXPECT_EQ(frame(kData).type, PageType::kL1);
  EXPECT_EQ(frame(kData).mappings, 1u);
}

TEST_F(PageTypeRulesTest, NoTableCanBeMappedWritable) {
  for (uint64_t table : {kL1, kL2, kL3, kL4}) {
    SCOPED_TRACE(table);
    EXPECT_EQ(update(kL1, 9, pte_to(table, kPageRw)), -TG_EPERM);
    EXPECT_EQ(frame(table).mappings, 0u);
  }
  // Read-only is always allowed, including the L1 mapping itself.
  unsigned index = 9;
  for (uint64_t table : {kL1, kL2, kL3, kL4}) ASSERT_EQ(update(kL1, index++, pte_to(table, kPageRo)), 0) << table;
  for (uint64_t table : {kL1, kL2, kL3, kL4}) EXPECT_EQ(frame(table).mappings, 1u) << table;
  // And that mapping cannot be made writable afterwards.
  EXPECT_EQ(update(kL1, 9, pte_to(kL1, kPageRw)), -TG_EPERM);
  EXPECT_EQ(update(kL1, 10, pte_to(kL2, kPageRw), TG_MMU_PT_UPDATE_PRESERVE_AD), -TG_EPERM);
  EXPECT_EQ(entry(kL1, 9), pte_to(kL1, kPageRo));
}

TEST_F(PageTypeRulesTest, TableThatMapsItselfWritableCannotBeTyped) {
  const uint64_t l1 = kFresh;
  ram(l1, 5) = pte_to(l1, kPageRw);
  EXPECT_EQ(pin(l1, 1), -TG_EPERM);
  EXPECT_EQ(update(kL2, 1, pte_to(l1, kTable)), -TG_EPERM);
  EXPECT_EQ(frame(l1).type, PageType::kWritable);
  EXPECT_EQ(frame(l1).mappings, 0u);

  ram(l1, 5) = pte_to(l1, kPageRo);
  ASSERT_EQ(pin(l1, 1), 0);
  EXPECT_EQ(frame(l1).mappings, 1u);
  EXPECT_EQ(frame(l1).writable_mappings, 0u);
  EXPECT_EQ(update(l1, 5, pte_to(l1, kPageRw)), -TG_EPERM);
}

TEST_F(PageTypeRulesTest, TablesCannotReferenceThemselves) {
  // Recursive page tables would need one frame typed at two levels.
  const uint64_t l2 = kFresh, l3 = kFresh + 1;
  ram(l2, 3) = pte_to(l2, kTable);
  EXPECT_EQ(pin(l2, 2), -TG_EINVAL);
  ram(l3, 3) = pte_to(l3, kP | kUS);
  EXPECT_EQ(pin(l3, 3), -TG_EINVAL);
  EXPECT_EQ(update(kL4, 3, pte_to(kL4, kP | kUS)), -TG_EINVAL);
  EXPECT_EQ(update(kL2, 3, pte_to(kL2, kP | kUS)), -TG_EINVAL);
  EXPECT_EQ(frame(l2).type, PageType::kWritable);
  EXPECT_EQ(frame(l3).type, PageType::kWritable);
}

TEST_F(PageTypeRulesTest, NotPresentEntriesAreStoredAsWritten) {
  const uint64_t values[] = {0x2,
                             ~uint64_t{0} & ~kP,
                             TG_PTE_PKEY | kPS | kG | 0x1000,
                             pte_to(kFrames + 7, kRW | kUS),
                             pte_to(kL1, kRW),
                             0x8000000000000000ULL};
  for (unsigned level = 1; level <= 4; ++level) {
    unsigned index = 20;
    for (uint64_t v : values) {
      SCOPED_TRACE(testing::Message() << "L" << level << " " << v);
      ASSERT_EQ(update(kTableOf[level], index, v), 0);
      EXPECT_EQ(entry(kTableOf[level], index), v);
      ++index;
    }
  }
  EXPECT_EQ(frame(kL1).mappings, 0u);
  EXPECT_EQ(frame(kL1).type_refs, 1u);
}

TEST_F(PageTypeRulesTest, PresentEntriesAreStoredWithUsSetAndGClear) {
  for (unsigned level = 1; level <= 4; ++level) {
    SCOPED_TRACE(level);
    uint64_t written = (fresh_target(level) & ~kUS) | kG;
    ASSERT_EQ(update(kTableOf[level], 11, written), 0);
    EXPECT_EQ(entry(kTableOf[level], 11), (written | kUS) & ~kG);
    EXPECT_EQ(program.stores().back().value, (written | kUS) & ~kG);
  }
}

// ABI.md 8.4: US is stored as 1 and G as 0 in *every* present entry,
// including the entries of a table that is typed by pinning or linking it
// (the guest built them in an ordinary page).
TEST_F(PageTypeRulesTest, EntriesOfANewlyTypedTableAreStoredWithUsSetAndGClear) {
  const uint64_t l1 = kFresh, l2 = kFresh + 1;
  ram(l1, 0) = pte_to(kData + 1, kP | kRW | kG);  // US clear, G set
  ram(l1, 1) = pte_to(kData + 2, kP | kUS | kG);
  ram(l2, 0) = pte_to(l1, kP | kRW);  // US clear
  ASSERT_EQ(update(kL3, 1, pte_to(l2, kTable)), 0);
  EXPECT_EQ(entry(l1, 0), pte_to(kData + 1, kP | kRW | kUS));
  EXPECT_EQ(entry(l1, 1), pte_to(kData + 2, kP | kUS));
  EXPECT_EQ(entry(l2, 0), pte_to(l1, kP | kRW | kUS));
  EXPECT_EQ(invariants(), "");
  commit();
  EXPECT_EQ(ram(l1, 0), pte_to(kData + 1, kP | kRW | kUS));
  EXPECT_EQ(ram(l2, 0), pte_to(l1, kP | kRW | kUS));
  EXPECT_EQ(invariants(), "");
  // Restore a clean state for TearDown's checks whatever happened above.
  ASSERT_EQ(update(kL3, 1, 0), 0);
}

TEST_F(PageTypeRulesTest, ReferencesMoveFromTheOldTargetToTheNew) {
  // L1: a writable mapping of kData becomes a read-only one of kData + 1.
  ASSERT_EQ(update(kL1, 0, pte_to(kData + 1, kPageRo)), 0);
  EXPECT_EQ(frame(kData).mappings, 0u);
  EXPECT_EQ(frame(kData).writable_mappings, 0u);
  EXPECT_EQ(frame(kData + 1).mappings, 1u);
  EXPECT_EQ(frame(kData + 1).writable_mappings, 0u);
  // L2: the entry moves from kL1 to a new L1, which takes the type; kL1
  // loses it and drops its own mapping.
  const uint64_t l1b = kFresh;
  ram(l1b, 3) = pte_to(kData + 2, kPageRw);
  ASSERT_EQ(update(kL2, 0, pte_to(l1b, kTable)), 0);
  EXPECT_EQ(frame(l1b).type, PageType::kL1);
  EXPECT_EQ(frame(l1b).type_refs, 1u);
  EXPECT_EQ(frame(kL1).type, PageType::kWritable);
  EXPECT_EQ(frame(kL1).type_refs, 0u);
  EXPECT_EQ(frame(kData + 1).mappings, 0u);
  EXPECT_EQ(frame(kData + 2).writable_mappings, 1u);
  EXPECT_EQ(invariants(), "");
}

TEST_F(PageTypeRulesTest, RewritingAnEntryWithTheSameTargetKeepsTheType) {
  ASSERT_EQ(update(kL2, 0, pte_to(kL1, kP | kUS | TG_PTE_NX)), 0);
  EXPECT_EQ(frame(kL1).type, PageType::kL1);
  EXPECT_EQ(frame(kL1).type_refs, 1u);
  EXPECT_EQ(frame(kData).writable_mappings, 1u);
  ASSERT_EQ(update(kL1, 0, pte_to(kData, kPageRw | kA | kD)), 0);
  EXPECT_EQ(frame(kData).mappings, 1u);
  EXPECT_EQ(frame(kData).writable_mappings, 1u);
}

TEST_F(PageTypeRulesTest, LastReferenceGoingMakesTheTreeWritableAgain) {
  ASSERT_EQ(update(kL4, 0, 0), 0);
  for (uint64_t gfn : {kL3, kL2, kL1}) {
    EXPECT_EQ(frame(gfn).type, PageType::kWritable) << gfn;
    EXPECT_EQ(frame(gfn).type_refs, 0u) << gfn;
  }
  EXPECT_EQ(frame(kData).mappings, 0u);
  EXPECT_EQ(frame(kData).writable_mappings, 0u);
  EXPECT_EQ(invariants(), "");
  // The former tables are ordinary memory: mappable writable (after a
  // flush the VMM adds itself) and written as is.
  unsigned index = 1;
  ASSERT_EQ(pin(kFresh, 1), 0);
  for (uint64_t gfn : {kL3, kL2, kL1}) EXPECT_EQ(update(kFresh, index++, pte_to(gfn, kPageRw)), 0) << gfn;
  EXPECT_TRUE(program.flushes_tlb());
  EXPECT_EQ(update(kL2, 0, pte_to(kFrames + 1, kTable | TG_PTE_PKEY)), 0);
}

TEST_F(PageTypeRulesTest, SharedTableKeepsItsTypeWhileReferenced) {
  ASSERT_EQ(update(kL2, 1, pte_to(kL1, kTable)), 0);
  EXPECT_EQ(frame(kL1).type_refs, 2u);
  ASSERT_EQ(update(kL2, 0, 0), 0);
  EXPECT_EQ(frame(kL1).type, PageType::kL1);
  EXPECT_EQ(frame(kData).mappings, 1u);
  ASSERT_EQ(update(kL2, 1, 0), 0);
  EXPECT_EQ(frame(kL1).type, PageType::kWritable);
  EXPECT_EQ(frame(kData).mappings, 0u);
}

TEST_F(PageTypeRulesTest, RefusedUpdateChangesNothing) {
  uint64_t before = entry(kL1, 0);
  EXPECT_EQ(update(kL1, 0, pte_to(kL2, kPageRw)), -TG_EPERM);
  EXPECT_EQ(update(kL2, 0, pte_to(kL1, kTable | kPS)), -TG_EINVAL);
  EXPECT_EQ(entry(kL1, 0), before);
  EXPECT_EQ(entry(kL2, 0), pte_to(kL1, kTable));
  EXPECT_EQ(frame(kData).writable_mappings, 1u);
  EXPECT_EQ(frame(kL1).type_refs, 1u);
  EXPECT_EQ(program.store_count(), 0u);
  EXPECT_TRUE(mmu.pending().empty());
}

}  // namespace
}  // namespace tortuga
