// Writes the small seed corpora of the fuzz targets (committed under
// tests/fuzz/corpus/<target>/): `tortuga_fuzz_make_seeds OUT_DIR`.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
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
  std::ofstream(dir / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()),
                                                     static_cast<std::streamsize>(b.size()));
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
  return 0;
}
