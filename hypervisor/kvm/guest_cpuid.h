// The guest's CPUID view (ABI.md 2.5): the host's, minus what a kernel at
// CPL3 cannot use, with Tortuga's signature in the hypervisor leaves.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace tortuga {

// Where the Tortuga leaves go. 0x40000000 is the conventional base, but
// some KVM hosts (PVM) answer it with KVM's own signature whatever the VMM
// sets, so the leaves are repeated at the next base, where guests that
// scan (as Linux's hypervisor_cpuid_base() does) find them.
inline constexpr uint32_t kTortugaCpuidBases[] = {0x40000000U, 0x40000100U};

std::vector<kvm_cpuid_entry2> guest_cpuid(const std::vector<kvm_cpuid_entry2>& supported);

// The XCR0 the VMM fixes for a guest with CPUID view `view` (ABI.md 2.4):
// the user state components the view offers and a CPL3 kernel can manage
// with XSAVE: x87 and SSE, AVX when leaf 1 has it, the three AVX-512
// components together when leaf 7 has AVX512F. Never supervisor state,
// PKRU (PKU is hidden), MPX or AMX. 0 when the view has no XSAVE.
uint64_t guest_xcr0(const std::vector<kvm_cpuid_entry2>& view);

}  // namespace tortuga
