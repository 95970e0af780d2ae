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

}  // namespace tortuga
