// The dirty set of live migration (dirty_pages.h): marks from the VMM's
// writes merged with KVM's log, taken and cleared per round.
#include "memory/dirty_pages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "memory/grant_table.h"
#include "mmu/guest_address_space.h"
#include "page_table_builder.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(DirtyPages, TakeReturnsMarkedFramesInOrderAndClears) {
  DirtyPages d(200);
  d.mark(150);
  d.mark(3);
  d.mark(3);
  d.mark(64);
  EXPECT_EQ(d.count(), 3u);
  EXPECT_THAT(d.take(), ElementsAre(3, 64, 150));
  EXPECT_THAT(d.take(), IsEmpty());
}

TEST(DirtyPages, FramesOutsideTheDomainAreIgnored) {
  DirtyPages d(70);
  d.mark(70);
  d.mark(~0ULL);
  d.mark_range(69 * 4096, 3 * 4096);  // 69, then past the end
  EXPECT_THAT(d.take(), ElementsAre(69));
}

TEST(DirtyPages, RangesCoverEveryPageTheyTouch) {
  DirtyPages d(16);
  d.mark_range(4096 - 1, 2);  // straddles frames 0 and 1
  d.mark_range(5 * 4096, 4096);
  d.mark_range(8 * 4096, 0);
  EXPECT_THAT(d.take(), ElementsAre(0, 1, 5));
}

TEST(DirtyPages, KvmLogIsMergedWithTheVmmsMarks) {
  DirtyPages d(130);
  d.mark(1);
  std::vector<uint64_t> kvm(DirtyPages::bitmap_words(130));
  kvm[0] = 0b1100;               // frames 2, 3
  kvm[2] = 0b11ULL | 1ULL << 5;  // frames 128, 129, and 133 which is beyond the domain
  d.merge_kvm_log(kvm);
  d.mark(2);  // both saw it: once
  EXPECT_THAT(d.take(), ElementsAre(1, 2, 3, 128, 129));
}

TEST(DirtyPages, ConcurrentMarksAreAllKept) {
  DirtyPages d(4096);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&d, t] {
      for (uint64_t g = static_cast<uint64_t>(t); g < 4096; g += 4) d.mark(g);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(d.take().size(), 4096u);
}

// The VMM's writes reach the set: through a guest address space (hypercall
// results, bounce frames), a grant write, a released frame.
TEST(DirtyPages, VmmWritesToGuestMemoryAreMarked) {
  GuestMemory memory(4ULL << 20, reserved_area::kGpa, reserved_area::kSize);
  test::PageTableBuilder tables(memory, 0x1000);
  tables.map(0x400000, 0x200000, pte::kPresent | pte::kWritable | pte::kUser);
  DirtyPages d(memory.ram_pages());
  memory.attach_dirty_pages(&d);
  uint64_t value = 42;
  GuestAddressSpace(memory, tables.cr3()).copy_to(0x400ff8, &value, sizeof value);
  EXPECT_THAT(d.take(), ElementsAre(0x200));
  PvMmu mmu(memory, 1);
  GrantTable grants(memory, mmu);
  grants.page_written(0x300);
  memory.discard(0x3ff000, 4096);
  EXPECT_THAT(d.take(), ElementsAre(0x300, 0x3ff));
  memory.attach_dirty_pages(nullptr);
  grants.page_written(0x301);
  EXPECT_THAT(d.take(), IsEmpty());
}

}  // namespace
}  // namespace tortuga
