// Assembles small synthetic ELF64 kernel images in memory for the kernel
// image and domain builder tests (and the fuzz seed generator): an ELF
// header, the program headers (a PT_NOTE first when there are notes, then
// one per segment), the note bytes, then each segment's file bytes.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <tortuga/elfnote.h>
#include <tortuga/types.h>

namespace tortuga::test {

struct ElfNote {
  std::string name = TG_ELFNOTE_NAME;
  uint32_t type = 0;
  std::vector<uint8_t> desc;
};

struct ElfSegment {
  uint64_t vaddr = 0;
  std::vector<uint8_t> bytes;  // the file part (filesz)
  uint64_t memsz = 0;          // 0: bytes.size()
  uint32_t flags = PF_R | PF_X;
  uint32_t type = PT_LOAD;
};

struct ElfSpec {
  uint64_t entry = 0;
  uint16_t machine = EM_X86_64;
  uint16_t type = ET_EXEC;
  uint8_t elf_class = ELFCLASS64;
  uint8_t data = ELFDATA2LSB;
  std::vector<ElfNote> notes;
  std::vector<ElfSegment> segments;
};

// Where the builder put things, so tests can corrupt them.
struct ElfFile {
  std::vector<uint8_t> bytes;
  uint64_t phdrs_offset = 0;  // program header i is at phdrs_offset + i * sizeof(Elf64_Phdr)
  uint64_t notes_offset = 0;  // first note header (0: no notes)
  std::vector<uint64_t> segment_offsets;
};

inline ElfNote tortuga_note(uint32_t type, uint64_t value) {
  ElfNote n;
  n.type = type;
  n.desc.resize(8);
  std::memcpy(n.desc.data(), &value, 8);
  return n;
}

inline size_t align4(size_t n) { return (n + 3) & ~size_t{3}; }

inline ElfFile build_elf(const ElfSpec& spec) {
  ElfFile out;
  std::vector<uint8_t> notes;
  for (const auto& n : spec.notes) {
    Elf64_Nhdr h{};
    h.n_namesz = static_cast<uint32_t>(n.name.size() + 1);
    h.n_descsz = static_cast<uint32_t>(n.desc.size());
    h.n_type = n.type;
    size_t at = notes.size();
    notes.resize(at + sizeof h + align4(h.n_namesz) + align4(h.n_descsz), 0);
    std::memcpy(notes.data() + at, &h, sizeof h);
    std::memcpy(notes.data() + at + sizeof h, n.name.c_str(), n.name.size() + 1);
    if (!n.desc.empty()) std::memcpy(notes.data() + at + sizeof h + align4(h.n_namesz), n.desc.data(), n.desc.size());
  }
  const size_t nphdr = spec.segments.size() + (notes.empty() ? 0 : 1);
  out.phdrs_offset = sizeof(Elf64_Ehdr);
  size_t cursor = sizeof(Elf64_Ehdr) + nphdr * sizeof(Elf64_Phdr);
  out.notes_offset = notes.empty() ? 0 : cursor;
  cursor += notes.size();
  for (const auto& s : spec.segments) {
    out.segment_offsets.push_back(cursor);
    cursor += s.bytes.size();
  }
  out.bytes.assign(cursor, 0);

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = spec.elf_class;
  eh.e_ident[EI_DATA] = spec.data;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = spec.type;
  eh.e_machine = spec.machine;
  eh.e_version = EV_CURRENT;
  eh.e_entry = spec.entry;
  eh.e_phoff = out.phdrs_offset;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<uint16_t>(nphdr);
  std::memcpy(out.bytes.data(), &eh, sizeof eh);

  size_t ph_at = out.phdrs_offset;
  auto put_phdr = [&](const Elf64_Phdr& ph) {
    std::memcpy(out.bytes.data() + ph_at, &ph, sizeof ph);
    ph_at += sizeof ph;
  };
  if (!notes.empty()) {
    Elf64_Phdr ph{};
    ph.p_type = PT_NOTE;
    ph.p_flags = PF_R;
    ph.p_offset = out.notes_offset;
    ph.p_filesz = notes.size();
    ph.p_align = 4;
    put_phdr(ph);
    std::memcpy(out.bytes.data() + out.notes_offset, notes.data(), notes.size());
  }
  for (size_t i = 0; i < spec.segments.size(); ++i) {
    const auto& s = spec.segments[i];
    Elf64_Phdr ph{};
    ph.p_type = s.type;
    ph.p_flags = s.flags;
    ph.p_offset = out.segment_offsets[i];
    ph.p_vaddr = s.vaddr;
    ph.p_paddr = s.vaddr;
    ph.p_filesz = s.bytes.size();
    ph.p_memsz = s.memsz ? s.memsz : s.bytes.size();
    ph.p_align = 4096;
    put_phdr(ph);
    if (!s.bytes.empty()) std::memcpy(out.bytes.data() + out.segment_offsets[i], s.bytes.data(), s.bytes.size());
  }
  return out;
}

// A small valid kernel at the default virtual base: a text segment at
// gpa 2 MiB (RX, 8 KiB in memory, the hypercall page its second page) and
// a data segment after it (RW, mostly bss).
constexpr uint64_t kTestTextVa = TG_DEFAULT_VIRT_BASE + 0x200000;
constexpr uint64_t kTestTextMemsz = 0x2000;
constexpr uint64_t kTestHypercallPageVa = kTestTextVa + 0x1000;
constexpr uint64_t kTestDataVa = kTestTextVa + kTestTextMemsz;
constexpr uint64_t kTestDataMemsz = 0x3000;

inline ElfSpec test_kernel_spec() {
  ElfSpec spec;
  spec.entry = kTestTextVa;
  spec.notes = {tortuga_note(TG_ELFNOTE_ABI_VERSION, TG_ABI_VERSION),
                tortuga_note(TG_ELFNOTE_HYPERCALL_PAGE, kTestHypercallPageVa)};
  ElfSegment text;
  text.vaddr = kTestTextVa;
  text.bytes = {0x48, 0x31, 0xc0, 0xeb, 0xfe};  // xor %rax,%rax ; jmp .
  text.memsz = kTestTextMemsz;
  text.flags = PF_R | PF_X;
  ElfSegment data;
  data.vaddr = kTestDataVa;
  data.bytes = {'t', 'o', 'r', 't', 'u', 'g', 'a', 0};
  data.memsz = kTestDataMemsz;
  data.flags = PF_R | PF_W;
  spec.segments = {text, data};
  return spec;
}

template <typename T>
void poke(std::vector<uint8_t>& bytes, uint64_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

}  // namespace tortuga::test
