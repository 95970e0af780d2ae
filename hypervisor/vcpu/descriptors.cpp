#include "vcpu/descriptors.h"

namespace tortuga {
namespace {

// Access byte: present, descriptor privilege level, S=1 (code/data), type.
constexpr uint64_t access(unsigned dpl, unsigned type) { return (0x80u | ((dpl & 3u) << 5) | 0x10u | type) & 0xffu; }

// A flat segment: base 0, limit 0xfffff with 4 KiB granularity.
constexpr uint64_t flat(uint64_t access_byte, uint64_t flags_nibble) {
  return 0xffffULL | (access_byte << 40) | (0xfULL << 48) | (flags_nibble << 52);
}

constexpr unsigned kTypeCodeReadAccessed = 0xb;
constexpr unsigned kTypeDataWriteAccessed = 0x3;
constexpr uint64_t kFlagG = 0x8, kFlagDB = 0x4, kFlagL = 0x2;

}  // namespace

uint64_t code64_descriptor(unsigned dpl) { return flat(access(dpl, kTypeCodeReadAccessed), kFlagG | kFlagL); }
uint64_t code32_descriptor(unsigned dpl) { return flat(access(dpl, kTypeCodeReadAccessed), kFlagG | kFlagDB); }
uint64_t data_descriptor(unsigned dpl) { return flat(access(dpl, kTypeDataWriteAccessed), kFlagG | kFlagDB); }

std::array<uint64_t, 2> tss_descriptor(uint64_t base, uint32_t limit) {
  constexpr uint64_t kAvailableTss64 = 0x89;
  uint64_t low = (limit & 0xffffULL) | ((base & 0xffffffULL) << 16) | (kAvailableTss64 << 40) |
                 (((limit >> 16) & 0xfULL) << 48) | (((base >> 24) & 0xffULL) << 56);
  return {low, base >> 32};
}

std::array<uint64_t, 2> interrupt_gate(uint64_t handler, uint16_t selector, unsigned dpl) {
  constexpr uint64_t kInterruptGate64 = 0xe;
  uint64_t type_attr = 0x80 | ((dpl & 3u) << 5) | kInterruptGate64;
  uint64_t low =
      (handler & 0xffffULL) | (uint64_t{selector} << 16) | (type_attr << 40) | (((handler >> 16) & 0xffffULL) << 48);
  return {low, handler >> 32};
}

kvm_segment code64_segment(uint16_t selector, unsigned dpl) {
  kvm_segment s{};
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = kTypeCodeReadAccessed;
  s.present = 1;
  s.dpl = static_cast<uint8_t>(dpl);
  s.s = 1;
  s.l = 1;
  s.g = 1;
  return s;
}

kvm_segment code32_segment(uint16_t selector, unsigned dpl) {
  kvm_segment s = code64_segment(selector, dpl);
  s.l = 0;
  s.db = 1;
  return s;
}

kvm_segment data_segment(uint16_t selector, unsigned dpl) {
  kvm_segment s{};
  s.limit = 0xffffffff;
  s.selector = selector;
  s.type = kTypeDataWriteAccessed;
  s.present = 1;
  s.dpl = static_cast<uint8_t>(dpl);
  s.s = 1;
  s.db = 1;
  s.g = 1;
  return s;
}

kvm_segment tss_segment(uint16_t selector, uint64_t base, uint32_t limit) {
  kvm_segment s{};
  s.base = base;
  s.limit = limit;
  s.selector = selector;
  s.type = 0xb;  // busy 64-bit TSS, as after LTR
  s.present = 1;
  return s;
}

}  // namespace tortuga
