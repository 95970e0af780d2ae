// Writes the small seed corpora of the fuzz targets (committed under
// tests/fuzz/corpus/<target>/): `tortuga_fuzz_make_seeds OUT_DIR`.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include <tortuga/cpu.h>

#include "elf_builder.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;
using namespace tortuga::test;

void write(const fs::path& dir, const std::string& name, const Bytes& b) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

void kernel_image_seeds(const fs::path& dir) {
  write(dir, "two-segments.elf", build_elf(test_kernel_spec()).bytes);

  ElfSpec all_notes = test_kernel_spec();
  all_notes.entry = 0;
  all_notes.notes.push_back(tortuga_note(TG_ELFNOTE_VIRT_BASE, kTestTextVa - 0x1000));
  all_notes.notes.push_back(tortuga_note(TG_ELFNOTE_ENTRY, kTestTextVa + 3));
  all_notes.notes.push_back(tortuga_note(TG_ELFNOTE_FEATURES, 0x3));
  all_notes.notes.push_back(ElfNote{"GNU", 3, {1, 2, 3, 4}});
  write(dir, "all-notes.elf", build_elf(all_notes).bytes);

  ElfSpec one = test_kernel_spec();
  one.notes.pop_back();  // no hypercall page
  one.segments.pop_back();
  write(dir, "one-segment.elf", build_elf(one).bytes);

  ElfSpec high = test_kernel_spec();
  const uint64_t delta = 0xffffffffffd00000ULL - TG_DEFAULT_VIRT_BASE;
  high.entry += delta;
  for (auto& s : high.segments) s.vaddr += delta;
  high.notes[1] = tortuga_note(TG_ELFNOTE_HYPERCALL_PAGE, kTestHypercallPageVa + delta);
  high.notes.push_back(tortuga_note(TG_ELFNOTE_VIRT_BASE, 0xffffffffffd00000ULL));
  write(dir, "high-virt-base.elf", build_elf(high).bytes);
}

void privileged_instruction_seeds(const fs::path& dir) {
  write(dir, "cli", {0xfa});
  write(dir, "mov-to-cr3", {0x0f, 0x22, 0xd8});
  write(dir, "swapgs", {0x0f, 0x01, 0xf8});
  write(dir, "prefixed-lgdt", {0xf3, 0x48, 0x0f, 0x01, 0x10});
  write(dir, "mov-rax-rbx", {0x48, 0x89, 0xc3});
  write(dir, "syscall", {0x0f, 0x05});
}

// Header (see guest_address_space_fuzz.cpp), then RAM from gpa 0.
Bytes gas_input(uint64_t va, uint16_t len, uint8_t cr3_frame, uint8_t flags, std::vector<uint64_t> ram_qwords) {
  Bytes b(12 + 8 * ram_qwords.size());
  poke(b, 0, va);
  poke(b, 8, len);
  b[10] = cr3_frame;
  b[11] = flags;
  for (size_t i = 0; i < ram_qwords.size(); ++i) poke(b, 12 + 8 * i, ram_qwords[i]);
  return b;
}

void guest_address_space_seeds(const fs::path& dir) {
  constexpr uint64_t kRw = 0x7, kLarge = 0x80;
  // Frame 0 is its own L4, L3, L2 and L1: va page 0 maps gpa 0.
  write(dir, "recursive-4k", gas_input(0x10, 16, 0, 0, {kRw}));
  // L3 entry 1 is a 1 GiB page at gpa 0.
  write(dir, "huge-1g", gas_input((1ULL << 30) | 0x123, 8, 0, 1, {kRw, kRw | kLarge}));
  // L2 entry 2 is a 2 MiB page at gpa 0.
  write(dir, "large-2m", gas_input((2ULL << 21) | 0x456, 8, 0, 3, {kRw, 0, kRw | kLarge}));
  // A copy across va 0x1000: L1 entry 1 maps frame 1 read-only.
  write(dir, "cross-page", gas_input(0xff8, 16, 0, 3, {kRw, 0x1000 | 0x5}));
  write(dir, "reserved-va", gas_input(TG_RESERVED_AREA_VA, 8, 0, 0, {kRw}));
  write(dir, "cr3-outside-ram", gas_input(0x10, 8, 31, 0, {kRw}));
}

// Operations of pv_mmu_fuzz.cpp (its header describes the format).
class MmuOps {
 public:
  static constexpr uint8_t kP = 0x01, kRw = 0x02, kUs = 0x04, kA = 0x20, kD = 0x40, kPs = 0x80;
  static constexpr uint8_t kTable = kP | kRw | kUs, kPageRw = kP | kRw | kUs, kPageRo = kP | kUs;
  static constexpr uint8_t kHighG = 0x01, kHighNx = 0x02, kHighPkey = 0x04, kHighInvert = 0x80;
  static constexpr uint8_t kOutside = 0xf8;  // frame selector: the first frame past RAM

  // mmu_update of type kind (0..2) of frame[index] = frame target | low | high bits.
  MmuOps& update(uint8_t frame, uint16_t index, uint8_t target, uint8_t low, uint8_t high = 0, uint8_t kind = 0) {
    return put({kind, frame, static_cast<uint8_t>(index), static_cast<uint8_t>(index >> 8), target, low, high});
  }
  MmuOps& raw_update(uint8_t frame, uint16_t index, uint64_t value, uint8_t kind = 0) {
    put({static_cast<uint8_t>(15 | (kind << 4)), frame, static_cast<uint8_t>(index), static_cast<uint8_t>(index >> 8)});
    for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
    return *this;
  }
  MmuOps& bad_type(uint8_t frame, uint16_t index, uint8_t which) {
    return put(
        {static_cast<uint8_t>(3 | (which << 4)), frame, static_cast<uint8_t>(index), static_cast<uint8_t>(index >> 8)});
  }
  MmuOps& pin(uint8_t frame, unsigned level) { return put({static_cast<uint8_t>(4 | ((level - 1) << 4)), frame}); }
  MmuOps& unpin(uint8_t frame) { return put({5, frame}); }
  MmuOps& kernel_base(uint8_t frame, unsigned vcpu = 0) { return put({static_cast<uint8_t>(6 | (vcpu << 4)), frame}); }
  MmuOps& user_base(uint8_t frame, unsigned vcpu = 0) { return put({static_cast<uint8_t>(7 | (vcpu << 4)), frame}); }
  MmuOps& release(uint8_t frame) { return put({8, frame}); }
  MmuOps& populate(uint8_t frame) { return put({9, frame}); }
  MmuOps& flush() { return put({10}); }
  MmuOps& end_batch() { return put({11}); }
  MmuOps& check() { return put({12}); }
  MmuOps& update_va(uint8_t l4, uint8_t l3, uint8_t l2, uint8_t l1, uint8_t target, uint8_t low, uint8_t high = 0) {
    return put({13, l4, l3, l2, l1, target, low, high});
  }
  MmuOps& invlpg(uint8_t page) { return put({14, page}); }

  // L4 l4 -> L3 l3 -> L2 l2 -> L1 l1 -> data frames first_data.., built in
  // untyped frames, then the L4 pinned and made vCPU 0's kernel table.
  MmuOps& tree(uint8_t l4, uint8_t l3, uint8_t l2, uint8_t l1, uint8_t first_data, unsigned pages) {
    for (unsigned i = 0; i < pages; ++i) {
      update(l1, static_cast<uint16_t>(i), static_cast<uint8_t>(first_data + i), (i % 3) ? kPageRw : kPageRo);
    }
    update(l2, 0, l1, kTable).update(l3, 0, l2, kTable).update(l4, 0, l3, kTable);
    return pin(l4, 4).kernel_base(l4);
  }

  Bytes bytes;

 private:
  MmuOps& put(std::initializer_list<uint8_t> b) {
    bytes.insert(bytes.end(), b);
    return *this;
  }
};

void pv_mmu_seeds(const fs::path& dir) {
  using O = MmuOps;
  {  // A tree built and pinned, then used through update_va_mapping.
    MmuOps m;
    m.tree(1, 2, 3, 4, 10, 8).end_batch();
    m.update_va(0, 0, 0, 9, 20, O::kPageRw).update_va(0, 0, 0, 2, 21, O::kPageRo).update_va(0, 0, 0, 0, 0, 0);
    m.update_va(0, 1, 0, 0, 20, O::kPageRw).invlpg(9).check().end_batch();
    m.user_base(1).user_base(0).unpin(1).end_batch();
    write(dir, "tree", m.bytes);
  }
  {  // Remapping: RW to RO and back, tables linked, unlinked and relinked.
    MmuOps m;
    m.tree(1, 2, 3, 4, 10, 4).end_batch();
    m.update(4, 1, 11, O::kPageRo).update(3, 1, 11, O::kTable).end_batch();  // lost RW, then a table: flush
    m.update(3, 1, 0, 0).update(4, 5, 11, O::kPageRw).check();               // former table mapped RW: flush
    m.update(2, 1, 5, O::kTable).update(5, 0, 6, O::kTable).update(6, 0, 12, O::kPageRw | O::kA | O::kD);
    m.update(6, 0, 13, O::kPageRw, 0, 1);                // PRESERVE_AD
    m.update(6, 0, 0, O::kRw, 0, 2);                     // CLEAR_BITS RW
    m.update(6, 0, 0, 0, O::kHighInvert, 2);             // CLEAR_BITS ~0
    m.update(2, 1, 0, O::kP, 0, 2).check().end_batch();  // CLEAR_BITS P: unlinks
    m.flush().pin(5, 2).pin(6, 1).end_batch();
    write(dir, "remap", m.bytes);
  }
  {  // Everything the VMM refuses, on a pinned tree.
    MmuOps m;
    m.tree(1, 2, 3, 4, 10, 2).end_batch();
    for (uint16_t slot = TG_RESERVED_L4_FIRST; slot <= TG_RESERVED_L4_LAST; ++slot) m.update(1, slot, 7, O::kTable);
    m.update(1, TG_RESERVED_L4_SLOT, 0, 0, 0, 2);
    m.update(4, 7, 12, O::kPageRw, O::kHighPkey).update(3, 7, 8, O::kTable | O::kPs);
    m.update(4, 7, O::kOutside, O::kPageRo).update(3, 7, O::kOutside + 2, O::kTable);
    m.update(4, 7, 3, O::kPageRw).update(4, 8, 4, O::kPageRw).update(4, 9, 4, O::kPageRo);
    m.update(3, 7, 3, O::kTable).update(2, 7, 4, O::kTable).update(1, 7, 1, O::kTable);
    m.update(3, 7, 63, O::kTable).update(4, 7, 63, O::kPageRw).update(63, 0, 0, 0);
    m.update(3, 7, 10, O::kTable).pin(11, 1).pin(63, 1).pin(1, 4).pin(4, 2).pin(O::kOutside, 1);
    m.bad_type(4, 3, 0).bad_type(20, 3, 4).unpin(2).unpin(1).kernel_base(2).user_base(4);
    m.raw_update(4, 20, 0xfffffffffffffffeULL).raw_update(4, 21, 0x8000000000000001ULL | (12ULL << 12));
    m.update(30, 5, O::kOutside, O::kPageRw | O::kPs, O::kHighG | O::kHighPkey).check();
    m.update(30, 300, 12, O::kPageRw).pin(30, 1).update(3, 8, 30, O::kTable).end_batch();  // all or nothing
    write(dir, "refused", m.bytes);
  }
  {  // Ballooning: release, refused releases, populate, reuse.
    MmuOps m;
    m.tree(1, 2, 3, 4, 10, 3).end_batch();
    m.release(30).release(30).release(10).release(4).release(63).release(O::kOutside);
    m.update(4, 9, 30, O::kPageRo).update(3, 9, 30, O::kTable).pin(30, 1).update(30, 0, 0, 0);
    m.update(4, 0, 0, 0).end_batch().release(10);
    m.populate(30).populate(30).populate(O::kOutside).pin(30, 1).update(4, 9, 30, O::kPageRo).end_batch();
    write(dir, "balloon", m.bytes);
  }
  {  // Two address spaces on two vCPUs, and a batch that builds while it links.
    MmuOps m;
    m.tree(1, 2, 3, 4, 10, 2);
    m.update(40, 0, 12, O::kPageRw).update(41, 0, 40, O::kTable).update(42, 3, 41, O::kTable);
    m.update(43, 0, 42, O::kTable).update(43, 300, 2, O::kTable).pin(43, 4).kernel_base(43, 1).user_base(1, 1);
    m.check().update(40, 1, 13, O::kPageRw).update(42, 4, 41, O::kTable).check().end_batch();
    m.unpin(43).kernel_base(1, 1).unpin(43).user_base(0, 1).unpin(1).end_batch();
    write(dir, "two-spaces", m.bytes);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  fs::path out = argv[1];
  kernel_image_seeds(out / "kernel_image_fuzz");
  privileged_instruction_seeds(out / "privileged_instruction_fuzz");
  guest_address_space_seeds(out / "guest_address_space_fuzz");
  pv_mmu_seeds(out / "pv_mmu_fuzz");
  return 0;
}
