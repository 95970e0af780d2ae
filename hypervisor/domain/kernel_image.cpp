#include "domain/kernel_image.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>
#include <tortuga/elfnote.h>
#include <tortuga/types.h>

namespace tortuga {
namespace {

constexpr size_t kMaxKernelFile = 512ULL << 20;

// [offset, offset + len) within a buffer of `size` bytes, without overflow.
bool in_bounds(uint64_t offset, uint64_t len, uint64_t size) { return offset <= size && len <= size - offset; }

template <typename T>
T read_at(const std::vector<uint8_t>& file, uint64_t offset) {
  T value;
  std::memcpy(&value, file.data() + offset, sizeof value);
  return value;
}

struct Notes {
  std::optional<uint64_t> abi_version, virt_base, entry, hypercall_page, features, physmap_va;
};

void parse_note_segment(const std::vector<uint8_t>& file, uint64_t offset, uint64_t size, Notes& notes) {
  uint64_t pos = offset, end = offset + size;
  while (end - pos >= sizeof(Elf64_Nhdr)) {
    auto hdr = read_at<Elf64_Nhdr>(file, pos);
    uint64_t name_at = pos + sizeof hdr;
    uint64_t name_len = (uint64_t{hdr.n_namesz} + 3) & ~3ULL;
    uint64_t desc_at = name_at + name_len;
    uint64_t desc_len = (uint64_t{hdr.n_descsz} + 3) & ~3ULL;
    if (!in_bounds(name_at, name_len, end) || !in_bounds(desc_at, desc_len, end)) {
      throw KernelImageError("malformed ELF note (sizes run past the note segment)");
    }
    std::string name(reinterpret_cast<const char*>(file.data() + name_at),
                     strnlen(reinterpret_cast<const char*>(file.data() + name_at), hdr.n_namesz));
    if (name == TG_ELFNOTE_NAME) {
      if (hdr.n_descsz != 8) {
        throw KernelImageError(
            fmt::format("Tortuga ELF note {} has a {}-byte value (need 8)", hdr.n_type, hdr.n_descsz));
      }
      uint64_t value = read_at<uint64_t>(file, desc_at);
      switch (hdr.n_type) {
        case TG_ELFNOTE_ABI_VERSION: notes.abi_version = value; break;
        case TG_ELFNOTE_VIRT_BASE: notes.virt_base = value; break;
        case TG_ELFNOTE_ENTRY: notes.entry = value; break;
        case TG_ELFNOTE_HYPERCALL_PAGE: notes.hypercall_page = value; break;
        case TG_ELFNOTE_FEATURES: notes.features = value; break;
        case TG_ELFNOTE_PHYSMAP_VA: notes.physmap_va = value; break;
        default: break;  // unknown notes are ignored: additive ABI
      }
    }
    pos = desc_at + desc_len;
  }
}

Elf64_Ehdr check_header(const std::vector<uint8_t>& file) {
  if (file.size() < sizeof(Elf64_Ehdr) || std::memcmp(file.data(), ELFMAG, SELFMAG) != 0) {
    throw KernelImageError("not an ELF file");
  }
  auto eh = read_at<Elf64_Ehdr>(file, 0);
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) throw KernelImageError("not a 64-bit ELF file");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) throw KernelImageError("not a little-endian ELF file");
  if (eh.e_machine != EM_X86_64) {
    throw KernelImageError(fmt::format("wrong machine: ELF e_machine {} (need x86-64, {})", eh.e_machine, EM_X86_64));
  }
  if (eh.e_type != ET_EXEC) throw KernelImageError("not an ELF executable (ET_EXEC)");
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      !in_bounds(eh.e_phoff, uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr), file.size())) {
    throw KernelImageError("ELF program headers missing or outside the file");
  }
  return eh;
}

const LoadSegment* segment_containing(const KernelImage& k, uint64_t va, uint64_t len) {
  for (const auto& s : k.segments) {
    if (va >= s.vaddr && in_bounds(va - s.vaddr, len, s.memsz)) return &s;
  }
  return nullptr;
}

}  // namespace

uint64_t KernelImage::lowest_gpa() const {
  uint64_t low = UINT64_MAX;
  for (const auto& s : segments) low = std::min(low, s.vaddr - virt_base);
  return low;
}

uint64_t KernelImage::end_gpa() const {
  uint64_t end = 0;
  for (const auto& s : segments) end = std::max(end, s.vaddr - virt_base + s.memsz);
  return end;
}

KernelImage parse_kernel_image(std::vector<uint8_t> file) {
  Elf64_Ehdr eh = check_header(file);
  KernelImage k;
  Notes notes;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    auto ph = read_at<Elf64_Phdr>(file, eh.e_phoff + i * sizeof(Elf64_Phdr));
    if (ph.p_type == PT_NOTE) {
      if (!in_bounds(ph.p_offset, ph.p_filesz, file.size()))
        throw KernelImageError("ELF note segment outside the file");
      parse_note_segment(file, ph.p_offset, ph.p_filesz, notes);
    } else if (ph.p_type == PT_LOAD && ph.p_memsz > 0) {
      if (ph.p_filesz > ph.p_memsz) throw KernelImageError(fmt::format("ELF segment {} has filesz > memsz", i));
      if (!in_bounds(ph.p_offset, ph.p_filesz, file.size())) {
        throw KernelImageError(fmt::format("ELF segment {} lies outside the file", i));
      }
      if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr)
        throw KernelImageError(fmt::format("ELF segment {} wraps the address space", i));
      k.segments.push_back({ph.p_vaddr, ph.p_memsz, ph.p_filesz, ph.p_offset, (ph.p_flags & PF_X) != 0});
    }
  }
  if (!notes.abi_version) throw KernelImageError("no Tortuga ELF note: not a Tortuga guest kernel");
  if ((*notes.abi_version >> 16) != TG_ABI_VERSION_MAJOR) {
    throw KernelImageError(fmt::format("kernel built for Tortuga ABI {}.{}, this VMM speaks {}.{}",
                                       *notes.abi_version >> 16, *notes.abi_version & 0xffff, TG_ABI_VERSION_MAJOR,
                                       TG_ABI_VERSION_MINOR));
  }
  if (k.segments.empty()) throw KernelImageError("ELF file has no loadable segment");
  k.abi_version = static_cast<uint32_t>(*notes.abi_version);
  k.virt_base = notes.virt_base.value_or(TG_DEFAULT_VIRT_BASE);
  k.entry = notes.entry.value_or(eh.e_entry);
  k.hypercall_page = notes.hypercall_page.value_or(0);
  k.required_features = static_cast<uint32_t>(notes.features.value_or(0));
  k.physmap_va = notes.physmap_va.value_or(0);
  if (k.virt_base & 0xfff) throw KernelImageError("virtual base is not page aligned");
  if (k.physmap_va & 0xfff) throw KernelImageError("physmap virtual address is not page aligned");
  for (const auto& s : k.segments) {
    if (s.vaddr < k.virt_base) {
      throw KernelImageError(
          fmt::format("ELF segment at {:#x} lies below the virtual base {:#x}", s.vaddr, k.virt_base));
    }
  }
  const LoadSegment* entry_seg = segment_containing(k, k.entry, 1);
  if (entry_seg == nullptr || !entry_seg->executable) {
    throw KernelImageError(fmt::format("entry point {:#x} is not in an executable segment", k.entry));
  }
  if (k.hypercall_page != 0 && ((k.hypercall_page & 0xfff) || !segment_containing(k, k.hypercall_page, 4096))) {
    throw KernelImageError(
        fmt::format("hypercall page {:#x} is not a page-aligned page of the image", k.hypercall_page));
  }
  k.file = std::move(file);
  return k;
}

KernelImage load_kernel_image(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KernelImageError(fmt::format("cannot open kernel {}", path));
  in.seekg(0, std::ios::end);
  auto size = static_cast<uint64_t>(in.tellg());
  if (size > kMaxKernelFile)
    throw KernelImageError(fmt::format("kernel {} is larger than {} MiB", path, kMaxKernelFile >> 20));
  in.seekg(0);
  std::vector<uint8_t> bytes(size);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size))) {
    throw KernelImageError(fmt::format("cannot read kernel {}", path));
  }
  try {
    return parse_kernel_image(std::move(bytes));
  } catch (const KernelImageError& e) {
    throw KernelImageError(fmt::format("{}: {}", path, e.what()));
  }
}

}  // namespace tortuga
