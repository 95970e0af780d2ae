// The guest's CPUID view follows ABI.md 2.5.
#include "kvm/guest_cpuid.h"

#include <gtest/gtest.h>
#include <tortuga/cpu.h>
#include <tortuga/types.h>
#include <tortuga/vcpu.h>

#include <optional>

namespace tortuga {
namespace {

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index = 0, uint32_t value = 0xffffffffU) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.eax = e.ebx = e.ecx = e.edx = value;
  return e;
}

std::optional<kvm_cpuid_entry2> find(const std::vector<kvm_cpuid_entry2>& v, uint32_t function, uint32_t index = 0) {
  for (const auto& e : v)
    if (e.function == function && e.index == index) return e;
  return std::nullopt;
}

constexpr uint32_t bit(unsigned n) { return 1U << n; }

TEST(GuestCpuid, Leaf1HidesCpl0FeaturesAndSaysHypervisor) {
  auto e = *find(guest_cpuid({leaf(1, 0, 0xffffffffU)}), 1);
  for (unsigned b : {3U, 5U, 6U, 17U, 21U, 24U}) EXPECT_FALSE(e.ecx & bit(b)) << "ecx bit " << b;
  for (unsigned b : {1U, 7U, 9U, 12U, 14U, 22U}) EXPECT_FALSE(e.edx & bit(b)) << "edx bit " << b;
  EXPECT_TRUE(e.ecx & bit(31));
  EXPECT_TRUE(e.edx & bit(0)) << "the FPU stays";
  auto off = *find(guest_cpuid({leaf(1, 0, 0)}), 1);
  EXPECT_EQ(off.ecx, bit(31)) << "nothing is added but the hypervisor bit";
}

TEST(GuestCpuid, Leaf7HidesSupervisorProtections) {
  auto e = *find(guest_cpuid({leaf(7)}), 7);
  for (unsigned b : {0U, 7U, 10U, 20U}) EXPECT_FALSE(e.ebx & bit(b)) << "ebx bit " << b;
  for (unsigned b : {2U, 3U, 4U, 7U, 16U}) EXPECT_FALSE(e.ecx & bit(b)) << "ecx bit " << b;
  EXPECT_FALSE(e.edx & bit(20));
  EXPECT_TRUE(e.ebx & bit(5)) << "AVX2 stays";
}

TEST(GuestCpuid, XsaveHasNoSupervisorState) {
  kvm_cpuid_entry2 cet = leaf(0xd, 11, 0x10);
  cet.ecx = 1;  // ecx bit 0: a supervisor (IA32_XSS) component
  auto v = guest_cpuid({leaf(0xd, 0, 0xe7), leaf(0xd, 1, 0xf), leaf(0xd, 2, 0x100), cet});
  EXPECT_EQ(find(v, 0xd, 0)->eax, 0xe7U);
  EXPECT_EQ(find(v, 0xd, 1)->eax, 0x5U) << "XSAVES and XSAVEC hidden, XSAVEOPT and XGETBV1 kept";
  EXPECT_EQ(find(v, 0xd, 1)->ebx, 0U);
  EXPECT_EQ(find(v, 0xd, 1)->ecx, 0U);
  EXPECT_EQ(find(v, 0xd, 1)->edx, 0U);
  EXPECT_EQ(find(v, 0xd, 2)->eax, 0x100U) << "a user component is unchanged (ecx bit 0 clear)";
  auto sup = *find(v, 0xd, 11);
  EXPECT_EQ(sup.eax | sup.ebx | sup.ecx | sup.edx, 0U);
}

TEST(GuestCpuid, PowerAndPmuLeavesAreZeroAndNoGigabytePages) {
  auto v = guest_cpuid({leaf(6), leaf(0xa), leaf(0x80000001)});
  EXPECT_EQ(find(v, 6)->eax | find(v, 6)->ecx, 0U);
  EXPECT_EQ(find(v, 0xa)->eax | find(v, 0xa)->edx, 0U);
  EXPECT_FALSE(find(v, 0x80000001)->edx & bit(26));
}

TEST(GuestCpuid, KvmLeavesAreReplacedByTortugaAtBothBases) {
  kvm_cpuid_entry2 kvm = leaf(0x40000000, 0, 0);
  kvm.ebx = 0x4b4d564b;  // "KVMK"
  auto v = guest_cpuid({kvm, leaf(0x40000001)});
  for (uint32_t base : kTortugaCpuidBases) {
    auto sig = find(v, base);
    ASSERT_TRUE(sig);
    EXPECT_EQ(sig->eax, base + 1);
    EXPECT_EQ(sig->ebx, TG_CPUID_SIGNATURE_EBX);
    EXPECT_EQ(sig->ecx, TG_CPUID_SIGNATURE_ECX);
    EXPECT_EQ(sig->edx, TG_CPUID_SIGNATURE_EDX);
    EXPECT_EQ(find(v, base + 1)->eax, static_cast<uint32_t>(TG_ABI_VERSION));
  }
  size_t hypervisor_leaves = 0;
  for (const auto& e : v) hypervisor_leaves += e.function >= 0x40000000U;
  EXPECT_EQ(hypervisor_leaves, 4U) << "KVM's leaves are gone";
}

// ABI.md 2.4: the VMM fixes XCR0 to the user components the view offers.
std::vector<kvm_cpuid_entry2> xsave_view(uint32_t leaf1_ecx, uint32_t leaf7_ebx, uint64_t supported) {
  kvm_cpuid_entry2 l1 = leaf(1, 0, 0), l7 = leaf(7, 0, 0), ld = leaf(0xd, 0, 0);
  l1.ecx = leaf1_ecx;
  l7.ebx = leaf7_ebx;
  ld.eax = static_cast<uint32_t>(supported);
  ld.edx = static_cast<uint32_t>(supported >> 32);
  return {l1, l7, ld};
}

TEST(GuestXcr0, X87SseAvxAndAvx512WhenTheViewOffersThem) {
  EXPECT_EQ(guest_xcr0(xsave_view(bit(26) | bit(28), bit(16), 0xe7)), 0xe7U);
  EXPECT_EQ(guest_xcr0(xsave_view(bit(26) | bit(28), 0, 0xe7)), 0x7U) << "no AVX512F: no AVX-512 state";
  EXPECT_EQ(guest_xcr0(xsave_view(bit(26), bit(16), 0xe7)), 0x3U) << "no AVX: neither AVX nor AVX-512 state";
}

TEST(GuestXcr0, NeverPkruMpxAmxOrSupervisorState) {
  uint64_t everything = 0xffffffffffffffffULL;
  EXPECT_EQ(guest_xcr0(xsave_view(bit(26) | bit(28), bit(16), everything)), 0xe7U);
}

TEST(GuestXcr0, Avx512OnlyWhole) {
  EXPECT_EQ(guest_xcr0(xsave_view(bit(26) | bit(28), bit(16), 0x67)), 0x7U) << "Hi16_ZMM missing";
}

TEST(GuestXcr0, ZeroWithoutXsave) {
  EXPECT_EQ(guest_xcr0(xsave_view(bit(28), bit(16), 0xe7)), 0U);
  EXPECT_EQ(guest_xcr0({leaf(1, 0, 0xffffffffU)}), 0U) << "no leaf 0xd";
  EXPECT_EQ(guest_xcr0(xsave_view(bit(26), 0, 0x1)), 0U) << "x87 without SSE state is no XCR0 to set";
}

}  // namespace
}  // namespace tortuga
