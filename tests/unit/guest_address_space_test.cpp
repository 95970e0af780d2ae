// GuestAddressSpace: the page walk a CPL3 access would do, over guest-
// controlled tables, and copies that cross page boundaries. Pure memory:
// GuestMemory is anonymous host memory, no KVM involved.
#include "mmu/guest_address_space.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>

#include "domain/guest_fault.h"
#include "page_table_builder.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kRam = 4ULL << 20;
constexpr uint64_t kUserRw = pte::kPresent | pte::kWritable | pte::kUser;
constexpr uint64_t kUserRo = pte::kPresent | pte::kUser;
constexpr uint64_t kVa = 0x0000400000001000ULL;  // a lower-half page
constexpr uint64_t kKernelVa = 0xffffffff80200000ULL;

class GuestAddressSpaceTest : public ::testing::Test {
 protected:
  GuestMemory memory{kRam, reserved_area::kGpa, reserved_area::kSize};
  test::PageTableBuilder tables{memory, 0x1000};

  GuestAddressSpace space() const { return GuestAddressSpace(memory, tables.cr3()); }
  std::string error(uint64_t va, Access access = Access::kRead) const {
    Translation t = space().translate(va, access);
    return t.ok() ? "<ok>" : t.error;
  }
};

TEST_F(GuestAddressSpaceTest, TranslatesFourKilobytePage) {
  tables.map(kVa, 0x100000, kUserRw);
  Translation t = space().translate(kVa + 0x234, Access::kWrite);
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.gpa, 0x100234u);
}

TEST_F(GuestAddressSpaceTest, TranslatesUpperHalfAddress) {
  tables.map(kKernelVa, 0x180000, kUserRw);
  Translation t = space().translate(kKernelVa + 0xfff, Access::kRead);
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.gpa, 0x180fffu);
}

TEST_F(GuestAddressSpaceTest, TranslatesTwoMegabytePage) {
  const uint64_t va = 0x0000000040200000ULL;
  tables.map(va, 0x200000, kUserRw, 2);
  Translation t = space().translate(va + 0x12345, Access::kRead);
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.gpa, 0x212345u);
}

TEST_F(GuestAddressSpaceTest, TranslatesOneGigabytePage) {
  const uint64_t va = 0x0000008000000000ULL;  // L4 slot 1
  tables.map(va, 0, kUserRw, 3);
  Translation t = space().translate(va + 0x3ff123, Access::kWrite);
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.gpa, 0x3ff123u);
  // The same large page runs past the end of RAM.
  EXPECT_EQ(error(va + kRam), "maps a frame outside guest RAM");
}

TEST_F(GuestAddressSpaceTest, IgnoresNoExecuteAndAvailableBits) {
  tables.map(kVa, 0x100000, kUserRw | pte::kNoExecute | (0x7fULL << 52) | pte::kAccessed | pte::kDirty);
  Translation t = space().translate(kVa, Access::kRead);
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.gpa, 0x100000u);
}

TEST_F(GuestAddressSpaceTest, NotPresentAtEachLevelIsNotMapped) {
  for (unsigned level = 4; level >= 1; --level) {
    SCOPED_TRACE(level);
    tables.map(kVa, 0x100000, kUserRw);
    ASSERT_EQ(error(kVa), "<ok>");
    tables.entry_for(kVa, level) &= ~pte::kPresent;
    EXPECT_EQ(error(kVa), "not mapped");
    tables.entry_for(kVa, level) |= pte::kPresent;
  }
}

TEST_F(GuestAddressSpaceTest, EmptyTablesMapNothing) { EXPECT_EQ(error(kVa), "not mapped"); }

TEST_F(GuestAddressSpaceTest, SupervisorOnlyAtAnyLevelIsNotAccessible) {
  tables.map(kVa, 0x100000, kUserRw);
  for (unsigned level = 4; level >= 1; --level) {
    SCOPED_TRACE(level);
    tables.entry_for(kVa, level) &= ~pte::kUser;
    EXPECT_EQ(error(kVa), "not accessible to the guest");
    tables.entry_for(kVa, level) |= pte::kUser;
    EXPECT_EQ(error(kVa), "<ok>");
  }
}

TEST_F(GuestAddressSpaceTest, ReadOnlyLeafRefusesWritesOnly) {
  tables.map(kVa, 0x100000, kUserRo);
  EXPECT_EQ(error(kVa, Access::kRead), "<ok>");
  EXPECT_EQ(error(kVa, Access::kWrite), "not writable");
}

TEST_F(GuestAddressSpaceTest, ReadOnlyUpperLevelRefusesWrites) {
  tables.map(kVa, 0x100000, kUserRw);
  tables.entry_for(kVa, 3) &= ~pte::kWritable;
  EXPECT_EQ(error(kVa, Access::kRead), "<ok>");
  EXPECT_EQ(error(kVa, Access::kWrite), "not writable");
}

TEST_F(GuestAddressSpaceTest, LeafOutsideRamIsRefused) {
  tables.map(kVa, kRam, kUserRw);
  EXPECT_EQ(error(kVa), "maps a frame outside guest RAM");
  tables.map(kVa, reserved_area::kGpa, kUserRw);
  EXPECT_EQ(error(kVa), "maps a frame outside guest RAM") << "the VMM's reserved area is not RAM";
}

TEST_F(GuestAddressSpaceTest, LargeLeafOutsideRamIsRefused) {
  tables.map(0x40000000, 0x40000000, kUserRw, 2);
  EXPECT_EQ(error(0x40000000), "maps a frame outside guest RAM");
}

TEST_F(GuestAddressSpaceTest, PageTableOutsideRamIsRefused) {
  tables.map(kVa, 0x100000, kUserRw);
  tables.entry_for(kVa, 3) = 0x80000000ULL | kUserRw;  // L2 table far outside RAM
  EXPECT_EQ(error(kVa), "page table outside guest RAM");
}

TEST_F(GuestAddressSpaceTest, Cr3OutsideRamIsRefused) {
  GuestAddressSpace bad(memory, kRam);
  EXPECT_STREQ(bad.translate(kVa, Access::kRead).error, "page table outside guest RAM");
}

TEST_F(GuestAddressSpaceTest, NonCanonicalAddressesAreRefused) {
  EXPECT_EQ(error(0x0000800000000000ULL), "non-canonical address");
  EXPECT_EQ(error(0xffff7fffffffffffULL), "non-canonical address");
  EXPECT_EQ(error(0x8000000000000000ULL), "non-canonical address");
}

TEST_F(GuestAddressSpaceTest, ReservedRangeIsRefusedEvenWhenMapped) {
  // The guest maps the reserved slot itself: the walk never looks.
  tables.map(TG_RESERVED_AREA_VA, 0x100000, kUserRw);
  tables.map(TG_RESERVED_VA_START, 0x100000, kUserRw);
  for (uint64_t va :
       {TG_RESERVED_VA_START, TG_RESERVED_AREA_VA, TG_RESERVED_AREA_VA + 0x5000, TG_RESERVED_VA_END - 1}) {
    EXPECT_EQ(error(va), "address in the VMM's reserved range") << std::hex << va;
  }
  EXPECT_EQ(error(TG_RESERVED_VA_END), "not mapped") << "the range's end is exclusive";
}

TEST_F(GuestAddressSpaceTest, CopiesAcrossAPageBoundary) {
  // Two contiguous virtual pages backed by frames that are not contiguous.
  tables.map(kVa, 0x100000, kUserRw);
  tables.map(kVa + 0x1000, 0x300000, kUserRw);
  const std::array<uint8_t, 16> data{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  space().copy_to(kVa + 0xff8, data.data(), data.size());
  EXPECT_EQ(std::memcmp(memory.ram(0x100ff8, 8), data.data(), 8), 0);
  EXPECT_EQ(std::memcmp(memory.ram(0x300000, 8), data.data() + 8, 8), 0);
  std::array<uint8_t, 16> back{};
  space().copy_from(kVa + 0xff8, back.data(), back.size());
  EXPECT_EQ(back, data);
  EXPECT_EQ(space().read<uint64_t>(kVa + 0x1000), 0x100f0e0d0c0b0a09ULL);
}

TEST_F(GuestAddressSpaceTest, CopyFromNamesTheFailingPage) {
  tables.map(kVa, 0x100000, kUserRw);
  std::array<uint8_t, 16> buf{};
  try {
    space().copy_from(kVa + 0xff8, buf.data(), buf.size());
    FAIL() << "copied from an unmapped page";
  } catch (const BadGuestAddress& e) {
    EXPECT_EQ(e.va(), kVa + 0x1000);
    EXPECT_STREQ(e.what(), "not mapped");
  }
}

TEST_F(GuestAddressSpaceTest, CopyToReadOnlySecondPageFails) {
  tables.map(kVa, 0x100000, kUserRw);
  tables.map(kVa + 0x1000, 0x101000, kUserRo);
  std::array<uint8_t, 16> buf{};
  try {
    space().copy_to(kVa + 0xff8, buf.data(), buf.size());
    FAIL() << "copied to a read-only page";
  } catch (const BadGuestAddress& e) {
    EXPECT_EQ(e.va(), kVa + 0x1000);
    EXPECT_STREQ(e.what(), "not writable");
  }
}

TEST_F(GuestAddressSpaceTest, ZeroLengthCopyTouchesNothing) {
  uint8_t byte = 0;
  EXPECT_NO_THROW(space().copy_from(kVa, &byte, 0));
  EXPECT_NO_THROW(space().copy_to(0x0000800000000000ULL, &byte, 0));
}

TEST_F(GuestAddressSpaceTest, CopyFromStartingInReservedRangeFails) {
  uint64_t value = 0;
  EXPECT_THROW(space().copy_from(TG_RESERVED_AREA_VA, &value, sizeof value), BadGuestAddress);
}

}  // namespace
}  // namespace tortuga
