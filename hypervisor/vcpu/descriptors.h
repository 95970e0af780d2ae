// x86-64 descriptor encodings for the VMM's GDT, TSS and IDT, and the
// matching KVM segment registers. Pure functions: unit-tested bit by bit.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>

namespace tortuga {

// Flat 64-bit code segment (L=1) at privilege level dpl.
uint64_t code64_descriptor(unsigned dpl);
// Flat 32-bit code segment (compatibility mode) at privilege level dpl.
uint64_t code32_descriptor(unsigned dpl);
// Flat writable data segment at privilege level dpl.
uint64_t data_descriptor(unsigned dpl);
// Available 64-bit TSS descriptor: two GDT slots.
std::array<uint64_t, 2> tss_descriptor(uint64_t base, uint32_t limit);
// 64-bit interrupt gate (IF cleared on entry) to handler through selector.
std::array<uint64_t, 2> interrupt_gate(uint64_t handler, uint16_t selector, unsigned dpl);

// The KVM view of a segment register loaded from a flat descriptor.
kvm_segment code64_segment(uint16_t selector, unsigned dpl);
kvm_segment code32_segment(uint16_t selector, unsigned dpl);
kvm_segment data_segment(uint16_t selector, unsigned dpl);
kvm_segment tss_segment(uint16_t selector, uint64_t base, uint32_t limit);

}  // namespace tortuga
