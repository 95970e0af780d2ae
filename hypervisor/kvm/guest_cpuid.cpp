#include "kvm/guest_cpuid.h"

#include <cstring>

#include <tortuga/cpu.h>
#include <tortuga/types.h>
#include <tortuga/vcpu.h>

namespace tortuga {

namespace {

constexpr uint32_t bit(unsigned n) { return 1U << n; }

// Leaf 1: no VMX, SMX, MONITOR, PCID, x2APIC or TSC deadline; "hypervisor present".
void mask_leaf_1(kvm_cpuid_entry2& e) {
  e.ecx &= ~(bit(3) | bit(5) | bit(6) | bit(17) | bit(21) | bit(24));
  e.ecx |= bit(31);
  // No VME, MCE, APIC, MTRR, MCA or ACPI.
  e.edx &= ~(bit(1) | bit(7) | bit(9) | bit(12) | bit(14) | bit(22));
}

// Leaf 7.0: none of the CPL0 protections or instructions a CPL3 kernel cannot use.
void mask_leaf_7(kvm_cpuid_entry2& e) {
  if (e.index != 0) return;
  e.ebx &= ~(bit(0) | bit(7) | bit(10) | bit(20));          // FSGSBASE SMEP INVPCID SMAP
  e.ecx &= ~(bit(2) | bit(3) | bit(4) | bit(7) | bit(16));  // UMIP PKU OSPKE CET_SS LA57
  e.edx &= ~bit(20);                                        // CET_IBT
}

// Leaf 0xD: XSAVES and supervisor state components are CPL0 business.
void mask_leaf_0xd(kvm_cpuid_entry2& e) {
  if (e.index == 1) {
    // XSAVES/XRSTORS, and XSAVEC, whose compacted size (ebx) counts the
    // supervisor components a CPL3 kernel can never save.
    e.eax &= ~(bit(1) | bit(3));
    e.ebx = 0;
    e.ecx = 0;  // IA32_XSS components
    e.edx = 0;
  } else if (e.index >= 2 && (e.ecx & bit(0))) {
    e.eax = e.ebx = e.ecx = e.edx = 0;  // a supervisor component
  }
}

void mask_leaf_0x80000001(kvm_cpuid_entry2& e) {
  e.edx &= ~bit(26);  // 1 GiB pages
}

bool is_hypervisor_leaf(uint32_t function) { return function >= 0x40000000U && function <= 0x4fffffffU; }

std::vector<kvm_cpuid_entry2> tortuga_leaves(uint32_t base) {
  kvm_cpuid_entry2 signature{};
  signature.function = base;
  signature.eax = base + (TG_CPUID_LEAF_MAX - TG_CPUID_LEAF_BASE);
  signature.ebx = TG_CPUID_SIGNATURE_EBX;
  signature.ecx = TG_CPUID_SIGNATURE_ECX;
  signature.edx = TG_CPUID_SIGNATURE_EDX;
  kvm_cpuid_entry2 version{};
  version.function = base + (TG_CPUID_LEAF_VERSION - TG_CPUID_LEAF_BASE);
  version.eax = TG_ABI_VERSION;
  return {signature, version};
}

const kvm_cpuid_entry2* find_leaf(const std::vector<kvm_cpuid_entry2>& view, uint32_t function, uint32_t index) {
  for (const auto& e : view) {
    if (e.function == function && e.index == index) return &e;
  }
  return nullptr;
}

constexpr uint64_t kXcr0X87Sse = 0x3, kXcr0Avx = 0x4, kXcr0Avx512 = 0xe0;  // opmask, ZMM_Hi256, Hi16_ZMM

// The components whose instructions the view offers.
uint64_t offered_components(const kvm_cpuid_entry2& leaf1, const kvm_cpuid_entry2* leaf7) {
  uint64_t want = kXcr0X87Sse;
  if (leaf1.ecx & bit(28)) want |= kXcr0Avx;
  if (leaf7 != nullptr && (leaf7->ebx & bit(16)) && (want & kXcr0Avx)) want |= kXcr0Avx512;
  return want;
}

}  // namespace

uint64_t guest_xcr0(const std::vector<kvm_cpuid_entry2>& view) {
  const kvm_cpuid_entry2* leaf1 = find_leaf(view, 0x1, 0);
  const kvm_cpuid_entry2* leaf_d = find_leaf(view, 0xd, 0);
  if (leaf1 == nullptr || leaf_d == nullptr || !(leaf1->ecx & bit(26))) return 0;  // no XSAVE
  uint64_t supported = (uint64_t{leaf_d->edx} << 32) | leaf_d->eax;
  uint64_t xcr0 = supported & offered_components(*leaf1, find_leaf(view, 0x7, 0));
  // AVX-512's three components go together, or none of them.
  if ((xcr0 & kXcr0Avx512) != kXcr0Avx512) xcr0 &= ~kXcr0Avx512;
  return (xcr0 & kXcr0X87Sse) == kXcr0X87Sse ? xcr0 : 0;
}

std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported) {
  std::vector<kvm_cpuid_entry2> out;
  for (kvm_cpuid_entry2 e : supported) {
    if (is_hypervisor_leaf(e.function)) continue;  // KVM's own PV leaves are not offered
    switch (e.function) {
      case 0x1: mask_leaf_1(e); break;
      case 0x6:                                            // power management
      case 0xa: e.eax = e.ebx = e.ecx = e.edx = 0; break;  // PMU
      case 0x7: mask_leaf_7(e); break;
      case 0xd: mask_leaf_0xd(e); break;
      case 0x80000001: mask_leaf_0x80000001(e); break;
      default: break;
    }
    out.push_back(e);
  }
  for (uint32_t base : kTortugaCpuidBases) {
    for (const auto& e : tortuga_leaves(base)) out.push_back(e);
  }
  return out;
}

}  // namespace tortuga
