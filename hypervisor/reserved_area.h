// The VMM's CPL0 area inside every domain: a separate guest-physical range
// (never RAM, so the guest can never be granted a mapping of it) mapped at
// TG_RESERVED_VA_START, supervisor-only, in every guest top-level table.
//
//   +0x0000  L3, L2, L1 page tables of the area itself
//   +0x3000  IDT: vectors 0..31 go to one stub each, the rest to one stub
//   +0x4000  stubs: `out %al, $port ; hlt`, port = vector, or a port below
//   +0x10000 + vcpu * 0x8000: GDT (+0), TSS (+0x800), VirtualCpuState
//            (+0x1000), CPL0 stack (+0x4000 .. +0x8000)
//
// A guest exception or SYSCALL enters a stub at CPL0 through the IDT or
// LSTAR; the stub's one `out` leaves KVM_RUN with the port naming the
// event, and the CPU-pushed frame is on the vCPU's CPL0 stack.
#pragma once

#include <cstdint>

#include <tortuga/cpu.h>
#include <tortuga/shared_info.h>

#include "guest_memory.h"
#include "vcpu_state.h"

namespace tortuga::reserved_area {

constexpr uint64_t kGpa = 0x40'0000'0000ULL;  // 256 GiB: above any guest RAM we allow
constexpr uint64_t kSize = 2ULL << 20;
constexpr uint64_t kVa = TG_RESERVED_VA_START;

constexpr uint64_t kL3 = 0x0000, kL2 = 0x1000, kL1 = 0x2000;
constexpr uint64_t kIdt = 0x3000;
constexpr uint64_t kStubs = 0x4000;
constexpr uint64_t kStubStride = 4;
constexpr uint64_t kUnexpectedStub = kStubs + 32 * kStubStride;
constexpr uint64_t kSyscallStub = kStubs + 0x100;

constexpr uint64_t kVcpuBase = 0x10000, kVcpuStride = 0x8000;
constexpr uint64_t kGdtOffset = 0x0, kTssOffset = 0x800, kStateOffset = 0x1000;
constexpr uint64_t kStackTopOffset = 0x8000;
constexpr uint32_t kTssLimit = 0x67;
static_assert(sizeof(VirtualCpuState) <= 0x3000);
static_assert(kVcpuBase + TG_MAX_VCPUS * kVcpuStride <= kSize);

// Port numbers of the stubs' `out`: 0..31 are exception vectors.
constexpr uint16_t kPortUnexpectedVector = 0x20;
constexpr uint16_t kPortSyscall = 0x21;

// Hardware selectors. The guest never sees these: frames carry the
// virtual selectors of <tortuga/cpu.h>.
constexpr uint16_t kVmmCs = 0x08;
constexpr uint16_t kKernelCs = 0x13;  // index 2, DPL3: guest kernel code
constexpr uint16_t kKernelSs = 0x1b;  // index 3, DPL3: guest kernel data
constexpr uint16_t kUser32Cs = 0x23;  // index 4 = TG_USER32_CS
constexpr uint16_t kUserDs = 0x2b;    // index 5 = TG_USER_DS
constexpr uint16_t kUserCs = 0x33;    // index 6 = TG_USER_CS
constexpr uint16_t kTssSelector = 0x38;
constexpr uint16_t kGdtLimit = 0x47;  // 9 slots: TSS takes two

constexpr uint64_t vcpu_offset(uint32_t vcpu) { return kVcpuBase + vcpu * kVcpuStride; }
constexpr uint64_t va(uint64_t offset) { return kVa + offset; }
constexpr bool contains_va(uint64_t va) { return va >= TG_RESERVED_VA_START && va < TG_RESERVED_VA_END; }

// Writes the area's page tables, IDT, stubs, and the GDT and TSS of every
// vCPU. Idempotent.
void build(const GuestMemory& memory, uint32_t nr_vcpus);

// The value the VMM puts in slot TG_RESERVED_L4_SLOT of every guest L4:
// present, writable, supervisor-only.
uint64_t l4_entry();

VirtualCpuState& vcpu_state(const GuestMemory& memory, uint32_t vcpu);

}  // namespace tortuga::reserved_area
