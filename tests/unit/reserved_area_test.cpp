// The VMM's reserved area as reserved_area::build lays it out in (anonymous)
// guest memory: its page tables, IDT, stubs, and each vCPU's GDT and TSS.
#include "vcpu/reserved_area.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "vcpu/descriptors.h"
#include "mmu/page_table_bits.h"

namespace tortuga {
namespace {

using ::testing::ElementsAre;
namespace ra = reserved_area;

class ReservedAreaTest : public ::testing::Test {
 protected:
  void SetUp() override { ra::build(memory, kVcpus); }

  std::vector<uint8_t> bytes(uint64_t offset, size_t n) const {
    const uint8_t* p = memory.reserved<uint8_t>(offset);
    return {p, p + n};
  }
  uint64_t u64(uint64_t offset) const { return *memory.reserved<uint64_t>(offset); }

  // The handler address and selector of IDT vector v, decoded.
  uint64_t gate_handler(unsigned v) const {
    uint64_t lo = u64(ra::kIdt + 16 * v), hi = u64(ra::kIdt + 16 * v + 8);
    return (lo & 0xffff) | (((lo >> 48) & 0xffff) << 16) | (hi << 32);
  }
  uint16_t gate_selector(unsigned v) const { return static_cast<uint16_t>(u64(ra::kIdt + 16 * v) >> 16); }
  unsigned gate_type_attr(unsigned v) const { return (u64(ra::kIdt + 16 * v) >> 40) & 0xff; }

  static constexpr uint32_t kVcpus = 2;
  GuestMemory memory{4096, ra::kGpa, ra::kSize};
};

TEST_F(ReservedAreaTest, PageFaultGateEntersItsStub) {
  EXPECT_EQ(gate_handler(14), ra::va(ra::exception_stub(14)));
  EXPECT_EQ(gate_selector(14), ra::kVmmCs);
  EXPECT_EQ(gate_type_attr(14), 0x8eu) << "present, DPL 0, interrupt gate";
}

TEST_F(ReservedAreaTest, EveryExceptionVectorHasItsOwnStub) {
  for (unsigned v = 0; v < TG_NR_EXCEPTION_VECTORS; ++v) {
    SCOPED_TRACE(v);
    EXPECT_EQ(gate_handler(v), ra::va(ra::kStubs + v * ra::kStubStride));
    EXPECT_THAT(bytes(ra::exception_stub(v), 3), ElementsAre(0xe6, v, 0xf4));
  }
}

TEST_F(ReservedAreaTest, BreakpointAndOverflowGatesAreReachableFromCpl3) {
  EXPECT_EQ(gate_type_attr(3), 0xeeu);
  EXPECT_EQ(gate_type_attr(4), 0xeeu);
  EXPECT_EQ(gate_type_attr(13), 0x8eu);
}

TEST_F(ReservedAreaTest, OtherVectorsShareTheUnexpectedStub) {
  for (unsigned v : {32u, 128u, 255u}) {
    EXPECT_EQ(gate_handler(v), ra::va(ra::kUnexpectedStub)) << v;
    EXPECT_EQ(gate_selector(v), ra::kVmmCs);
  }
  EXPECT_THAT(bytes(ra::kUnexpectedStub, 3), ElementsAre(0xe6, ra::kPortUnexpectedVector, 0xf4));
}

TEST_F(ReservedAreaTest, SyscallStubExitsThroughItsPort) {
  EXPECT_THAT(bytes(ra::kSyscallStub, 3), ElementsAre(0xe6, ra::kPortSyscall, 0xf4));
  EXPECT_EQ(ra::kStubOutLength, 2u);
}

TEST_F(ReservedAreaTest, AreaTablesChainToTheL1) {
  EXPECT_EQ(ra::l4_entry(), (ra::kGpa + ra::kL3) | pte::kPresent | pte::kWritable | pte::kUser);
  EXPECT_EQ(u64(ra::kL3) & pte::kFrameMask, ra::kGpa + ra::kL2);
  EXPECT_EQ(u64(ra::kL2) & pte::kFrameMask, ra::kGpa + ra::kL1);
  EXPECT_EQ(pte::index(ra::kVa, 4), static_cast<unsigned>(TG_RESERVED_L4_SLOT));
  EXPECT_EQ(pte::index(ra::kVa, 3), 0u);
  EXPECT_EQ(pte::index(ra::kVa, 2), 0u);
}

TEST_F(ReservedAreaTest, OnlyTheSyscallStubPageIsUserAccessibleAndItIsReadOnly) {
  const unsigned stub_index = ra::kSyscallStub / 4096;
  for (unsigned i = 0; i < ra::kSmallPagesEnd / 4096; ++i) {
    SCOPED_TRACE(i);
    uint64_t e = u64(ra::kL1 + 8 * i);
    EXPECT_TRUE(e & pte::kPresent);
    EXPECT_EQ(e & pte::kFrameMask, ra::kGpa + i * 4096ULL);
    if (i == stub_index) {
      EXPECT_TRUE(e & pte::kUser);
      EXPECT_FALSE(e & pte::kWritable);
    } else {
      EXPECT_FALSE(e & pte::kUser);
      EXPECT_TRUE(e & pte::kWritable);
    }
  }
}

TEST_F(ReservedAreaTest, ApplyRoutinesAreSupervisorOnlyLargePages) {
  for (uint64_t offset = ra::kApplyBase; offset < ra::kRamMapTables; offset += 2ULL << 20) {
    SCOPED_TRACE(offset);
    uint64_t e = u64(ra::kL2 + 8 * (offset >> 21));
    EXPECT_EQ(e & pte::kFrameMask, ra::kGpa + offset);
    EXPECT_TRUE((e & pte::kPresent) && (e & pte::kWritable) && (e & pte::kLarge));
    EXPECT_FALSE(e & pte::kUser);
    EXPECT_FALSE(e & pte::kNoExecute);
  }
  EXPECT_LE(ra::apply_values_offset(TG_MAX_VCPUS - 1) + ApplyProgram::kCapacity * 8, ra::kRamMapTables);
}

TEST_F(ReservedAreaTest, RamMapCoversGuestRamSupervisorOnlyAndNeverExecutable) {
  uint64_t l3_ram = u64(ra::kL3 + 8);
  ASSERT_TRUE(l3_ram & pte::kPresent);
  EXPECT_EQ(l3_ram & pte::kFrameMask, ra::kGpa + ra::kRamMapTables);
  EXPECT_EQ(u64(ra::kL3 + 16), 0u) << "no second GiB for a small domain";
  uint64_t mapped = 0;
  for (unsigned i = 0; i < 512; ++i) {
    uint64_t e = u64(ra::kRamMapTables + 8 * i);
    if (!(e & pte::kPresent)) continue;
    SCOPED_TRACE(i);
    EXPECT_EQ(e & pte::kFrameMask, uint64_t{i} << 21);
    EXPECT_TRUE((e & pte::kWritable) && (e & pte::kLarge) && (e & pte::kNoExecute));
    EXPECT_FALSE(e & pte::kUser);
    mapped += 2ULL << 20;
  }
  EXPECT_GE(mapped, memory.ram_size());
  EXPECT_LT(mapped, memory.ram_size() + (2ULL << 20));
}

TEST(ReservedAreaBuild, WritesNothingInTheUnusedGapAfterTheSyscallStubPage) {
  GuestMemory m(4 << 20, ra::kGpa, ra::kSize);
  uint8_t* area = m.reserved_base();
  std::memset(area, 0xab, ra::kVcpuBase);
  ra::build(m, 1);
  for (uint64_t offset = ra::kSyscallStub + 4096; offset < ra::kVcpuBase; ++offset) {
    ASSERT_EQ(area[offset], 0xab) << "byte " << offset << " of the area was written";
  }
}

TEST_F(ReservedAreaTest, GdtSlotsMatchTheSelectors) {
  for (uint32_t vcpu = 0; vcpu < kVcpus; ++vcpu) {
    SCOPED_TRACE(vcpu);
    const uint64_t gdt = ra::vcpu_offset(vcpu) + ra::kGdtOffset;
    auto slot = [&](uint16_t selector) { return u64(gdt + (selector & ~7u)); };
    EXPECT_EQ(u64(gdt), 0u) << "null descriptor";
    EXPECT_EQ(slot(ra::kVmmCs), code64_descriptor(0));
    EXPECT_EQ(slot(ra::kVmmDs), data_descriptor(0));
    EXPECT_EQ(slot(ra::kUser32Cs), code32_descriptor(3));
    EXPECT_EQ(slot(ra::kUserDs), data_descriptor(3));
    EXPECT_EQ(slot(ra::kUserCs), code64_descriptor(3));
    EXPECT_EQ(slot(ra::kKernelCs), code64_descriptor(3));
    EXPECT_EQ(slot(ra::kKernelSs), data_descriptor(3));
    auto tss = tss_descriptor(ra::va(ra::vcpu_offset(vcpu) + ra::kTssOffset), ra::kTssLimit);
    EXPECT_EQ(slot(ra::kTssSelector), tss[0]);
    EXPECT_EQ(u64(gdt + ra::kTssSelector + 8), tss[1]);
    EXPECT_LE(ra::kTssSelector + 15u, ra::kGdtLimit) << "both TSS slots inside the GDT limit";
  }
}

TEST_F(ReservedAreaTest, SelectorsFollowSyscallAndLinuxConventions) {
  EXPECT_EQ(ra::kVmmDs, ra::kVmmCs + 8) << "SYSCALL loads SS from the slot after CS";
  EXPECT_EQ(ra::kUserCs, TG_USER_CS);
  EXPECT_EQ(ra::kUserDs, TG_USER_DS);
  EXPECT_EQ(ra::kUser32Cs, TG_USER32_CS);
  for (uint16_t dpl3 : {ra::kUserCs, ra::kUserDs, ra::kUser32Cs, ra::kKernelCs, ra::kKernelSs}) {
    EXPECT_EQ(dpl3 & 3, 3) << dpl3;
  }
}

TEST_F(ReservedAreaTest, TssStackPointsAtEachVcpusStackTop) {
  for (uint32_t vcpu = 0; vcpu < kVcpus; ++vcpu) {
    uint64_t rsp0;
    std::memcpy(&rsp0, memory.reserved<uint8_t>(ra::vcpu_offset(vcpu) + ra::kTssOffset + 4), 8);
    EXPECT_EQ(rsp0, ra::va(ra::vcpu_offset(vcpu) + ra::kStackTopOffset)) << vcpu;
  }
}

TEST_F(ReservedAreaTest, TssIoBitmapAllowsOnlyTheSyscallPort) {
  const uint64_t tss = ra::vcpu_offset(0) + ra::kTssOffset;
  uint16_t iomap_base;
  std::memcpy(&iomap_base, memory.reserved<uint8_t>(tss + 102), 2);
  ASSERT_EQ(iomap_base, ra::kTssIoBitmapOffset);
  std::vector<uint8_t> bitmap = bytes(tss + iomap_base, ra::kTssIoBitmapBytes);
  for (unsigned port = 0; port < 8 * ra::kTssIoBitmapBytes; ++port) {
    bool allowed = !(bitmap[port / 8] & (1u << (port % 8)));
    EXPECT_EQ(allowed, port == ra::kPortSyscall) << "port " << port;
  }
  EXPECT_EQ(ra::kTssLimit, iomap_base + ra::kTssIoBitmapBytes - 1) << "ports past the bitmap are denied";
}

TEST_F(ReservedAreaTest, BuildIsIdempotent) {
  std::vector<uint8_t> before(memory.reserved_base(), memory.reserved_base() + memory.reserved_size());
  ra::build(memory, kVcpus);
  EXPECT_EQ(std::memcmp(before.data(), memory.reserved_base(), before.size()), 0);
}

TEST_F(ReservedAreaTest, VcpuStateLivesInTheVcpusSlot) {
  auto* state = reinterpret_cast<uint8_t*>(&ra::vcpu_state(memory, 1));
  EXPECT_EQ(state - memory.reserved_base(), static_cast<ptrdiff_t>(ra::vcpu_offset(1) + ra::kStateOffset));
}

TEST(ReservedArea, ContainsExactlyTheReservedRange) {
  EXPECT_FALSE(ra::contains_va(TG_RESERVED_VA_START - 1));
  EXPECT_TRUE(ra::contains_va(TG_RESERVED_VA_START));
  EXPECT_TRUE(ra::contains_va(TG_RESERVED_AREA_VA));
  EXPECT_TRUE(ra::contains_va(TG_RESERVED_VA_END - 1));
  EXPECT_FALSE(ra::contains_va(TG_RESERVED_VA_END));
}

}  // namespace
}  // namespace tortuga
