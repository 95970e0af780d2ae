// parse_kernel_image: accepts a well-formed Tortuga kernel and refuses each
// kind of malformed or foreign file with a reason that names the problem.
#include "domain/kernel_image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "elf_builder.h"

namespace tortuga {
namespace {

using test::build_elf;
using test::ElfSpec;
using test::kTestDataMemsz;
using test::kTestDataVa;
using test::kTestHypercallPageVa;
using test::kTestTextMemsz;
using test::kTestTextVa;
using test::poke;
using test::test_kernel_spec;
using test::tortuga_note;
using ::testing::HasSubstr;

constexpr size_t kPhdr = sizeof(Elf64_Phdr);
// The test kernel's program headers: the PT_NOTE, then text, then data.
constexpr size_t kTextPhdr = 1, kDataPhdr = 2;

std::vector<uint8_t> bytes_of(const ElfSpec& spec) { return build_elf(spec).bytes; }

// The refusal message, or a marker that the image was accepted.
std::string refusal(std::vector<uint8_t> bytes) {
  try {
    parse_kernel_image(std::move(bytes));
  } catch (const KernelImageError& e) {
    return e.what();
  }
  return "<accepted>";
}

std::string refusal(const ElfSpec& spec) { return refusal(bytes_of(spec)); }

uint64_t phdr_field(size_t index, size_t field_offset) { return sizeof(Elf64_Ehdr) + index * kPhdr + field_offset; }

TEST(KernelImage, AcceptsWellFormedKernel) {
  KernelImage k = parse_kernel_image(bytes_of(test_kernel_spec()));
  EXPECT_EQ(k.entry, kTestTextVa);
  EXPECT_EQ(k.virt_base, TG_DEFAULT_VIRT_BASE);
  EXPECT_EQ(k.hypercall_page, kTestHypercallPageVa);
  EXPECT_EQ(k.abi_version, static_cast<uint32_t>(TG_ABI_VERSION));
  EXPECT_EQ(k.required_features, 0u);
  ASSERT_EQ(k.segments.size(), 2u);
  EXPECT_EQ(k.segments[0].vaddr, kTestTextVa);
  EXPECT_EQ(k.segments[0].memsz, kTestTextMemsz);
  EXPECT_EQ(k.segments[0].filesz, 5u);
  EXPECT_TRUE(k.segments[0].executable);
  EXPECT_EQ(k.segments[1].vaddr, kTestDataVa);
  EXPECT_EQ(k.segments[1].filesz, 8u);
  EXPECT_FALSE(k.segments[1].executable);
  EXPECT_EQ(k.lowest_gpa(), kTestTextVa - TG_DEFAULT_VIRT_BASE);
  EXPECT_EQ(k.end_gpa(), kTestDataVa + kTestDataMemsz - TG_DEFAULT_VIRT_BASE);
}

TEST(KernelImage, SegmentFileOffsetsPointAtTheirBytes) {
  test::ElfFile f = build_elf(test_kernel_spec());
  KernelImage k = parse_kernel_image(f.bytes);
  EXPECT_EQ(k.segments[0].file_offset, f.segment_offsets[0]);
  EXPECT_EQ(k.file[k.segments[1].file_offset], 't');
}

TEST(KernelImage, NotesOverrideVirtBaseEntryAndFeatures) {
  ElfSpec spec = test_kernel_spec();
  spec.entry = 0;  // e_entry is ignored when the entry note is present
  spec.notes.push_back(tortuga_note(TG_ELFNOTE_VIRT_BASE, kTestTextVa - 0x1000));
  spec.notes.push_back(tortuga_note(TG_ELFNOTE_ENTRY, kTestTextVa + 3));
  spec.notes.push_back(tortuga_note(TG_ELFNOTE_FEATURES, 0x5));
  KernelImage k = parse_kernel_image(bytes_of(spec));
  EXPECT_EQ(k.virt_base, kTestTextVa - 0x1000);
  EXPECT_EQ(k.entry, kTestTextVa + 3);
  EXPECT_EQ(k.required_features, 0x5u);
  EXPECT_EQ(k.lowest_gpa(), 0x1000u);
}

TEST(KernelImage, WithoutHypercallPageNoteHasNone) {
  ElfSpec spec = test_kernel_spec();
  spec.notes.pop_back();
  EXPECT_EQ(parse_kernel_image(bytes_of(spec)).hypercall_page, 0u);
}

TEST(KernelImage, IgnoresUnknownTortugaNotesAndForeignNotes) {
  ElfSpec spec = test_kernel_spec();
  spec.notes.push_back(tortuga_note(99, 1));
  test::ElfNote gnu{"GNU", 3, {1, 2, 3}};  // any size is fine for other owners
  spec.notes.insert(spec.notes.begin(), gnu);
  EXPECT_EQ(refusal(spec), "<accepted>");
}

TEST(KernelImage, AcceptsHypercallPageEndingAtImageEnd) {
  ElfSpec spec = test_kernel_spec();
  spec.notes[1] = tortuga_note(TG_ELFNOTE_HYPERCALL_PAGE, kTestDataVa + kTestDataMemsz - 0x1000);
  EXPECT_EQ(refusal(spec), "<accepted>");
}

TEST(KernelImage, RefusesText) {
  std::string text = "#!/bin/sh\necho this is not a kernel, but it is long enough to be an ELF header\n";
  EXPECT_THAT(refusal(std::vector<uint8_t>(text.begin(), text.end())), HasSubstr("not an ELF file"));
}

TEST(KernelImage, RefusesEmptyAndTruncatedHeader) {
  EXPECT_THAT(refusal(std::vector<uint8_t>{}), HasSubstr("not an ELF file"));
  auto bytes = bytes_of(test_kernel_spec());
  bytes.resize(sizeof(Elf64_Ehdr) - 1);
  EXPECT_THAT(refusal(bytes), HasSubstr("not an ELF file"));
}

TEST(KernelImage, Refuses32BitClass) {
  ElfSpec spec = test_kernel_spec();
  spec.elf_class = ELFCLASS32;
  EXPECT_THAT(refusal(spec), HasSubstr("not a 64-bit ELF file"));
}

TEST(KernelImage, RefusesBigEndian) {
  ElfSpec spec = test_kernel_spec();
  spec.data = ELFDATA2MSB;
  EXPECT_THAT(refusal(spec), HasSubstr("not a little-endian ELF file"));
}

TEST(KernelImage, RefusesWrongMachine) {
  ElfSpec spec = test_kernel_spec();
  spec.machine = EM_386;
  EXPECT_THAT(refusal(spec), HasSubstr("wrong machine: ELF e_machine 3"));
}

TEST(KernelImage, RefusesSharedObject) {
  ElfSpec spec = test_kernel_spec();
  spec.type = ET_DYN;
  EXPECT_THAT(refusal(spec), HasSubstr("not an ELF executable"));
}

TEST(KernelImage, RefusesProgramHeadersOutsideFile) {
  auto bytes = bytes_of(test_kernel_spec());
  poke<uint64_t>(bytes, offsetof(Elf64_Ehdr, e_phoff), bytes.size() - kPhdr);
  EXPECT_THAT(refusal(bytes), HasSubstr("program headers missing or outside the file"));
}

TEST(KernelImage, RefusesProgramHeaderOffsetThatWouldOverflow) {
  auto bytes = bytes_of(test_kernel_spec());
  poke<uint64_t>(bytes, offsetof(Elf64_Ehdr, e_phoff), ~0ULL - 8);
  EXPECT_THAT(refusal(bytes), HasSubstr("program headers missing or outside the file"));
}

TEST(KernelImage, RefusesZeroProgramHeadersAndWrongEntrySize) {
  auto none = bytes_of(test_kernel_spec());
  poke<uint16_t>(none, offsetof(Elf64_Ehdr, e_phnum), 0);
  EXPECT_THAT(refusal(none), HasSubstr("program headers missing"));
  auto small = bytes_of(test_kernel_spec());
  poke<uint16_t>(small, offsetof(Elf64_Ehdr, e_phentsize), sizeof(Elf32_Phdr));
  EXPECT_THAT(refusal(small), HasSubstr("program headers missing"));
}

TEST(KernelImage, RefusesSegmentOutsideFile) {
  auto bytes = bytes_of(test_kernel_spec());
  poke<uint64_t>(bytes, phdr_field(kDataPhdr, offsetof(Elf64_Phdr, p_offset)), bytes.size() - 4);
  EXPECT_THAT(refusal(bytes), HasSubstr("ELF segment 2 lies outside the file"));
}

TEST(KernelImage, RefusesNoteSegmentOutsideFile) {
  auto bytes = bytes_of(test_kernel_spec());
  poke<uint64_t>(bytes, phdr_field(0, offsetof(Elf64_Phdr, p_filesz)), bytes.size());
  EXPECT_THAT(refusal(bytes), HasSubstr("ELF note segment outside the file"));
}

TEST(KernelImage, RefusesFileszGreaterThanMemsz) {
  auto bytes = bytes_of(test_kernel_spec());
  poke<uint64_t>(bytes, phdr_field(kTextPhdr, offsetof(Elf64_Phdr, p_memsz)), 4);
  EXPECT_THAT(refusal(bytes), HasSubstr("ELF segment 1 has filesz > memsz"));
}

TEST(KernelImage, RefusesSegmentWrappingAddressSpace) {
  ElfSpec spec = test_kernel_spec();
  spec.segments[1].vaddr = 0xfffffffffffff000ULL;
  spec.segments[1].memsz = 0x2000;
  EXPECT_THAT(refusal(spec), HasSubstr("ELF segment 2 wraps the address space"));
}

TEST(KernelImage, RefusesKernelWithoutTortugaNote) {
  ElfSpec spec = test_kernel_spec();
  spec.notes.clear();
  EXPECT_THAT(refusal(spec), HasSubstr("no Tortuga ELF note"));
}

TEST(KernelImage, RefusesKernelWithOnlyOtherOwnersNotes) {
  ElfSpec spec = test_kernel_spec();
  spec.notes = {tortuga_note(TG_ELFNOTE_ABI_VERSION, TG_ABI_VERSION)};
  spec.notes[0].name = "Tortoise";
  EXPECT_THAT(refusal(spec), HasSubstr("no Tortuga ELF note"));
}

TEST(KernelImage, RefusesOtherAbiMajorVersion) {
  ElfSpec spec = test_kernel_spec();
  spec.notes[0] = tortuga_note(TG_ELFNOTE_ABI_VERSION, ((TG_ABI_VERSION_MAJOR + 1) << 16) | 3);
  EXPECT_THAT(refusal(spec), HasSubstr("kernel built for Tortuga ABI 2.3"));
}

TEST(KernelImage, AcceptsNewerMinorVersion) {
  ElfSpec spec = test_kernel_spec();
  spec.notes[0] = tortuga_note(TG_ELFNOTE_ABI_VERSION, (TG_ABI_VERSION_MAJOR << 16) | 7);
  EXPECT_EQ(parse_kernel_image(bytes_of(spec)).abi_version, static_cast<uint32_t>((TG_ABI_VERSION_MAJOR << 16) | 7));
}

TEST(KernelImage, RefusesNoteNameRunningPastSegment) {
  test::ElfFile f = build_elf(test_kernel_spec());
  poke<uint32_t>(f.bytes, f.notes_offset + offsetof(Elf64_Nhdr, n_namesz), 0xfffffff0);
  EXPECT_THAT(refusal(f.bytes), HasSubstr("malformed ELF note"));
}

TEST(KernelImage, RefusesNoteDescriptorRunningPastSegment) {
  test::ElfFile f = build_elf(test_kernel_spec());
  poke<uint32_t>(f.bytes, f.notes_offset + offsetof(Elf64_Nhdr, n_descsz), 0xffffffff);
  EXPECT_THAT(refusal(f.bytes), HasSubstr("malformed ELF note"));
}

TEST(KernelImage, RefusesTortugaNoteWithShortValue) {
  ElfSpec spec = test_kernel_spec();
  spec.notes[0].desc.resize(4);
  EXPECT_THAT(refusal(spec), HasSubstr("Tortuga ELF note 1 has a 4-byte value (need 8)"));
}

TEST(KernelImage, RefusesEntryInNonExecutableSegment) {
  ElfSpec spec = test_kernel_spec();
  spec.entry = kTestDataVa;
  EXPECT_THAT(refusal(spec), HasSubstr("is not in an executable segment"));
}

TEST(KernelImage, RefusesEntryOutsideEverySegment) {
  ElfSpec spec = test_kernel_spec();
  spec.notes.push_back(tortuga_note(TG_ELFNOTE_ENTRY, kTestTextVa + kTestTextMemsz + kTestDataMemsz));
  EXPECT_THAT(refusal(spec), HasSubstr("is not in an executable segment"));
}

TEST(KernelImage, RefusesMisalignedHypercallPage) {
  ElfSpec spec = test_kernel_spec();
  spec.notes[1] = tortuga_note(TG_ELFNOTE_HYPERCALL_PAGE, kTestHypercallPageVa + 8);
  EXPECT_THAT(refusal(spec), HasSubstr("hypercall page"));
}

TEST(KernelImage, RefusesHypercallPageOutsideImage) {
  ElfSpec spec = test_kernel_spec();
  spec.notes[1] = tortuga_note(TG_ELFNOTE_HYPERCALL_PAGE, kTestDataVa + kTestDataMemsz);
  EXPECT_THAT(refusal(spec), HasSubstr("is not a page-aligned page of the image"));
}

TEST(KernelImage, RefusesSegmentBelowVirtBase) {
  ElfSpec spec = test_kernel_spec();
  spec.notes.push_back(tortuga_note(TG_ELFNOTE_VIRT_BASE, kTestDataVa));
  EXPECT_THAT(refusal(spec), HasSubstr("lies below the virtual base"));
}

TEST(KernelImage, RefusesUnalignedVirtBase) {
  ElfSpec spec = test_kernel_spec();
  spec.notes.push_back(tortuga_note(TG_ELFNOTE_VIRT_BASE, TG_DEFAULT_VIRT_BASE + 0x10));
  EXPECT_THAT(refusal(spec), HasSubstr("virtual base is not page aligned"));
}

TEST(KernelImage, RefusesImageWithoutLoadableSegment) {
  ElfSpec spec = test_kernel_spec();
  spec.segments.clear();
  EXPECT_THAT(refusal(spec), HasSubstr("no loadable segment"));
}

TEST(KernelImage, EmptyLoadSegmentsDoNotCount) {
  ElfSpec spec = test_kernel_spec();
  for (auto& s : spec.segments) {
    s.bytes.clear();
    s.memsz = 0;
  }
  EXPECT_THAT(refusal(spec), HasSubstr("no loadable segment"));
}

TEST(KernelImage, LoadKernelImageNamesUnreadableFile) {
  try {
    load_kernel_image("/nonexistent/tortuga-kernel");
    FAIL() << "loaded a file that does not exist";
  } catch (const KernelImageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot open kernel /nonexistent/tortuga-kernel"));
  }
}

}  // namespace
}  // namespace tortuga
