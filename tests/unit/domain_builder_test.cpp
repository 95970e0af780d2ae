// The domain builder: page-table sizing, the hypercall page, and the boot
// layout of <tortuga/start_info.h> built from a synthetic kernel into
// anonymous guest memory, checked by walking the boot page tables.
#include "domain/domain_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <tortuga/cpu.h>
#include <tortuga/hypercall.h>
#include <tortuga/shared_info.h>
#include <tortuga/start_info.h>

#include "elf_builder.h"
#include "mmu/guest_address_space.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kTextGpa = test::kTestTextVa - TG_DEFAULT_VIRT_BASE;
constexpr uint64_t kDataGpa = test::kTestDataVa - TG_DEFAULT_VIRT_BASE;

KernelImage test_kernel() { return parse_kernel_image(test::build_elf(test::test_kernel_spec()).bytes); }

// The test kernel moved so that gpa 0 is at virt_base.
KernelImage test_kernel_at(uint64_t virt_base) {
  test::ElfSpec spec = test::test_kernel_spec();
  const uint64_t delta = virt_base - TG_DEFAULT_VIRT_BASE;
  spec.entry += delta;
  for (auto& s : spec.segments) s.vaddr += delta;
  spec.notes[1] = test::tortuga_note(TG_ELFNOTE_HYPERCALL_PAGE, test::kTestHypercallPageVa + delta);
  spec.notes.push_back(test::tortuga_note(TG_ELFNOTE_VIRT_BASE, virt_base));
  return parse_kernel_image(test::build_elf(spec).bytes);
}

std::vector<uint8_t> bytes_at(const GuestMemory& m, uint64_t gpa, size_t n) {
  const uint8_t* p = m.ram(gpa, n);
  return {p, p + n};
}

std::string build_refusal(const GuestMemory& memory, const KernelImage& kernel, const BootParams& params = {}) {
  try {
    build_domain(memory, kernel, params);
  } catch (const KernelImageError& e) {
    return e.what();
  }
  return "<built>";
}

TEST(PageTableFramesFor, FourMegabytesAtTheDefaultBase) {
  EXPECT_EQ(page_table_frames_for(TG_DEFAULT_VIRT_BASE, 4 * kMiB), 5u);  // L4 + L3 + L2 + 2 L1
}

TEST(PageTableFramesFor, OnePage) { EXPECT_EQ(page_table_frames_for(TG_DEFAULT_VIRT_BASE, 4096), 4u); }

TEST(PageTableFramesFor, CrossingAGigabyteBoundaryNeedsTwoL2) {
  EXPECT_EQ(page_table_frames_for(0x40000000 - 2 * kMiB, 4 * kMiB), 1u + 1 + 2 + 2);
}

TEST(PageTableFramesFor, CrossingAnL4SlotNeedsTwoL3) {
  EXPECT_EQ(page_table_frames_for(0x8000000000ULL - 2 * kMiB, 4 * kMiB), 1u + 2 + 2 + 2);
}

TEST(PageTableFramesFor, UnalignedRangeCountsEveryTableTouched) {
  // 2 MiB that straddle two L1 tables.
  EXPECT_EQ(page_table_frames_for(TG_DEFAULT_VIRT_BASE + kMiB, 2 * kMiB), 1u + 1 + 1 + 2);
}

TEST(FillHypercallPage, OrdinarySlotIsMovSyscallRet) {
  std::vector<uint8_t> page(4096, 0);
  fill_hypercall_page(page.data());
  for (uint32_t n : {0u, 1u, 16u, 127u}) {
    SCOPED_TRACE(n);
    const uint8_t* s = page.data() + n * TG_HYPERCALL_SLOT_SIZE;
    EXPECT_THAT(std::vector<uint8_t>(s, s + 9), ElementsAre(0xb8, n, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3, 0xcc));
  }
}

TEST(FillHypercallPage, IretSlotPushesRaxAndNeverReturns) {
  std::vector<uint8_t> page(4096, 0);
  fill_hypercall_page(page.data());
  const uint8_t* s = page.data() + TG_HC_iret * TG_HYPERCALL_SLOT_SIZE;
  EXPECT_THAT(std::vector<uint8_t>(s, s + 11),
              ElementsAre(0x50, 0xb8, 0x05, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x0b, 0xcc));
}

TEST(FillHypercallPage, PadsEverySlotWithInt3) {
  std::vector<uint8_t> page(4096, 0);
  fill_hypercall_page(page.data());
  EXPECT_EQ(page[TG_HYPERCALL_SLOT_SIZE - 1], 0xcc);
  EXPECT_EQ(page.back(), 0xcc);
}

class BuildDomainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::memset(memory.ram_base(), 0xaa, memory.ram_size());  // builder must clear what it uses
    params.cmdline = "console=hvc0 root=/dev/ram0";
    for (size_t i = 0; i < 5000; ++i) params.initramfs.push_back(static_cast<uint8_t>(i * 7));
    params.tsc_khz = 2'500'000;
    layout = build_domain(memory, kernel, params);
    si = memory.ram_object<tg_start_info>(layout.start_info_gpa);
  }

  GuestMemory memory{16 * kMiB, reserved_area::kGpa, reserved_area::kSize};
  KernelImage kernel = test_kernel();
  BootParams params;
  BootLayout layout;
  const tg_start_info* si = nullptr;
};

TEST_F(BuildDomainTest, LoadsSegmentsAndClearsBss) {
  EXPECT_THAT(bytes_at(memory, kTextGpa, 5), ElementsAre(0x48, 0x31, 0xc0, 0xeb, 0xfe));
  EXPECT_EQ(bytes_at(memory, kDataGpa, 8), (std::vector<uint8_t>{'t', 'o', 'r', 't', 'u', 'g', 'a', 0}));
  EXPECT_EQ(bytes_at(memory, kDataGpa + 8, test::kTestDataMemsz - 8),
            std::vector<uint8_t>(test::kTestDataMemsz - 8, 0));
  EXPECT_EQ(layout.entry, test::kTestTextVa);
}

TEST_F(BuildDomainTest, FillsTheKernelsHypercallPage) {
  const uint64_t gpa = test::kTestHypercallPageVa - TG_DEFAULT_VIRT_BASE;
  EXPECT_THAT(bytes_at(memory, gpa + TG_HC_version * TG_HYPERCALL_SLOT_SIZE, 8),
              ElementsAre(0xb8, TG_HC_version, 0, 0, 0, 0x0f, 0x05, 0xc3));
}

TEST_F(BuildDomainTest, CopiesInitramfsAtModStart) {
  EXPECT_EQ(layout.mod_gpa, kDataGpa + test::kTestDataMemsz);
  EXPECT_EQ(si->mod_start, layout.va(layout.mod_gpa));
  EXPECT_EQ(si->mod_len, params.initramfs.size());
  EXPECT_THAT(bytes_at(memory, layout.mod_gpa, params.initramfs.size()), ElementsAreArray(params.initramfs));
}

TEST_F(BuildDomainTest, LaysOutPagesInAbiOrder) {
  EXPECT_EQ(layout.start_info_gpa, (layout.mod_gpa + layout.mod_len + 4095) & ~4095ULL);
  EXPECT_EQ(layout.shared_info_gpa, layout.start_info_gpa + 0x1000);
  EXPECT_EQ(layout.console_ring_gpa, layout.start_info_gpa + 0x2000);
  EXPECT_EQ(layout.store_ring_gpa, layout.start_info_gpa + 0x3000);
  EXPECT_EQ(layout.page_tables_gpa, layout.start_info_gpa + 0x4000);
  EXPECT_EQ(layout.stack_top_gpa, layout.page_tables_gpa + (layout.nr_page_table_frames + 4) * 0x1000);
  EXPECT_EQ(layout.stack_top_gpa % 16, 0u);
  EXPECT_THAT(bytes_at(memory, layout.console_ring_gpa, 0x2000), ElementsAreArray(std::vector<uint8_t>(0x2000, 0)));
}

TEST_F(BuildDomainTest, FillsStartInfo) {
  EXPECT_STREQ(si->magic, TG_START_INFO_MAGIC);
  EXPECT_EQ(si->abi_version, static_cast<uint32_t>(TG_ABI_VERSION));
  EXPECT_EQ(si->flags, 0u);
  EXPECT_EQ(si->nr_pages, 16 * kMiB / 4096);
  EXPECT_EQ(si->virt_base, TG_DEFAULT_VIRT_BASE);
  EXPECT_EQ(si->shared_info_gpa, layout.shared_info_gpa);
  EXPECT_EQ(si->shared_info_va, TG_DEFAULT_VIRT_BASE + layout.shared_info_gpa);
  EXPECT_EQ(si->pt_base, TG_DEFAULT_VIRT_BASE + layout.page_tables_gpa);
  EXPECT_EQ(si->nr_pt_frames, layout.nr_page_table_frames);
  EXPECT_EQ(si->first_free_gpa, layout.stack_top_gpa);
  EXPECT_EQ(si->console_ring_gfn, layout.console_ring_gpa >> 12);
  EXPECT_EQ(si->store_ring_gfn, layout.store_ring_gpa >> 12);
  EXPECT_EQ(si->nr_vcpus, 1u);
  EXPECT_EQ(si->tsc_khz, 2'500'000u);
  ASSERT_EQ(si->nr_memmap, 1u);
  EXPECT_EQ(si->memmap[0].gpa, 0u);
  EXPECT_EQ(si->memmap[0].size, 16 * kMiB);
  EXPECT_EQ(si->memmap[0].type, static_cast<uint32_t>(TG_MEMMAP_RAM));
  EXPECT_STREQ(si->cmdline, "console=hvc0 root=/dev/ram0");
}

TEST_F(BuildDomainTest, BootMapEndIsAlignedAndLeavesPadding) {
  EXPECT_EQ(si->boot_map_end, layout.boot_map_end);
  EXPECT_EQ(layout.boot_map_end % (4 * kMiB), 0u);
  EXPECT_GE(layout.boot_map_end, layout.first_free_gpa + 512 * 1024);
  EXPECT_EQ(layout.nr_page_table_frames, page_table_frames_for(TG_DEFAULT_VIRT_BASE, layout.boot_map_end));
}

TEST_F(BuildDomainTest, BootPageTablesMapEveryPageWritableExceptThemselves) {
  GuestAddressSpace space(memory, layout.page_tables_gpa);
  const uint64_t pt_end = layout.page_tables_gpa + layout.nr_page_table_frames * 4096;
  for (uint64_t gpa = 0; gpa < layout.boot_map_end; gpa += 4096) {
    const uint64_t va = layout.va(gpa);
    Translation read = space.translate(va, Access::kRead);
    ASSERT_TRUE(read.ok()) << std::hex << va << ": " << read.error;
    ASSERT_EQ(read.gpa, gpa);
    Translation write = space.translate(va, Access::kWrite);
    if (gpa >= layout.page_tables_gpa && gpa < pt_end) {
      ASSERT_STREQ(write.error, "not writable") << std::hex << gpa;
    } else {
      ASSERT_TRUE(write.ok()) << std::hex << gpa << ": " << write.error;
    }
  }
  EXPECT_STREQ(space.translate(layout.va(layout.boot_map_end), Access::kRead).error, "not mapped");
}

TEST_F(BuildDomainTest, L4CarriesTheReservedSlot) {
  const uint64_t slot = *memory.ram_object<uint64_t>(layout.page_tables_gpa + 8 * TG_RESERVED_L4_SLOT);
  EXPECT_EQ(slot, reserved_area::l4_entry());
  EXPECT_TRUE(slot & pte::kPresent);
  for (unsigned i = TG_RESERVED_L4_FIRST; i <= TG_RESERVED_L4_LAST; ++i) {
    if (i == TG_RESERVED_L4_SLOT) continue;
    EXPECT_EQ(*memory.ram_object<uint64_t>(layout.page_tables_gpa + 8 * i), 0u) << i;
  }
}

TEST_F(BuildDomainTest, SharedInfoStartsWithEventsMasked) {
  const auto* shared = memory.ram_object<tg_shared_info>(layout.shared_info_gpa);
  for (const auto& v : shared->vcpu_info) {
    EXPECT_EQ(v.upcall_mask, 1);
    EXPECT_EQ(v.upcall_pending, 0);
    EXPECT_EQ(v.time.version, 0u);
  }
  for (uint64_t word : shared->evtchn_mask) EXPECT_EQ(word, 0u);
  for (uint64_t word : shared->evtchn_pending) EXPECT_EQ(word, 0u);
}

TEST(BuildDomain, WithoutInitramfsModStartIsZero) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  BootLayout layout = build_domain(memory, test_kernel(), BootParams{});
  EXPECT_EQ(memory.ram_object<tg_start_info>(layout.start_info_gpa)->mod_start, 0u);
  EXPECT_EQ(layout.start_info_gpa, kDataGpa + test::kTestDataMemsz);
}

TEST(BuildDomain, TruncatesOverlongCmdline) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  BootParams params;
  params.cmdline = std::string(3 * TG_CMDLINE_SIZE, 'x');
  BootLayout layout = build_domain(memory, test_kernel(), params);
  const auto* si = memory.ram_object<tg_start_info>(layout.start_info_gpa);
  EXPECT_EQ(std::string(si->cmdline), std::string(TG_CMDLINE_SIZE - 1, 'x'));
}

TEST(BuildDomain, HonoursTheKernelsVirtualBase) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  const uint64_t base = 0xffffffffc0000000ULL;
  BootLayout layout = build_domain(memory, test_kernel_at(base), BootParams{});
  EXPECT_EQ(layout.virt_base, base);
  GuestAddressSpace space(memory, layout.page_tables_gpa);
  Translation t = space.translate(base + kTextGpa, Access::kRead);
  ASSERT_TRUE(t.ok()) << t.error;
  EXPECT_EQ(t.gpa, kTextGpa);
}

// The test kernel asking the builder for a map of all RAM at `physmap`.
KernelImage test_kernel_with_physmap(uint64_t physmap) {
  test::ElfSpec spec = test::test_kernel_spec();
  spec.notes.push_back(test::tortuga_note(TG_ELFNOTE_PHYSMAP_VA, physmap));
  return parse_kernel_image(test::build_elf(spec).bytes);
}

constexpr uint64_t kLinuxPhysmap = 0xffff888000000000ULL;

TEST(BuildDomain, PhysmapMapsAllRamWritableExceptTheTables) {
  GuestMemory memory(64 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  BootLayout layout = build_domain(memory, test_kernel_with_physmap(kLinuxPhysmap), BootParams{});
  EXPECT_EQ(memory.ram_object<tg_start_info>(layout.start_info_gpa)->physmap_va, kLinuxPhysmap);
  EXPECT_EQ(layout.nr_page_table_frames, page_table_frames_for(TG_DEFAULT_VIRT_BASE, layout.boot_map_end) +
                                             page_table_frames_for(kLinuxPhysmap, 64 * kMiB) - 1);
  GuestAddressSpace space(memory, layout.page_tables_gpa);
  const uint64_t pt_end = layout.page_tables_gpa + layout.nr_page_table_frames * 4096;
  for (uint64_t gpa = 0; gpa < 64 * kMiB; gpa += 4096) {
    Translation write = space.translate(kLinuxPhysmap + gpa, Access::kWrite);
    if (gpa >= layout.page_tables_gpa && gpa < pt_end) {
      ASSERT_STREQ(write.error, "not writable") << std::hex << gpa;
      ASSERT_TRUE(space.translate(kLinuxPhysmap + gpa, Access::kRead).ok()) << std::hex << gpa;
    } else {
      ASSERT_TRUE(write.ok()) << std::hex << gpa << ": " << write.error;
      ASSERT_EQ(write.gpa, gpa);
    }
  }
  EXPECT_STREQ(space.translate(kLinuxPhysmap + 64 * kMiB, Access::kRead).error, "not mapped");
  // The boot mapping is still there, and still ends at boot_map_end.
  EXPECT_TRUE(space.translate(layout.va(kTextGpa), Access::kRead).ok());
  EXPECT_STREQ(space.translate(layout.va(layout.boot_map_end), Access::kRead).error, "not mapped");
}

TEST(BuildDomain, WithoutThePhysmapNoteNothingElseIsMapped) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  BootLayout layout = build_domain(memory, test_kernel(), BootParams{});
  EXPECT_EQ(memory.ram_object<tg_start_info>(layout.start_info_gpa)->physmap_va, 0u);
  GuestAddressSpace space(memory, layout.page_tables_gpa);
  EXPECT_STREQ(space.translate(kLinuxPhysmap, Access::kRead).error, "not mapped");
}

TEST(BuildDomain, RefusesAPhysmapThatSharesTheBootMappingsL4Slot) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  EXPECT_THAT(build_refusal(memory, test_kernel_with_physmap(TG_DEFAULT_VIRT_BASE - 0x40000000ULL)),
              HasSubstr("shares L4 slots 511-511 with the boot mapping"));
}

TEST(BuildDomain, RefusesAPhysmapInTheReservedRangeOrNotCanonical) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  EXPECT_THAT(build_refusal(memory, test_kernel_with_physmap(TG_RESERVED_VA_START)), HasSubstr("must stay out of"));
  EXPECT_THAT(build_refusal(memory, test_kernel_with_physmap(0x0000800000000000ULL)), HasSubstr("canonical"));
  EXPECT_THAT(build_refusal(memory, test_kernel_with_physmap(0x00007fffffff0000ULL)), HasSubstr("canonical"));
}

TEST(CheckRequiredFeatures, RefusesAKernelThatNeedsWhatIsNotOffered) {
  test::ElfSpec spec = test::test_kernel_spec();
  spec.notes.push_back(test::tortuga_note(TG_ELFNOTE_FEATURES, TG_FEAT_PHYSMAP | TG_FEAT_PV_MMU));
  KernelImage kernel = parse_kernel_image(test::build_elf(spec).bytes);
  EXPECT_NO_THROW(check_required_features(kernel, TG_FEAT_PHYSMAP | TG_FEAT_PV_MMU | TG_FEAT_EVENTS));
  try {
    check_required_features(kernel, TG_FEAT_PV_MMU);
    FAIL() << "accepted";
  } catch (const KernelImageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("requires Tortuga features 0x400 that this VMM does not offer"));
  }
}

TEST(BuildDomain, RefusesAPhysmapThatIsNotPageAligned) {
  test::ElfSpec spec = test::test_kernel_spec();
  spec.notes.push_back(test::tortuga_note(TG_ELFNOTE_PHYSMAP_VA, kLinuxPhysmap + 8));
  try {
    parse_kernel_image(test::build_elf(spec).bytes);
    FAIL() << "accepted";
  } catch (const KernelImageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("physmap virtual address is not page aligned"));
  }
}

TEST(BuildDomain, RefusesKernelOutsideMemory) {
  GuestMemory memory(2 * kMiB, reserved_area::kGpa, reserved_area::kSize);  // the kernel starts at 2 MiB
  EXPECT_THAT(build_refusal(memory, test_kernel()), HasSubstr("outside the domain's 2 MiB of memory"));
}

TEST(BuildDomain, RefusesMemoryTooSmallForBootLayout) {
  GuestMemory memory(4 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  BootParams params;
  params.initramfs.assign(3 * kMiB, 0x5a);
  EXPECT_THAT(build_refusal(memory, test_kernel(), params), HasSubstr("4 MiB of memory is too small"));
}

// An initramfs that puts the end of the bootstrap stack `room` bytes
// before the end of 4 MiB of RAM (4 pages from start info to the store
// ring, 5 table frames for a 4 MiB mapping, 4 stack pages).
BootParams params_leaving(const KernelImage& kernel, uint64_t room) {
  const uint64_t kernel_end = (kernel.end_gpa() + 4095) & ~uint64_t{4095};
  BootParams params;
  params.initramfs.assign(4 * kMiB - room - (4 + 5 + 4) * 4096 - kernel_end, 0x5a);
  return params;
}

// ABI.md 5.1: at least 512 KiB mapped and free after the stack. When RAM
// ends before that, the domain is refused rather than given less.
TEST(BuildDomain, RefusesMemoryThatLeavesLessThanTheBootPadding) {
  GuestMemory memory(4 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  KernelImage kernel = test_kernel();
  EXPECT_THAT(build_refusal(memory, kernel, params_leaving(kernel, 256 * 1024)),
              HasSubstr("4 MiB of memory is too small"));
}

TEST(BuildDomain, BootMapEndIsTheEndOfRamWhenRamEndsFirst) {
  GuestMemory memory(4 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  KernelImage kernel = test_kernel();
  BootLayout layout = build_domain(memory, kernel, params_leaving(kernel, 512 * 1024));
  EXPECT_EQ(layout.boot_map_end, 4 * kMiB);
  EXPECT_EQ(layout.boot_map_end - layout.first_free_gpa, 512 * 1024u);
}

// The kernel picks its virtual base; the boot mapping built from it must
// stay out of the VMM's reserved range and must not wrap around.
TEST(BuildDomain, RefusesVirtualBaseInReservedRange) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  EXPECT_THAT(build_refusal(memory, test_kernel_at(TG_RESERVED_AREA_VA)), HasSubstr("virtual base"));
  EXPECT_THAT(build_refusal(memory, test_kernel_at(TG_RESERVED_VA_START - 2 * kMiB)), HasSubstr("virtual base"));
}

TEST(BuildDomain, RefusesBootMappingThatWrapsTheAddressSpace) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  EXPECT_THAT(build_refusal(memory, test_kernel_at(0xffffffffffd00000ULL)), HasSubstr("virtual base"));
}

TEST(BuildDomain, RefusesNonCanonicalVirtualBase) {
  GuestMemory memory(16 * kMiB, reserved_area::kGpa, reserved_area::kSize);
  EXPECT_THAT(build_refusal(memory, test_kernel_at(0x0000900000000000ULL)), HasSubstr("virtual base"));
  EXPECT_THAT(build_refusal(memory, test_kernel_at(0x00007ffffff00000ULL)), HasSubstr("virtual base"));
}

}  // namespace
}  // namespace tortuga
