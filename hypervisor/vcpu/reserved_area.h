// The VMM's CPL0 area inside every domain: a separate guest-physical range
// (never RAM, so the guest can never be granted a mapping of it) mapped at
// TG_RESERVED_AREA_VA (slot TG_RESERVED_L4_SLOT) in every guest top-level table.
//
//   +0x0000  L3, L2, L1 page tables of the area itself
//   +0x3000  IDT: vectors 0..31 go to one stub each, the rest to one stub
//   +0x4000  exception stubs: `out %al, $port ; hlt`, port = vector
//   +0x5000  the SYSCALL stub, alone in a read-only page that CPL3 may
//            execute: on PVM-backed KVM, SYSCALL jumps to LSTAR without
//            leaving CPL3 (PLATFORM.md is wrong about that); on hardware
//            KVM it runs at CPL0 (SMEP is off). Either way its `out` exits.
//   +0x10000 + vcpu * 0x8000: GDT (+0), TSS (+0x800), VirtualCpuState
//            (+0x1000), CPL0 stack (+0x4000 .. +0x8000)
//   +2 MiB + vcpu * 256 KiB: the vCPU's page-table apply routine (code, then
//            the values it copies; apply_program.h), in 2 MiB pages
//   +10 MiB  the L2 tables of the RAM map
//   VA +1 GiB: the RAM map: all guest RAM, supervisor-only, in 2 MiB pages,
//            through which the apply routine writes page-table entries
//
// A guest exception or SYSCALL enters a stub at CPL0 through the IDT or
// LSTAR; the stub's one `out` leaves KVM_RUN with the port naming the
// event, and the CPU-pushed frame is on the vCPU's CPL0 stack.
#pragma once

#include <cstdint>

#include <tortuga/cpu.h>
#include <tortuga/shared_info.h>

#include "mmu/apply_program.h"
#include "memory/guest_memory.h"
#include "vcpu/virtual_cpu_state.h"

namespace tortuga::reserved_area {

constexpr uint64_t kGpa = 0x40'0000'0000ULL;  // 256 GiB: above any guest RAM we allow
constexpr uint64_t kSize = 12ULL << 20;
constexpr uint64_t kVa = TG_RESERVED_AREA_VA;

constexpr uint64_t kL3 = 0x0000, kL2 = 0x1000, kL1 = 0x2000;
constexpr uint64_t kSmallPagesEnd = 2ULL << 20;  // what kL1 maps
constexpr uint64_t kIdt = 0x3000;
constexpr uint64_t kStubs = 0x4000;
constexpr uint64_t kStubStride = 4;
constexpr uint64_t kUnexpectedStub = kStubs + 32 * kStubStride;
constexpr uint64_t kSyscallStub = 0x5000;
// Where rip points after a stub's 2-byte `out`: how the VMM tells a real
// stub exit from an I/O instruction the guest executed itself.
constexpr uint64_t kStubOutLength = 2;

constexpr uint64_t kVcpuBase = 0x10000, kVcpuStride = 0x8000;
constexpr uint64_t kGdtOffset = 0x0, kTssOffset = 0x800, kStateOffset = 0x1000;
constexpr uint64_t kStackTopOffset = 0x8000;
// The TSS ends with a 6-byte I/O permission bitmap covering ports 0..47 that
// allows only kPortSyscall: on PVM the SYSCALL stub runs at CPL3 and needs
// it; every other port faults at CPL3 (ports past the limit are denied).
constexpr uint32_t kTssIoBitmapOffset = 104, kTssIoBitmapBytes = 6;
constexpr uint32_t kTssLimit = kTssIoBitmapOffset + kTssIoBitmapBytes - 1;
static_assert(sizeof(VirtualCpuState) <= 0x3000);
static_assert(kVcpuBase + TG_MAX_VCPUS * kVcpuStride <= kSmallPagesEnd);

constexpr uint64_t kApplyBase = 2ULL << 20, kApplyStride = 256ULL << 10;
constexpr uint64_t kApplyValuesOffset = 192ULL << 10;  // code before, values after
constexpr uint64_t kRamMapTables = 10ULL << 20;
constexpr uint64_t kRamMapVa = TG_RESERVED_AREA_VA + (1ULL << 30);
constexpr uint64_t kMaxRamGib = 256;
static_assert(kApplyBase + TG_MAX_VCPUS * kApplyStride <= kRamMapTables);
static_assert(kRamMapTables + kMaxRamGib * 4096 <= kSize);
static_assert(ApplyProgram::kMaxCodeBytes <= kApplyValuesOffset);
static_assert(ApplyProgram::kCapacity * 8 <= kApplyStride - kApplyValuesOffset);
constexpr uint64_t apply_code_offset(uint32_t vcpu) { return kApplyBase + vcpu * kApplyStride; }
constexpr uint64_t apply_values_offset(uint32_t vcpu) { return apply_code_offset(vcpu) + kApplyValuesOffset; }

// Port numbers of the stubs' `out`: 0..31 are exception vectors.
constexpr uint16_t kPortUnexpectedVector = 0x20;
constexpr uint16_t kPortSyscall = 0x21;
// The `out` that ends an apply routine the VMM waits for (ApplyProgram::Ending).
constexpr uint16_t kPortApplyDone = 0x22;

// Hardware selectors. The guest never sees these: frames carry the
// virtual selectors of <tortuga/cpu.h>.
// SYSCALL loads CS from STAR[47:32] and SS from the next slot, so the VMM's
// CPL0 code and data sit together at 0x08/0x10; the user selectors are
// Linux's; the guest kernel's hardware selectors come after them.
constexpr uint16_t kVmmCs = 0x08;
constexpr uint16_t kVmmDs = 0x10;
constexpr uint16_t kUser32Cs = 0x23;     // index 4 = TG_USER32_CS
constexpr uint16_t kUserDs = 0x2b;       // index 5 = TG_USER_DS
constexpr uint16_t kUserCs = 0x33;       // index 6 = TG_USER_CS
constexpr uint16_t kKernelCs = 0x3b;     // index 7, DPL3: guest kernel code
constexpr uint16_t kKernelSs = 0x43;     // index 8, DPL3: guest kernel data
constexpr uint16_t kTssSelector = 0x48;  // indices 9 and 10
constexpr uint16_t kGdtLimit = 11 * 8 - 1;
// SYSRET (never used) would load CS = base + 16 and SS = base + 8.
constexpr uint16_t kSysretBase = 0x23;

constexpr uint64_t vcpu_offset(uint32_t vcpu) { return kVcpuBase + vcpu * kVcpuStride; }
constexpr uint64_t va(uint64_t offset) { return kVa + offset; }
constexpr bool contains_va(uint64_t va) { return va >= TG_RESERVED_VA_START && va < TG_RESERVED_VA_END; }

constexpr uint64_t exception_stub(unsigned vector) { return kStubs + vector * kStubStride; }

// Writes the area's page tables (with the RAM map of all guest RAM), IDT,
// stubs, and the GDT and TSS of every vCPU. Idempotent.
void build(const GuestMemory& memory, uint32_t nr_vcpus);

// The value the VMM puts in slot TG_RESERVED_L4_SLOT of every guest L4.
// Protection is in the area's leaf entries: all supervisor-only except the
// read-only SYSCALL stub page.
uint64_t l4_entry();

VirtualCpuState& vcpu_state(const GuestMemory& memory, uint32_t vcpu);

}  // namespace tortuga::reserved_area
