#include "vcpu/reserved_area.h"

#include <cstring>

#include "vcpu/descriptors.h"
#include "mmu/page_table_bits.h"

namespace tortuga::reserved_area {
namespace {

void write_stub(uint8_t* at, uint16_t port) {
  at[0] = 0xe6;  // out %al, $port
  at[1] = static_cast<uint8_t>(port);
  at[2] = 0xf4;  // hlt: never reached, the VMM resumes elsewhere
  at[3] = 0x90;
}

void build_page_tables(const GuestMemory& m) {
  auto* l3 = m.reserved<uint64_t[512]>(kL3);
  auto* l2 = m.reserved<uint64_t[512]>(kL2);
  auto* l1 = m.reserved<uint64_t[512]>(kL1);
  std::memset(l3, 0, 4096);
  std::memset(l2, 0, 4096);
  constexpr uint64_t kTable = pte::kPresent | pte::kWritable | pte::kUser;
  (*l3)[0] = (kGpa + kL2) | kTable;
  (*l2)[0] = (kGpa + kL1) | kTable;
  // The apply routines: supervisor, executable, 2 MiB pages.
  for (uint64_t offset = kApplyBase; offset < kRamMapTables; offset += 2ULL << 20) {
    (*l2)[offset >> 21] = (kGpa + offset) | pte::kPresent | pte::kWritable | pte::kLarge | pte::kGlobal;
  }
  // The RAM map: 1 GiB of guest RAM per L2, 2 MiB pages, supervisor-only,
  // never executable. It never changes, so it is global.
  uint64_t gib = (m.ram_size() + (1ULL << 30) - 1) >> 30;
  for (uint64_t g = 0; g < gib; ++g) {
    uint64_t table = kRamMapTables + g * 4096;
    auto* ram_l2 = m.reserved<uint64_t[512]>(table);
    std::memset(ram_l2, 0, 4096);
    for (uint64_t i = 0; i < 512; ++i) {
      uint64_t gpa = (g << 30) + (i << 21);
      if (gpa >= m.ram_size()) break;
      (*ram_l2)[i] = gpa | pte::kPresent | pte::kWritable | pte::kLarge | pte::kGlobal | pte::kNoExecute;
    }
    (*l3)[1 + g] = (kGpa + table) | kTable;
  }
  // Leaves are supervisor-only, so CPL3 code cannot touch the area, except
  // the SYSCALL stub page: read-only, and executable at CPL3.
  for (uint64_t i = 0; i < kSmallPagesEnd / 4096; ++i) {
    uint64_t offset = i * 4096;
    (*l1)[i] = offset == kSyscallStub ? (kGpa + offset) | pte::kPresent | pte::kUser
                                      : (kGpa + offset) | pte::kPresent | pte::kWritable | pte::kGlobal;
  }
}

void build_idt_and_stubs(const GuestMemory& m) {
  uint8_t* stubs = m.reserved<uint8_t[4096]>(kStubs)[0];
  std::memset(stubs, 0xf4, 4096);
  for (uint16_t v = 0; v < TG_NR_EXCEPTION_VECTORS; ++v) write_stub(stubs + v * kStubStride, v);
  write_stub(stubs + (kUnexpectedStub - kStubs), kPortUnexpectedVector);
  uint8_t* syscall_page = m.reserved<uint8_t[4096]>(kSyscallStub)[0];
  std::memset(syscall_page, 0xf4, 4096);
  write_stub(syscall_page, kPortSyscall);

  auto* idt = m.reserved<uint64_t[512]>(kIdt);
  for (unsigned v = 0; v < 256; ++v) {
    uint64_t stub = v < TG_NR_EXCEPTION_VECTORS ? kStubs + v * kStubStride : kUnexpectedStub;
    // #BP and #OF may be raised by int3/into at CPL3.
    unsigned dpl = (v == 3 || v == 4) ? 3 : 0;
    auto gate = interrupt_gate(va(stub), kVmmCs, dpl);
    (*idt)[2 * v] = gate[0];
    (*idt)[2 * v + 1] = gate[1];
  }
}

void build_vcpu(const GuestMemory& m, uint32_t vcpu) {
  uint64_t base = vcpu_offset(vcpu);
  auto* gdt = m.reserved<uint64_t[11]>(base + kGdtOffset);
  std::memset(gdt, 0, sizeof *gdt);
  (*gdt)[kVmmCs >> 3] = code64_descriptor(0);
  (*gdt)[kVmmDs >> 3] = data_descriptor(0);
  (*gdt)[kKernelCs >> 3] = code64_descriptor(3);
  (*gdt)[kKernelSs >> 3] = data_descriptor(3);
  (*gdt)[kUser32Cs >> 3] = code32_descriptor(3);
  (*gdt)[kUserDs >> 3] = data_descriptor(3);
  (*gdt)[kUserCs >> 3] = code64_descriptor(3);
  auto tss = tss_descriptor(va(base + kTssOffset), kTssLimit);
  (*gdt)[kTssSelector >> 3] = tss[0];
  (*gdt)[(kTssSelector >> 3) + 1] = tss[1];

  uint8_t* t = m.reserved<uint8_t[kTssLimit + 1]>(base + kTssOffset)[0];
  std::memset(t, 0, kTssLimit + 1);
  uint64_t rsp0 = va(base + kStackTopOffset);
  std::memcpy(t + 4, &rsp0, sizeof rsp0);
  uint16_t io_bitmap = kTssIoBitmapOffset;
  std::memcpy(t + 102, &io_bitmap, sizeof io_bitmap);
  uint8_t* bitmap = t + kTssIoBitmapOffset;
  std::memset(bitmap, 0xff, kTssIoBitmapBytes);
  static_assert(kPortSyscall / 8 + 1 < kTssIoBitmapBytes);
  bitmap[kPortSyscall / 8] &= static_cast<uint8_t>(~(1u << (kPortSyscall % 8)));
}

}  // namespace

void build(const GuestMemory& memory, uint32_t nr_vcpus) {
  build_page_tables(memory);
  build_idt_and_stubs(memory);
  for (uint32_t v = 0; v < nr_vcpus; ++v) build_vcpu(memory, v);
}

uint64_t l4_entry() { return (kGpa + kL3) | pte::kPresent | pte::kWritable | pte::kUser; }

VirtualCpuState& vcpu_state(const GuestMemory& memory, uint32_t vcpu) {
  return *memory.reserved<VirtualCpuState>(vcpu_offset(vcpu) + kStateOffset);
}

}  // namespace tortuga::reserved_area
