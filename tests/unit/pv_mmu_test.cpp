// The PV MMU's operations on a model domain (ABI.md 8.5-8.7, 13): pinning,
// base pointers, the three mmu_update request types, update_va_mapping's
// walk, memory reservation, the TLB flushes the VMM adds on its own, and
// pending writes read back before the routine has applied them.
#include "mmu/pv_mmu.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include <tortuga/cpu.h>
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "mmu_model_domain.h"
#include "mmu/page_table_bits.h"

namespace tortuga {
namespace {

using namespace tortuga::test;

class PvMmuTest : public ::testing::Test, protected MmuModelDomain {
 protected:
  // A chain built in RAM (not typed until a test pins it):
  // L4 1 -> L3 2 -> L2 3 -> L1 4 -> data 10 (RW), 11 (RO).
  static constexpr uint64_t kL4 = 1, kL3 = 2, kL2 = 3, kL1 = 4;
  static constexpr uint64_t kData = 10, kFresh = 20;

  void SetUp() override {
    chain(kL4, kL3, kL2, kL1);
    ram(kL1, 0) = pte_to(kData, kPageRw);
    ram(kL1, 1) = pte_to(kData + 1, kPageRo);
  }
  void TearDown() override {
    EXPECT_EQ(invariants(), "") << "before the writes are applied";
    commit();
    EXPECT_EQ(invariants(), "") << "after";
  }
  void pin_chain() {
    ASSERT_EQ(pin(kL4, 4), 0);
    commit();
    ASSERT_EQ(invariants(), "");
  }
  // The VA that kL4[l4] kL3[l3] kL2[l2] kL1[l1] translates.
  static uint64_t va(unsigned l4, unsigned l3, unsigned l2, unsigned l1) {
    uint64_t v = (uint64_t{l4} << 39) | (uint64_t{l3} << 30) | (uint64_t{l2} << 21) | (uint64_t{l1} << 12);
    return (v & (1ULL << 47)) ? v | 0xffff000000000000ULL : v;
  }
};

// ---------------------------------------------------------------------------
// Pinning (8.5)

TEST_F(PvMmuTest, EveryLevelCanBePinned) {
  const uint64_t tables[] = {0, kFresh + 1, kFresh + 2, kFresh + 3, kFresh + 4};
  for (unsigned level = 1; level <= 4; ++level) {
    SCOPED_TRACE(level);
    ASSERT_EQ(pin(tables[level], level), 0);
    EXPECT_EQ(frame(tables[level]).type, table_type(level));
    EXPECT_TRUE(frame(tables[level]).pinned);
    EXPECT_EQ(frame(tables[level]).type_refs, 1u);
    EXPECT_EQ(invariants(), "");
  }
}

TEST_F(PvMmuTest, PinningAnL4TypesTheTablesBelow) {
  pin_chain();
  EXPECT_EQ(frame(kL3).type, PageType::kL3);
  EXPECT_EQ(frame(kL2).type, PageType::kL2);
  EXPECT_EQ(frame(kL1).type, PageType::kL1);
  EXPECT_FALSE(frame(kL3).pinned);
  EXPECT_EQ(frame(kData).writable_mappings, 1u);
  EXPECT_EQ(frame(kData + 1).mappings, 1u);
}

TEST_F(PvMmuTest, PinningTwiceIsEexist) {
  pin_chain();
  EXPECT_EQ(pin(kL4, 4), -TG_EEXIST);
  EXPECT_EQ(frame(kL4).type_refs, 1u);
  for (unsigned level = 1; level <= 3; ++level) {
    uint64_t gfn = kFresh + level;
    ASSERT_EQ(pin(gfn, level), 0);
    EXPECT_EQ(pin(gfn, level), -TG_EEXIST) << level;
    EXPECT_EQ(frame(gfn).type_refs, 1u);
  }
}

TEST_F(PvMmuTest, PinningATableThatIsOnlyReferencedAddsThePin) {
  pin_chain();
  ASSERT_EQ(pin(kL1, 1), 0);
  EXPECT_TRUE(frame(kL1).pinned);
  EXPECT_EQ(frame(kL1).type_refs, 2u);
  EXPECT_EQ(program.store_count(), 0u) << "no validation, nothing written";
  EXPECT_EQ(pin(kL1, 1), -TG_EEXIST);
}

TEST_F(PvMmuTest, PinningAtAnotherLevelThanTheTypeIsEinval) {
  pin_chain();
  for (unsigned level : {2u, 3u, 4u}) EXPECT_EQ(pin(kL1, level), -TG_EINVAL) << level;
  for (unsigned level : {1u, 3u, 4u}) EXPECT_EQ(pin(kL2, level), -TG_EINVAL) << level;
  for (unsigned level : {1u, 2u, 4u}) EXPECT_EQ(pin(kL3, level), -TG_EINVAL) << level;
  EXPECT_FALSE(frame(kL1).pinned);
  EXPECT_EQ(frame(kL1).type_refs, 1u);
}

TEST_F(PvMmuTest, PinningOutsideDomainRamIsEperm) {
  for (uint64_t gfn : {kFrames, kFrames + 1, reserved_area::kGpa >> 12, ~uint64_t{0} >> 12, ~uint64_t{0}}) {
    for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(pin(gfn, level), -TG_EPERM) << gfn << " L" << level;
  }
  ASSERT_TRUE(release(kFresh));
  EXPECT_EQ(pin(kFresh, 1), -TG_EPERM);
  EXPECT_EQ(program.store_count(), 0u);
}

TEST_F(PvMmuTest, PinningAFrameWithWritableMappingsIsEbusy) {
  pin_chain();
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(pin(kData, level), -TG_EBUSY) << level;
  EXPECT_EQ(frame(kData).type, PageType::kWritable);
  // A read-only mapping does not stop it.
  ASSERT_EQ(pin(kData + 1, 1), 0);
}

TEST_F(PvMmuTest, PinningAVmmFrameIsEbusy) {
  mmu.set_vmm_frame(kFresh);
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(pin(kFresh, level), -TG_EBUSY) << level;
  EXPECT_EQ(frame(kFresh).type, PageType::kVmm);
}

TEST_F(PvMmuTest, PinningATableWithABadEntryGivesItsErrorAndChangesNothing) {
  ram(kL1, 200) = pte_to(kData + 2, kPageRo | (1ULL << 59));
  EXPECT_EQ(pin(kL4, 4), -TG_EINVAL);
  ram(kL1, 200) = pte_to(kFrames, kPageRo);
  EXPECT_EQ(pin(kL4, 4), -TG_EPERM);
  ram(kL1, 200) = pte_to(kL3, kPageRw);
  EXPECT_EQ(pin(kL4, 4), -TG_EPERM);
  for (uint64_t gfn : {kL4, kL3, kL2, kL1}) {
    EXPECT_EQ(frame(gfn).type, PageType::kWritable) << gfn;
    EXPECT_FALSE(frame(gfn).pinned) << gfn;
  }
  EXPECT_EQ(frame(kData).mappings, 0u);
  EXPECT_EQ(program.store_count(), 0u);
  EXPECT_EQ(ram(kL4, TG_RESERVED_L4_SLOT), 0u);
}

TEST_F(PvMmuTest, PinnedL4GetsTheVmmSlotAndEmptyReservedSlots) {
  for (unsigned slot = TG_RESERVED_L4_FIRST; slot <= TG_RESERVED_L4_LAST; ++slot) {
    ram(kL4, slot) = (slot % 2) ? pte_to(kFresh, kTable) : 0xdead0000ULL;  // ignored, then replaced
  }
  ram(kL4, TG_RESERVED_L4_FIRST - 1) = pte_to(kFresh + 1, kTable);
  ram(kL4, TG_RESERVED_L4_LAST + 1) = 0x1234000ULL;
  ASSERT_EQ(pin(kL4, 4), 0);
  EXPECT_EQ(frame(kFresh).type, PageType::kWritable) << "reserved slots are not validated";
  EXPECT_EQ(frame(kFresh + 1).type, PageType::kL3);
  EXPECT_EQ(program.store_count(), 16u);
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "pending" : "applied");
    for (unsigned slot = TG_RESERVED_L4_FIRST; slot <= TG_RESERVED_L4_LAST; ++slot) {
      uint64_t expected = slot == TG_RESERVED_L4_SLOT ? reserved_area::l4_entry() : 0;
      EXPECT_EQ(entry(kL4, slot), expected) << slot;
    }
    EXPECT_EQ(entry(kL4, TG_RESERVED_L4_FIRST - 1), pte_to(kFresh + 1, kTable));
    EXPECT_EQ(entry(kL4, TG_RESERVED_L4_LAST + 1), 0x1234000ULL);
    EXPECT_EQ(entry(kL4, 0), pte_to(kL3, kTable));
    EXPECT_EQ(invariants(), "");
    commit();
  }
  EXPECT_EQ(ram(kL4, TG_RESERVED_L4_SLOT), reserved_area::l4_entry());
  EXPECT_EQ(TG_RESERVED_L4_SLOT, 257);
}

TEST_F(PvMmuTest, OnlyAnL4GetsTheVmmSlot) {
  for (unsigned level = 1; level <= 3; ++level) {
    ASSERT_EQ(pin(kFresh + level, level), 0);
    EXPECT_EQ(entry(kFresh + level, TG_RESERVED_L4_SLOT), 0u);
  }
  EXPECT_EQ(program.store_count(), 0u);
}

TEST_F(PvMmuTest, RepinnedL4GetsTheVmmSlotAgain) {
  pin_chain();
  ASSERT_EQ(unpin(kL4), 0);
  EXPECT_EQ(frame(kL4).type, PageType::kWritable);
  // Ordinary memory now: the guest may scribble on the slot.
  ASSERT_EQ(update(kL4, TG_RESERVED_L4_SLOT, 0x5555000ULL), 0);
  EXPECT_EQ(entry(kL4, TG_RESERVED_L4_SLOT), 0x5555000ULL);
  ASSERT_EQ(pin(kL4, 4), 0);
  EXPECT_EQ(entry(kL4, TG_RESERVED_L4_SLOT), reserved_area::l4_entry());
}

// ---------------------------------------------------------------------------
// Unpinning (8.5)

TEST_F(PvMmuTest, UnpinningWhatIsNotPinnedIsEinval) {
  EXPECT_EQ(unpin(kFresh), -TG_EINVAL);
  pin_chain();
  EXPECT_EQ(unpin(kL1), -TG_EINVAL) << "typed, but only referenced";
  EXPECT_EQ(frame(kL1).type_refs, 1u);
  mmu.set_vmm_frame(kFresh + 1);
  EXPECT_EQ(unpin(kFresh + 1), -TG_EINVAL);
}

TEST_F(PvMmuTest, UnpinningOutsideDomainRamIsEperm) {
  EXPECT_EQ(unpin(kFrames), -TG_EPERM);
  EXPECT_EQ(unpin(~uint64_t{0}), -TG_EPERM);
}

TEST_F(PvMmuTest, UnpinningTheLastReferenceDropsTheTree) {
  pin_chain();
  ASSERT_EQ(unpin(kL4), 0);
  for (uint64_t gfn : {kL4, kL3, kL2, kL1}) {
    EXPECT_EQ(frame(gfn).type, PageType::kWritable) << gfn;
    EXPECT_EQ(frame(gfn).type_refs, 0u) << gfn;
    EXPECT_FALSE(frame(gfn).pinned) << gfn;
  }
  EXPECT_EQ(frame(kData).mappings, 0u);
  EXPECT_EQ(unpin(kL4), -TG_EINVAL);
}

TEST_F(PvMmuTest, UnpinnedTableKeepsItsTypeWhileReferenced) {
  pin_chain();
  ASSERT_EQ(pin(kL1, 1), 0);
  ASSERT_EQ(unpin(kL1), 0);
  EXPECT_EQ(frame(kL1).type, PageType::kL1);
  EXPECT_FALSE(frame(kL1).pinned);
  EXPECT_EQ(frame(kL1).type_refs, 1u);
  // A pinned table outlives its last reference the other way round.
  ASSERT_EQ(pin(kL1, 1), 0);
  ASSERT_EQ(update(kL2, 0, 0), 0);
  EXPECT_EQ(frame(kL1).type, PageType::kL1);
  EXPECT_EQ(frame(kL1).type_refs, 1u);
  EXPECT_EQ(frame(kData).mappings, 1u);
  ASSERT_EQ(unpin(kL1), 0);
  EXPECT_EQ(frame(kL1).type, PageType::kWritable);
  EXPECT_EQ(frame(kData).mappings, 0u);
}

TEST_F(PvMmuTest, UnpinningABasePointerIsEbusy) {
  pin_chain();
  ASSERT_EQ(pin(kFresh, 4), 0);
  ASSERT_EQ(mmu.set_kernel_base(0, kL4), 0);
  ASSERT_EQ(mmu.set_user_base(0, kFresh), 0);
  EXPECT_EQ(unpin(kL4), -TG_EBUSY);
  EXPECT_EQ(unpin(kFresh), -TG_EBUSY);
  EXPECT_TRUE(frame(kL4).pinned);
  EXPECT_EQ(frame(kL4).type, PageType::kL4);
  // Once no vCPU uses them, they can go.
  ASSERT_EQ(mmu.set_user_base(0, 0), 0);
  EXPECT_EQ(unpin(kFresh), 0);
  ASSERT_EQ(pin(kFresh, 4), 0);
  ASSERT_EQ(mmu.set_kernel_base(0, kFresh), 0);
  EXPECT_EQ(unpin(kL4), 0);
  EXPECT_EQ(unpin(kFresh), -TG_EBUSY);
}

// ---------------------------------------------------------------------------
// Base pointers (8.5)

TEST_F(PvMmuTest, KernelBaseMustBeAPinnedL4) {
  pin_chain();
  ASSERT_EQ(pin(kFresh + 1, 1), 0);
  for (uint64_t gfn : {kFresh, kFresh + 1, kL3, kL2, kL1, kFrames, ~uint64_t{0}}) {
    EXPECT_EQ(mmu.set_kernel_base(0, gfn), -TG_EINVAL) << gfn;
  }
  ASSERT_EQ(mmu.set_kernel_base(0, kL4), 0);
  EXPECT_EQ(mmu.kernel_base(0), kL4);
  EXPECT_EQ(frame(kL4).base_pointer_refs, 1u);
  EXPECT_EQ(mmu.set_kernel_base(0, kL3), -TG_EINVAL);
  EXPECT_EQ(mmu.kernel_base(0), kL4) << "a refused base pointer changes nothing";
}

TEST_F(PvMmuTest, UserBaseMustBeAPinnedL4OrZero) {
  pin_chain();
  for (uint64_t gfn : {kFresh, kL3, kL1, kFrames}) EXPECT_EQ(mmu.set_user_base(0, gfn), -TG_EINVAL) << gfn;
  ASSERT_EQ(mmu.set_user_base(0, kL4), 0);
  EXPECT_EQ(mmu.user_base(0), kL4);
  EXPECT_EQ(frame(kL4).base_pointer_refs, 1u);
  ASSERT_EQ(mmu.set_user_base(0, 0), 0);
  EXPECT_NE(mmu.user_base(0), kL4);
  EXPECT_EQ(frame(kL4).base_pointer_refs, 0u);
}

TEST_F(PvMmuTest, UserBaseZeroMeansNoneEvenWhenFrameZeroIsAPinnedL4) {
  ASSERT_EQ(pin(0, 4), 0);
  ASSERT_EQ(mmu.set_user_base(0, 0), 0);
  EXPECT_EQ(frame(0).base_pointer_refs, 0u);
  EXPECT_EQ(unpin(0), 0);
  // As a kernel base pointer, frame 0 is a frame like any other.
  ASSERT_EQ(pin(0, 4), 0);
  ASSERT_EQ(mmu.set_kernel_base(0, 0), 0);
  EXPECT_EQ(frame(0).base_pointer_refs, 1u);
  EXPECT_EQ(unpin(0), -TG_EBUSY);
}

TEST_F(PvMmuTest, MovingABasePointerMovesItsReference) {
  pin_chain();
  ASSERT_EQ(pin(kFresh, 4), 0);
  ASSERT_EQ(mmu.set_kernel_base(0, kL4), 0);
  ASSERT_EQ(mmu.set_user_base(0, kL4), 0);
  EXPECT_EQ(frame(kL4).base_pointer_refs, 2u);
  ASSERT_EQ(mmu.set_kernel_base(0, kFresh), 0);
  EXPECT_EQ(frame(kL4).base_pointer_refs, 1u);
  EXPECT_EQ(frame(kFresh).base_pointer_refs, 1u);
  ASSERT_EQ(mmu.set_kernel_base(0, kFresh), 0) << "the same one again";
  EXPECT_EQ(frame(kFresh).base_pointer_refs, 1u);
  ASSERT_EQ(mmu.set_user_base(0, kFresh), 0);
  EXPECT_EQ(frame(kL4).base_pointer_refs, 0u);
  EXPECT_EQ(frame(kFresh).base_pointer_refs, 2u);
}

// ---------------------------------------------------------------------------
// mmu_update (8.6)

TEST_F(PvMmuTest, UnknownRequestTypesAreEinval) {
  pin_chain();
  for (uint64_t kind = 3; kind <= 7; ++kind) {
    for (uint64_t gfn : {kL1, kFresh, kFrames}) {
      EXPECT_EQ(mmu.update(entry_gpa(gfn, 5) | kind, pte_to(kData + 2, kPageRo), program), -TG_EINVAL)
          << kind << " " << gfn;
    }
  }
  EXPECT_EQ(program.store_count(), 0u);
  EXPECT_EQ(frame(kData + 2).mappings, 0u);
}

TEST_F(PvMmuTest, EntriesOutsideDomainRamAreEperm) {
  for (uint64_t gpa : {kFrames << 12, (kFrames << 12) - 8 + 4096, reserved_area::kGpa,
                       reserved_area::kGpa + 8 * TG_RESERVED_L4_SLOT, ~uint64_t{0} & ~uint64_t{7}}) {
    EXPECT_EQ(mmu.update(gpa, 0, program), -TG_EPERM) << gpa;
  }
  ASSERT_TRUE(release(kFresh));
  EXPECT_EQ(update(kFresh, 0, 0), -TG_EPERM);
  EXPECT_EQ(program.store_count(), 0u);
}

TEST_F(PvMmuTest, EntriesInAVmmFrameAreEperm) {
  mmu.set_vmm_frame(kFresh);
  ram(kFresh, 3) = 0x1234;
  for (uint64_t kind : {TG_MMU_NORMAL_PT_UPDATE, TG_MMU_PT_UPDATE_PRESERVE_AD, TG_MMU_PT_CLEAR_BITS}) {
    EXPECT_EQ(update(kFresh, 3, 0, kind), -TG_EPERM) << kind;
  }
  EXPECT_EQ(ram(kFresh, 3), 0x1234u);
  EXPECT_EQ(program.store_count(), 0u);
}

TEST_F(PvMmuTest, UntypedFramesAreWrittenAsIs) {
  const uint64_t values[] = {pte_to(kData, kP | kRW | kG),  // US clear, G set: kept
                             pte_to(kFrames + 9, kPageRw),  // not RAM
                             pte_to(kFresh, kTable | kPS | TG_PTE_PKEY), pte_to(kFresh, kPageRw), ~uint64_t{0}};
  unsigned index = 0;
  for (uint64_t v : values) {
    ASSERT_EQ(update(kFresh, index, v), 0) << v;
    EXPECT_EQ(entry(kFresh, index), v);
    ++index;
  }
  ASSERT_EQ(update(kFresh, TG_RESERVED_L4_SLOT, pte_to(kData, kTable)), 0) << "it is not an L4";
  EXPECT_EQ(frame(kData).mappings, 0u);
  EXPECT_EQ(frame(kFresh).mappings, 0u);
  EXPECT_EQ(frame(kFresh).type, PageType::kWritable);
  ASSERT_EQ(program.stores().size(), 6u);
  EXPECT_EQ(program.stores()[0].gpa, entry_gpa(kFresh, 0));
  EXPECT_EQ(program.stores()[0].value, values[0]);
  EXPECT_EQ(ram(kFresh, 0), 0u) << "not before the program runs";
  // Clean up, so that TearDown's checks see a frame that can be anything.
  commit();
  EXPECT_EQ(ram(kFresh, 1), pte_to(kFrames + 9, kPageRw));
}

TEST_F(PvMmuTest, UpdatesAreWrittenByTheProgram) {
  pin_chain();
  ASSERT_EQ(update(kL1, 7, pte_to(kData + 2, kPageRo)), 0);
  ASSERT_EQ(program.stores().size(), 1u);
  EXPECT_EQ(program.stores()[0].gpa, entry_gpa(kL1, 7));
  EXPECT_EQ(program.stores()[0].value, pte_to(kData + 2, kPageRo));
  EXPECT_EQ(ram(kL1, 7), 0u);
  EXPECT_EQ(entry(kL1, 7), pte_to(kData + 2, kPageRo));
  EXPECT_FALSE(mmu.pending().empty());
  commit();
  EXPECT_TRUE(mmu.pending().empty());
  EXPECT_EQ(ram(kL1, 7), pte_to(kData + 2, kPageRo));
}

TEST_F(PvMmuTest, PreserveAdKeepsTheAccessedAndDirtyBitsOfTheOldEntry) {
  ram(kL1, 2) = pte_to(kData + 2, kPageRw | kA | kD);
  ram(kL1, 3) = pte_to(kData + 3, kPageRw | kA);
  ram(kL1, 4) = pte_to(kData + 4, kPageRw);
  pin_chain();
  ASSERT_EQ(update(kL1, 2, pte_to(kData + 2, kPageRo), TG_MMU_PT_UPDATE_PRESERVE_AD), 0);
  EXPECT_EQ(entry(kL1, 2), pte_to(kData + 2, kPageRo | kA | kD));
  ASSERT_EQ(update(kL1, 3, pte_to(kData + 5, kPageRw), TG_MMU_PT_UPDATE_PRESERVE_AD), 0);
  EXPECT_EQ(entry(kL1, 3), pte_to(kData + 5, kPageRw | kA));
  ASSERT_EQ(update(kL1, 4, pte_to(kData + 4, kPageRw | kD), TG_MMU_PT_UPDATE_PRESERVE_AD), 0);
  EXPECT_EQ(entry(kL1, 4), pte_to(kData + 4, kPageRw | kD)) << "bits of the new value stay";
  EXPECT_EQ(frame(kData + 2).writable_mappings, 0u);
  EXPECT_EQ(frame(kData + 3).mappings, 0u);
  EXPECT_EQ(frame(kData + 5).writable_mappings, 1u);
  // The new value is validated like any other.
  EXPECT_EQ(update(kL1, 2, pte_to(kL2, kPageRw), TG_MMU_PT_UPDATE_PRESERVE_AD), -TG_EPERM);
  // In an untyped frame, as written plus the old A and D.
  ram(kFresh, 0) = kA | kD | 0x1000;
  ASSERT_EQ(update(kFresh, 0, pte_to(kFrames + 1, kRW), TG_MMU_PT_UPDATE_PRESERVE_AD), 0);
  EXPECT_EQ(entry(kFresh, 0), pte_to(kFrames + 1, kRW | kA | kD));
}

TEST_F(PvMmuTest, ClearBitsClearsAndReturnsThePreviousEntry) {
  ram(kL1, 2) = pte_to(kData + 2, kPageRw | kA | kD);
  pin_chain();
  uint64_t previous = 0;
  ASSERT_EQ(update(kL1, 2, kRW, TG_MMU_PT_CLEAR_BITS, &previous), 0);
  EXPECT_EQ(previous, pte_to(kData + 2, kPageRw | kA | kD));
  EXPECT_EQ(entry(kL1, 2), pte_to(kData + 2, kPageRo | kA | kD));
  EXPECT_EQ(frame(kData + 2).mappings, 1u);
  EXPECT_EQ(frame(kData + 2).writable_mappings, 0u);
  ASSERT_EQ(update(kL1, 2, kA, TG_MMU_PT_CLEAR_BITS, &previous), 0);
  EXPECT_EQ(previous, pte_to(kData + 2, kPageRo | kA | kD));
  EXPECT_EQ(entry(kL1, 2), pte_to(kData + 2, kPageRo | kD));
  // Clearing US does not clear it: every present entry is stored with US.
  ASSERT_EQ(update(kL1, 2, kUS, TG_MMU_PT_CLEAR_BITS, &previous), 0);
  EXPECT_EQ(entry(kL1, 2), pte_to(kData + 2, kPageRo | kD));
  ASSERT_EQ(update(kL1, 2, ~uint64_t{0}, TG_MMU_PT_CLEAR_BITS, &previous), 0);
  EXPECT_EQ(previous, pte_to(kData + 2, kPageRo | kD));
  EXPECT_EQ(entry(kL1, 2), 0u);
  EXPECT_EQ(frame(kData + 2).mappings, 0u);
  // Clearing P above L1 unlinks the table below.
  ASSERT_EQ(update(kL2, 0, kP, TG_MMU_PT_CLEAR_BITS, &previous), 0);
  EXPECT_EQ(previous, pte_to(kL1, kTable));
  EXPECT_EQ(entry(kL2, 0), pte_to(kL1, kRW | kUS));
  EXPECT_EQ(frame(kL1).type, PageType::kWritable);
  EXPECT_EQ(frame(kData).mappings, 0u);
  // In an untyped frame too.
  ram(kFresh, 1) = 0xff0f;
  ASSERT_EQ(update(kFresh, 1, 0xf00, TG_MMU_PT_CLEAR_BITS, &previous), 0);
  EXPECT_EQ(previous, 0xff0fu);
  EXPECT_EQ(entry(kFresh, 1), 0xf00fu);
}

TEST_F(PvMmuTest, ClearBitsResultIsValidated) {
  pin_chain();
  // Clearing frame bits moves the entry to another frame: kData (10 =
  // 0b1010) without bit 1 is frame 8, an ordinary one.
  ASSERT_EQ(update(kL1, 0, 0x2000, TG_MMU_PT_CLEAR_BITS), 0);
  EXPECT_EQ(entry(kL1, 0), pte_to(8, kPageRw));
  EXPECT_EQ(frame(8).writable_mappings, 1u);
  EXPECT_EQ(frame(kData).mappings, 0u);
  // Without bit 3 it is frame 2 = kL3, a table: refused.
  ASSERT_EQ(update(kL1, 0, pte_to(kData, kPageRw)), 0);
  uint64_t previous = 0;
  EXPECT_EQ(update(kL1, 0, 0x8000, TG_MMU_PT_CLEAR_BITS, &previous), -TG_EPERM);
  EXPECT_EQ(entry(kL1, 0), pte_to(kData, kPageRw));
}

// ---------------------------------------------------------------------------
// update_va_mapping's walk (8.7)

TEST_F(PvMmuTest, L1EntryForWalksToTheL1) {
  pin_chain();
  uint64_t gpa = 0;
  ASSERT_EQ(mmu.l1_entry_for(kL4 << 12, va(0, 0, 0, 37) + 0x123, &gpa), 0);
  EXPECT_EQ(gpa, entry_gpa(kL1, 37));
  ASSERT_EQ(update(gpa >> 12, 37, pte_to(kData + 3, kPageRo)), 0);
  EXPECT_EQ(frame(kData + 3).mappings, 1u);
}

TEST_F(PvMmuTest, L1EntryForIsEnoentWhenTheWalkStops) {
  pin_chain();
  uint64_t gpa = 0xdead;
  EXPECT_EQ(mmu.l1_entry_for(kL4 << 12, va(1, 0, 0, 0), &gpa), -TG_ENOENT) << "no L3";
  EXPECT_EQ(mmu.l1_entry_for(kL4 << 12, va(0, 1, 0, 0), &gpa), -TG_ENOENT) << "no L2";
  EXPECT_EQ(mmu.l1_entry_for(kL4 << 12, va(0, 0, 1, 0), &gpa), -TG_ENOENT) << "no L1";
  EXPECT_EQ(mmu.l1_entry_for(kL4 << 12, va(511, 0, 0, 0), &gpa), -TG_ENOENT) << "kernel half";
  EXPECT_EQ(gpa, 0xdeadu);
  // An entry of L1 that is not present is still an entry to write.
  EXPECT_EQ(mmu.l1_entry_for(kL4 << 12, va(0, 0, 0, 500), &gpa), 0);
  EXPECT_EQ(gpa, entry_gpa(kL1, 500));
}

TEST_F(PvMmuTest, L1EntryForSeesPendingLinks) {
  pin_chain();
  ASSERT_EQ(update(kL3, 5, pte_to(kFresh, kTable)), 0);
  ASSERT_EQ(update(kFresh, 6, pte_to(kFresh + 1, kTable)), 0);
  uint64_t gpa = 0;
  ASSERT_EQ(mmu.l1_entry_for(kL4 << 12, va(0, 5, 6, 7), &gpa), 0);
  EXPECT_EQ(gpa, entry_gpa(kFresh + 1, 7));
  ASSERT_EQ(update(kL3, 5, 0), 0);
  EXPECT_EQ(mmu.l1_entry_for(kL4 << 12, va(0, 5, 6, 7), &gpa), -TG_ENOENT);
}

// ---------------------------------------------------------------------------
// Memory reservation (13)

TEST_F(PvMmuTest, ReleasingAnUnusedFrame) {
  std::memset(memory.ram(kFresh << 12, 4096), 0xab, 4096);
  const uint64_t before = mmu.populated_frames();
  EXPECT_EQ(before, kFrames);
  EXPECT_EQ(mmu.maximum_frames(), kFrames);
  ASSERT_TRUE(release(kFresh));
  EXPECT_FALSE(mmu.is_ram(kFresh));
  EXPECT_EQ(mmu.populated_frames(), before - 1);
  EXPECT_EQ(mmu.maximum_frames(), kFrames);
  EXPECT_EQ(ram(kFresh, 0), 0u) << "the memory went back to the host";
  EXPECT_FALSE(release(kFresh)) << "not populated";
  EXPECT_FALSE(release(kFrames));
  EXPECT_EQ(mmu.populated_frames(), before - 1);
}

TEST_F(PvMmuTest, AReleasedFrameIsNotDomainRam) {
  ASSERT_TRUE(release(kFresh));
  ram(kL1, 5) = pte_to(kFresh, kPageRo);
  EXPECT_EQ(pin(kL4, 4), -TG_EPERM) << "a table mapping it does not validate";
  ram(kL1, 5) = 0;
  pin_chain();
  EXPECT_EQ(update(kL1, 5, pte_to(kFresh, kPageRo)), -TG_EPERM);
  EXPECT_EQ(update(kL1, 5, pte_to(kFresh, kPageRw)), -TG_EPERM);
  for (unsigned level = 2; level <= 4; ++level) {
    const uint64_t tables[] = {0, kL1, kL2, kL3, kL4};
    EXPECT_EQ(update(tables[level], 5, pte_to(kFresh, kTable)), -TG_EPERM) << level;
  }
  EXPECT_EQ(update(kFresh, 0, 0), -TG_EPERM);
  for (unsigned level = 1; level <= 4; ++level) EXPECT_EQ(pin(kFresh, level), -TG_EPERM);
  EXPECT_EQ(unpin(kFresh), -TG_EPERM);
  EXPECT_EQ(mmu.set_kernel_base(0, kFresh), -TG_EINVAL);
  EXPECT_EQ(program.store_count(), 0u);
}

TEST_F(PvMmuTest, PopulatingGivesZeroedRamBack) {
  std::memset(memory.ram(kFresh << 12, 4096), 0xcd, 4096);
  ASSERT_TRUE(release(kFresh));
  ASSERT_TRUE(mmu.populate(kFresh));
  EXPECT_TRUE(mmu.is_ram(kFresh));
  EXPECT_EQ(mmu.populated_frames(), kFrames);
  for (unsigned i = 0; i < TG_PT_ENTRIES; ++i) ASSERT_EQ(ram(kFresh, i), 0u) << i;
  EXPECT_FALSE(mmu.populate(kFresh)) << "already populated";
  EXPECT_FALSE(mmu.populate(kData));
  EXPECT_FALSE(mmu.populate(kFrames));
  EXPECT_FALSE(mmu.populate(~uint64_t{0}));
  EXPECT_EQ(mmu.populated_frames(), kFrames);
  // Usable again, as memory and as a table.
  ASSERT_EQ(pin(kFresh, 2), 0);
  pin_chain();
  EXPECT_EQ(update(kL1, 9, pte_to(kFresh, kPageRo)), 0);
}

TEST_F(PvMmuTest, ReleaseRefusesTypedVmmAndMappedFrames) {
  pin_chain();
  ASSERT_EQ(pin(kFresh, 1), 0);
  mmu.set_vmm_frame(kFresh + 1);
  for (uint64_t gfn : {kL4, kL3, kL2, kL1, kFresh, kFresh + 1, kData, kData + 1}) {
    EXPECT_FALSE(release(gfn)) << gfn;
    EXPECT_TRUE(mmu.is_ram(gfn)) << gfn;
  }
  EXPECT_EQ(mmu.populated_frames(), kFrames);
  // Unmapped, kData can go.
  ASSERT_EQ(update(kL1, 0, 0), 0);
  commit();
  EXPECT_TRUE(release(kData));
}

TEST_F(PvMmuTest, ReleasingAFrameThatLostAWritableMappingFlushes) {
  pin_chain();
  ASSERT_EQ(update(kL1, 0, 0), 0);  // kData was mapped writable
  ASSERT_EQ(update(kL1, 1, 0), 0);  // kData + 1 read-only
  commit();
  ASSERT_TRUE(release(kData + 2));
  EXPECT_FALSE(program.flushes_tlb()) << "never mapped";
  ASSERT_TRUE(release(kData));
  EXPECT_TRUE(program.flushes_tlb());
}

// ---------------------------------------------------------------------------
// TLB flushes the VMM adds on its own (8.3)

TEST_F(PvMmuTest, FrameThatLostAWritableMappingAndBecomesATableIsFlushedFirst) {
  pin_chain();
  ASSERT_EQ(update(kL1, 0, pte_to(kData, kPageRo)), 0);
  commit();  // the guest did not flush: a TLB may still let it write kData
  ASSERT_EQ(update(kL2, 1, pte_to(kData, kTable)), 0);
  EXPECT_TRUE(program.flushes_tlb());
}

TEST_F(PvMmuTest, PinningAFrameThatLostAWritableMappingIsFlushedFirst) {
  pin_chain();
  ASSERT_EQ(update(kL1, 0, 0), 0);
  commit();
  ASSERT_EQ(pin(kData, 3), 0);
  EXPECT_TRUE(program.flushes_tlb());
}

TEST_F(PvMmuTest, AFlushInBetweenMakesTheFrameSafe) {
  pin_chain();
  ASSERT_EQ(update(kL1, 0, 0), 0);
  mmu.full_flush_requested(program);
  EXPECT_TRUE(program.flushes_tlb());
  commit();
  ASSERT_EQ(pin(kData, 1), 0);
  EXPECT_FALSE(program.flushes_tlb());
}

TEST_F(PvMmuTest, FrameThatStoppedBeingATableAndIsMappedWritableIsFlushedFirst) {
  pin_chain();
  ASSERT_EQ(update(kL2, 0, 0), 0);  // kL1 stops being a table
  commit();
  ASSERT_EQ(pin(kFresh, 1), 0);
  EXPECT_FALSE(program.flushes_tlb());
  ASSERT_EQ(update(kFresh, 0, pte_to(kL1, kPageRo)), 0);
  EXPECT_FALSE(program.flushes_tlb()) << "read-only is harmless";
  ASSERT_EQ(update(kFresh, 1, pte_to(kL1, kPageRw)), 0);
  EXPECT_TRUE(program.flushes_tlb());
}

TEST_F(PvMmuTest, FrameThatStoppedBeingATableAndIsTypedAgainIsFlushedFirst) {
  ram(kL1, 0) = ram(kL1, 1) = 0;  // so that no writable mapping goes with it
  pin_chain();
  ASSERT_EQ(update(kL2, 0, 0), 0);
  commit();
  ASSERT_EQ(update(kL3, 1, pte_to(kL1, kTable)), 0) << "now as an L2";
  EXPECT_TRUE(program.flushes_tlb());
}

TEST_F(PvMmuTest, OrdinaryRemappingDoesNotFlush) {
  pin_chain();
  ASSERT_EQ(update(kL1, 1, pte_to(kData + 1, kPageRw)), 0);  // RO -> RW
  ASSERT_EQ(update(kL1, 2, pte_to(kData + 2, kPageRw)), 0);  // not present -> RW
  ASSERT_EQ(update(kL1, 0, pte_to(kData, kPageRo)), 0);      // RW -> RO
  ASSERT_EQ(update(kL1, 2, 0), 0);                           // RW -> not present
  ASSERT_EQ(update(kL1, 3, pte_to(kData + 2, kPageRw)), 0);  // RW again elsewhere
  ASSERT_EQ(update(kL2, 1, pte_to(kFresh, kTable)), 0);      // a frame never mapped becomes a table
  ASSERT_EQ(pin(kFresh + 1, 4), 0);
  EXPECT_FALSE(program.flushes_tlb());
  EXPECT_TRUE(program.invlpgs().empty());
}

// A frame that stopped being a table may still be walked through the
// paging-structure caches until a flush (page_types.h). Writing its entries
// as ordinary memory (mmu_update of an untyped frame, applied unvalidated)
// is as dangerous as a writable mapping: a stale walk would use them. So
// the routine that writes them must flush before the guest runs again.
TEST_F(PvMmuTest, FrameThatStoppedBeingATableAndIsWrittenAsMemoryIsFlushedFirst) {
  pin_chain();
  ASSERT_EQ(update(kL3, 0, 0), 0);  // kL2 and kL1 stop being tables
  commit();
  // An entry no table may hold: a stale walk through kL2 would reach the
  // VMM's reserved area.
  ASSERT_EQ(update(kL2, 0, reserved_area::kGpa | kPageRw), 0);
  EXPECT_TRUE(program.flushes_tlb());
}

// ---------------------------------------------------------------------------
// Pending writes: read back before the routine runs

TEST_F(PvMmuTest, LinkingAFrameValidatesItsPendingEntries) {
  pin_chain();
  const uint64_t l1 = kFresh;
  ASSERT_EQ(update(l1, 0, pte_to(kData + 2, kPageRw)), 0);
  ASSERT_EQ(update(l1, 1, pte_to(kData + 3, kPageRo)), 0);
  ASSERT_EQ(update(l1, 2, pte_to(kData + 2, kPageRw | kA)), 0);
  EXPECT_EQ(ram(l1, 0), 0u);
  ASSERT_EQ(update(kL2, 1, pte_to(l1, kTable)), 0);
  EXPECT_EQ(frame(l1).type, PageType::kL1);
  EXPECT_EQ(frame(kData + 2).mappings, 2u);
  EXPECT_EQ(frame(kData + 2).writable_mappings, 2u);
  EXPECT_EQ(frame(kData + 3).mappings, 1u);
  EXPECT_EQ(invariants(), "") << "the check reads through the pending writes too";
  commit();
  EXPECT_EQ(ram(l1, 0), pte_to(kData + 2, kPageRw));
  EXPECT_EQ(ram(kL2, 1), pte_to(l1, kTable));
}

TEST_F(PvMmuTest, APendingBadEntryStopsTheLink) {
  pin_chain();
  const uint64_t l1 = kFresh;
  ASSERT_EQ(update(l1, 300, pte_to(kL3, kPageRw)), 0);  // RAM still holds 0 there
  EXPECT_EQ(update(kL2, 1, pte_to(l1, kTable)), -TG_EPERM);
  EXPECT_EQ(frame(l1).type, PageType::kWritable);
  ASSERT_EQ(update(l1, 300, pte_to(kL3, kPageRo)), 0);
  EXPECT_EQ(update(kL2, 1, pte_to(l1, kTable)), 0);
  EXPECT_EQ(frame(kL3).mappings, 1u);
}

TEST_F(PvMmuTest, APendingWriteReplacesABadEntryInRam) {
  pin_chain();
  const uint64_t l1 = kFresh;
  ram(l1, 8) = pte_to(kL2, kPageRw);
  EXPECT_EQ(pin(l1, 1), -TG_EPERM);
  ASSERT_EQ(update(l1, 8, 0), 0);
  EXPECT_EQ(ram(l1, 8), pte_to(kL2, kPageRw));
  ASSERT_EQ(pin(l1, 1), 0);
  EXPECT_EQ(frame(kL2).mappings, 0u);
}

TEST_F(PvMmuTest, UnlinkingReadsPendingEntries) {
  pin_chain();
  const uint64_t l1 = kFresh;
  ASSERT_EQ(update(kL2, 1, pte_to(l1, kTable)), 0);
  ASSERT_EQ(update(l1, 4, pte_to(kData + 4, kPageRw)), 0);
  ASSERT_EQ(update(l1, 5, pte_to(kData + 5, kPageRo)), 0);
  EXPECT_EQ(frame(kData + 4).writable_mappings, 1u);
  ASSERT_EQ(update(kL2, 1, 0), 0);
  EXPECT_EQ(frame(l1).type, PageType::kWritable);
  EXPECT_EQ(frame(kData + 4).mappings, 0u);
  EXPECT_EQ(frame(kData + 5).mappings, 0u);
  EXPECT_EQ(invariants(), "");
}

TEST_F(PvMmuTest, BatchThatBuildsAndPinsAWholeTree) {
  // As a guest's first batch might: fill fresh frames, then pin the top.
  const uint64_t l4 = 40, l3 = 41, l2 = 42, l1 = 43;
  ASSERT_EQ(update(l1, 0, pte_to(kData + 6, kPageRw)), 0);
  ASSERT_EQ(update(l2, 0, pte_to(l1, kTable)), 0);
  ASSERT_EQ(update(l3, 0, pte_to(l2, kTable)), 0);
  ASSERT_EQ(update(l4, 511, pte_to(l3, kTable)), 0);
  ASSERT_EQ(pin(l4, 4), 0);
  ASSERT_EQ(mmu.set_kernel_base(0, l4), 0);
  EXPECT_EQ(frame(l1).type, PageType::kL1);
  EXPECT_EQ(frame(kData + 6).writable_mappings, 1u);
  EXPECT_EQ(invariants(), "");
  uint64_t gpa = 0;
  ASSERT_EQ(mmu.l1_entry_for(l4 << 12, va(511, 0, 0, 3), &gpa), 0);
  EXPECT_EQ(gpa, entry_gpa(l1, 3));
  commit();
  EXPECT_EQ(ram(l4, TG_RESERVED_L4_SLOT), reserved_area::l4_entry());
  EXPECT_EQ(ram(l4, 511), pte_to(l3, kTable));
}

}  // namespace
}  // namespace tortuga
