// privileged_instruction_name: names the instructions a CPL3 guest kernel
// may not execute, after legacy and REX prefixes, and nothing else.
#include "vcpu/privileged_instruction.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace tortuga {
namespace {

std::optional<std::string> name_of(std::vector<uint8_t> code) {
  return privileged_instruction_name(std::span<const uint8_t>(code.data(), code.size()));
}

struct Named {
  std::vector<uint8_t> code;
  const char* name;
};

class PrivilegedInstruction : public ::testing::TestWithParam<Named> {};

TEST_P(PrivilegedInstruction, IsNamed) { EXPECT_EQ(name_of(GetParam().code), GetParam().name); }

TEST_P(PrivilegedInstruction, IsNamedAfterPrefixes) {
  for (std::vector<uint8_t> prefixes : {std::vector<uint8_t>{0x66}, {0x48}, {0xf3}, {0x2e, 0x67, 0xf0, 0x41}}) {
    std::vector<uint8_t> code = prefixes;
    code.insert(code.end(), GetParam().code.begin(), GetParam().code.end());
    EXPECT_EQ(name_of(code), GetParam().name) << "after " << prefixes.size() << " prefix bytes";
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, PrivilegedInstruction,
    ::testing::Values(Named{{0xfa}, "cli"}, Named{{0xfb}, "sti"}, Named{{0xf4}, "hlt"}, Named{{0xe6, 0x80}, "out"},
                      Named{{0xee}, "out"}, Named{{0xec}, "in"}, Named{{0xe4, 0x60}, "in"}, Named{{0x6c}, "ins"},
                      Named{{0x6f}, "outs"}, Named{{0x0f, 0x22, 0xd8}, "mov to cr3"},
                      Named{{0x0f, 0x20, 0xc0}, "mov from cr0"}, Named{{0x0f, 0x22, 0xe0}, "mov to cr4"},
                      Named{{0x0f, 0x23, 0xf8}, "mov to dr7"}, Named{{0x0f, 0x30}, "wrmsr"},
                      Named{{0x0f, 0x32}, "rdmsr"}, Named{{0x0f, 0x01, 0x10}, "lgdt"},
                      Named{{0x0f, 0x01, 0x18}, "lidt"}, Named{{0x0f, 0x01, 0x38}, "invlpg"},
                      Named{{0x0f, 0x01, 0xf8}, "swapgs"}, Named{{0x0f, 0x00, 0xd8}, "ltr"},
                      Named{{0x0f, 0x00, 0xd0}, "lldt"}, Named{{0x0f, 0x09}, "wbinvd"}, Named{{0x0f, 0x08}, "invd"},
                      Named{{0x0f, 0x06}, "clts"}, Named{{0x0f, 0x07}, "sysret"}, Named{{0xcd, 0x80}, "int"},
                      Named{{0xcf}, "iret"}, Named{{0x0f, 0x01, 0xc8}, "monitor"}, Named{{0x0f, 0x01, 0xc9}, "mwait"}));

class UnprivilegedInstruction : public ::testing::TestWithParam<std::vector<uint8_t>> {};

TEST_P(UnprivilegedInstruction, IsNotNamed) {
  EXPECT_EQ(name_of(GetParam()), std::nullopt);
  std::vector<uint8_t> prefixed{0x66, 0x48};
  prefixed.insert(prefixed.end(), GetParam().begin(), GetParam().end());
  EXPECT_EQ(name_of(prefixed), std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(All, UnprivilegedInstruction,
                         ::testing::Values(std::vector<uint8_t>{0x90},              // nop
                                           std::vector<uint8_t>{0x48, 0x89, 0xc3},  // mov %rax,%rbx
                                           std::vector<uint8_t>{0x0f, 0x05},        // syscall
                                           std::vector<uint8_t>{0x0f, 0x31},        // rdtsc
                                           std::vector<uint8_t>{0x0f, 0xa2},        // cpuid
                                           std::vector<uint8_t>{0x0f, 0x0b},        // ud2
                                           std::vector<uint8_t>{0xcc},              // int3
                                           std::vector<uint8_t>{0x0f, 0x00, 0xc0},  // sldt %eax
                                           std::vector<uint8_t>{0x0f, 0x01, 0x00}   // sgdt (%rax)
                                           ));

TEST(PrivilegedInstructionName, EmptyInputIsNothing) { EXPECT_EQ(name_of({}), std::nullopt); }

TEST(PrivilegedInstructionName, OnlyPrefixesIsNothing) { EXPECT_EQ(name_of({0x66, 0xf3, 0x48}), std::nullopt); }

TEST(PrivilegedInstructionName, LoneTwoByteEscapeIsNothing) { EXPECT_EQ(name_of({0x0f}), std::nullopt); }

TEST(PrivilegedInstructionName, TruncatedGroupSevenWithoutModrmIsNothing) {
  EXPECT_EQ(name_of({0x0f, 0x01}), std::nullopt);
}

TEST(PrivilegedInstructionName, FourteenPrefixesStillDecode) {
  std::vector<uint8_t> code(14, 0x66);
  code.push_back(0xfa);
  EXPECT_EQ(name_of(code), "cli");
}

TEST(PrivilegedInstructionName, FifteenPrefixesLeaveNoOpcode) {
  // An instruction is at most 15 bytes, the most the VMM reads at rip.
  EXPECT_EQ(name_of(std::vector<uint8_t>(15, 0x66)), std::nullopt);
}

TEST(PrivilegedInstructionName, PrefixScanStopsAfterFifteenBytes) {
  std::vector<uint8_t> many(40, 0xf3);
  many.push_back(0xf4);
  EXPECT_EQ(name_of(many), std::nullopt);
}

TEST(PrivilegedInstructionName, OnlyTheFirstInstructionCounts) {
  EXPECT_EQ(name_of({0x90, 0xfa}), std::nullopt);
  EXPECT_EQ(name_of({0xfa, 0x90}), "cli");
}

}  // namespace
}  // namespace tortuga
