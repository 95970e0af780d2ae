// The stack scan behind --trace-mmu: the word at rsp, then words above it
// that follow a call instruction in the kernel half, stopping at unmapped
// stack. Hand-built page tables over anonymous guest RAM.
#include "vcpu/guest_call_stack.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "page_table_builder.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

using ::testing::ElementsAre;

constexpr uint64_t kRam = 4ULL << 20;
constexpr uint64_t kFlags = pte::kPresent | pte::kWritable | pte::kUser;
constexpr uint64_t kText = 0xffffffff81000000ULL, kTextGpa = 0x200000;
constexpr uint64_t kStack = 0xffffc90000004000ULL, kStackGpa = 0x201000;  // one page; the next is unmapped

class GuestCallStackTest : public ::testing::Test {
 protected:
  GuestMemory memory{kRam, reserved_area::kGpa, reserved_area::kSize};
  test::PageTableBuilder tables{memory, 0x1000};

  void SetUp() override {
    tables.map(kText, kTextGpa, kFlags);
    tables.map(kStack, kStackGpa, kFlags);
  }
  GuestAddressSpace space() const { return GuestAddressSpace(memory, tables.cr3()); }
  // Puts instruction bytes at text offset `at`; returns the address after them.
  uint64_t code(uint64_t at, std::initializer_list<uint8_t> bytes) {
    std::memcpy(memory.ram(kTextGpa + at, bytes.size()), bytes.begin(), bytes.size());
    return kText + at + bytes.size();
  }
  void stack_word(uint64_t offset, uint64_t value) { *memory.ram_object<uint64_t>(kStackGpa + offset) = value; }
};

TEST_F(GuestCallStackTest, RecognisesTheCallForms) {
  EXPECT_TRUE(follows_call_instruction(space(), code(0x100, {0xe8, 1, 2, 3, 4})));        // call rel32
  EXPECT_TRUE(follows_call_instruction(space(), code(0x200, {0xff, 0x15, 1, 2, 3, 4})));  // call *disp32(%rip)
  EXPECT_TRUE(follows_call_instruction(space(), code(0x300, {0xff, 0xd0})));              // call *%rax
  EXPECT_TRUE(follows_call_instruction(space(), code(0x400, {0x41, 0xff, 0xd3})));        // call *%r11
  EXPECT_TRUE(follows_call_instruction(space(), code(0x500, {0xff, 0x50, 0x08})));        // call *8(%rax)
  EXPECT_TRUE(follows_call_instruction(space(), code(0x600, {0xff, 0x93, 0, 1, 0, 0})));  // call *0x100(%rbx)
  EXPECT_FALSE(follows_call_instruction(space(), code(0x700, {0x90, 0x90, 0x90, 0x90, 0x90, 0x90})));
  EXPECT_FALSE(follows_call_instruction(space(), kText + 2));              // straddles unmapped
  EXPECT_FALSE(follows_call_instruction(space(), 0xffffffff90000000ULL));  // unmapped
}

TEST_F(GuestCallStackTest, TakesTheWordAtRspThenCallSitesAbove) {
  uint64_t after_call = code(0x100, {0xe8, 1, 2, 3, 4});
  uint64_t after_indirect = code(0x200, {0xff, 0xd0});
  uint64_t not_after_call = code(0x300, {0x90, 0x90, 0x90, 0x90, 0x90, 0x90});
  uint64_t rsp = kStack + 0x100;
  stack_word(0x100, 0x1234);  // taken whatever it is: the slot's return address
  stack_word(0x108, not_after_call);
  stack_word(0x110, after_call);
  stack_word(0x118, 0x00007fff00001000ULL);  // lower half: never a kernel return address
  stack_word(0x120, after_indirect);
  EXPECT_THAT(guest_return_addresses(space(), rsp), ElementsAre(0x1234u, after_call, after_indirect));
  EXPECT_THAT(guest_return_addresses(space(), rsp, {.frames = 2}), ElementsAre(0x1234u, after_call));
  EXPECT_THAT(guest_return_addresses(space(), rsp, {.frames = 4, .words = 2}), ElementsAre(0x1234u, after_call));
}

TEST_F(GuestCallStackTest, StopsAtUnreadableStack) {
  uint64_t after_call = code(0x100, {0xe8, 1, 2, 3, 4});
  stack_word(0xff0, 0x1234);
  stack_word(0xff8, after_call);
  EXPECT_THAT(guest_return_addresses(space(), kStack + 0xff0), ElementsAre(0x1234u, after_call));
  EXPECT_TRUE(guest_return_addresses(space(), kStack + 0x1000).empty());
  EXPECT_TRUE(guest_return_addresses(space(), kStack + 0xffc).empty());  // the word straddles the unmapped page
}

}  // namespace
}  // namespace tortuga
