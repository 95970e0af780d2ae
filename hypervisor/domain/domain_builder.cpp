#include "domain/domain_builder.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <tortuga/cpu.h>
#include <tortuga/hypercall.h>
#include <tortuga/shared_info.h>
#include <tortuga/start_info.h>

#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kBootStackPages = 4;
constexpr uint64_t kBootPadding = 512 * 1024;
constexpr uint64_t kBootMapAlign = 4ULL << 20;

constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

uint64_t tables_at_level(uint64_t start, uint64_t end, unsigned shift) {
  return ((end - 1) >> shift) - (start >> shift) + 1;
}

// The kernel chooses virt_base, so the boot mapping [virt_base, virt_base +
// map_end) is hostile input: it must be one canonical range that neither
// wraps around nor touches the VMM's reserved range (whose L4 slot the
// page-table builder must never descend into: its tables are not RAM).
void check_boot_mapping(uint64_t virt_base, uint64_t map_end) {
  uint64_t last = virt_base + map_end - 1;
  bool ok = map_end > 0 && last >= virt_base && pte::is_canonical(virt_base) && pte::is_canonical(last) &&
            (virt_base >> 63) == (last >> 63) && (last < TG_RESERVED_VA_START || virt_base >= TG_RESERVED_VA_END);
  if (!ok) {
    throw KernelImageError(
        fmt::format("virtual base {:#x} cannot map the boot layout ({} KiB): the range must be "
                    "canonical, must not wrap and must stay out of {:#x}-{:#x}",
                    virt_base, map_end >> 10, TG_RESERVED_VA_START, TG_RESERVED_VA_END - 1));
  }
}

void load_segments(const GuestMemory& memory, const KernelImage& kernel) {
  for (const auto& s : kernel.segments) {
    uint8_t* dst = memory.ram(s.vaddr - kernel.virt_base, s.memsz);
    std::memcpy(dst, kernel.file.data() + s.file_offset, s.filesz);
    std::memset(dst + s.filesz, 0, s.memsz - s.filesz);
  }
}

// The L4 slots [first, last] a mapping of `size` bytes at va occupies.
std::pair<unsigned, unsigned> l4_slots(uint64_t va, uint64_t size) {
  return {pte::index(va, 4), pte::index(va + size - 1, 4)};
}

// ABI.md 5.1: the kernel's physmap VA is hostile input too. It must be a
// range check_boot_mapping accepts, in L4 slots the boot mapping does not
// use (the two never share a table, so the frame count is exact).
void check_physmap(const BootLayout& b, uint64_t ram_size) {
  if (b.physmap_va == 0) return;
  check_boot_mapping(b.physmap_va, ram_size);
  auto [p0, p1] = l4_slots(b.physmap_va, ram_size);
  auto [k0, k1] = l4_slots(b.virt_base, b.boot_map_end);
  if (p0 <= k1 && k0 <= p1) {
    throw KernelImageError(fmt::format("physmap at {:#x} shares L4 slots {}-{} with the boot mapping at {:#x}",
                                       b.physmap_va, std::max(p0, k0), std::min(p1, k1), b.virt_base));
  }
}

// Frames for the boot mapping and, if asked for, the physmap: one L4.
uint64_t boot_table_frames(const BootLayout& b, uint64_t ram_size) {
  uint64_t frames = page_table_frames_for(b.virt_base, b.boot_map_end);
  if (b.physmap_va != 0) frames += page_table_frames_for(b.physmap_va, ram_size) - 1;
  return frames;
}

// Builds 4 KiB mappings of gpa [0, boot_map_end) at virt_base, and of all
// RAM at physmap_va if the kernel asked, in the frames starting at
// page_tables_gpa; the frames themselves are mapped read-only.
void build_boot_page_tables(const GuestMemory& memory, const BootLayout& b) {
  uint64_t next_frame = b.page_tables_gpa;
  auto alloc = [&]() {
    uint64_t gpa = next_frame;
    next_frame += kPage;
    std::memset(memory.ram(gpa, kPage), 0, kPage);
    return gpa;
  };
  auto entry_at = [&](uint64_t table, unsigned idx) { return memory.ram_object<uint64_t>(table + 8 * idx); };
  constexpr uint64_t kTableFlags = pte::kPresent | pte::kWritable | pte::kUser;

  uint64_t l4 = alloc();
  *entry_at(l4, TG_RESERVED_L4_SLOT) = reserved_area::l4_entry();
  uint64_t pt_end = b.page_tables_gpa + b.nr_page_table_frames * kPage;
  auto map_range = [&](uint64_t va_base, uint64_t end, uint64_t flags) {
    for (uint64_t gpa = 0; gpa < end; gpa += kPage) {
      uint64_t va = va_base + gpa;
      uint64_t table = l4;
      for (unsigned level = 4; level > 1; --level) {
        uint64_t* e = entry_at(table, pte::index(va, level));
        if (!(*e & pte::kPresent)) *e = alloc() | kTableFlags;
        table = *e & pte::kFrameMask;
      }
      bool is_page_table = gpa >= b.page_tables_gpa && gpa < pt_end;
      *entry_at(table, pte::index(va, 1)) = gpa | pte::kPresent | pte::kUser | flags | (is_page_table ? 0 : pte::kWritable);
    }
  };
  map_range(b.virt_base, b.boot_map_end, 0);
  // The physmap is data: not executable, and accessed and dirty already, as
  // a kernel's own direct map would be.
  if (b.physmap_va != 0) {
    map_range(b.physmap_va, memory.ram_size() & ~(kPage - 1), pte::kAccessed | pte::kDirty | pte::kNoExecute);
  }
  if (next_frame != pt_end) throw std::logic_error("boot page-table frame count mismatch");
}

void fill_start_info(const GuestMemory& memory, const KernelImage& kernel, const BootParams& params,
                     const BootLayout& b) {
  auto* si = memory.ram_object<tg_start_info>(b.start_info_gpa);
  std::memset(si, 0, sizeof *si);
  std::strncpy(si->magic, TG_START_INFO_MAGIC, sizeof si->magic - 1);
  si->abi_version = TG_ABI_VERSION;
  si->nr_pages = memory.ram_pages();
  si->virt_base = kernel.virt_base;
  si->shared_info_gpa = b.shared_info_gpa;
  si->shared_info_va = b.va(b.shared_info_gpa);
  si->pt_base = b.va(b.page_tables_gpa);
  si->nr_pt_frames = b.nr_page_table_frames;
  si->boot_map_end = b.boot_map_end;
  si->first_free_gpa = b.first_free_gpa;
  si->mod_start = b.mod_len ? b.va(b.mod_gpa) : 0;
  si->mod_len = b.mod_len;
  si->console_ring_gfn = b.console_ring_gpa >> 12;
  si->store_ring_gfn = b.store_ring_gpa >> 12;
  si->nr_vcpus = params.nr_vcpus;
  si->nr_memmap = 1;
  si->memmap[0] = {0, memory.ram_size(), TG_MEMMAP_RAM, 0};
  si->tsc_khz = params.tsc_khz;
  si->physmap_va = b.physmap_va;
  std::strncpy(si->cmdline, params.cmdline.c_str(), TG_CMDLINE_SIZE - 1);
}

void init_shared_info(const GuestMemory& memory, uint64_t gpa) {
  auto* shared = memory.ram_object<tg_shared_info>(gpa);
  std::memset(shared, 0, sizeof *shared);
  for (auto& v : shared->vcpu_info) v.upcall_mask = 1;  // events masked at boot
  // Every port unmasked, nothing pending (ABI.md 5.2): upcall_mask is what
  // holds events back until the kernel is ready.
}

}  // namespace

void check_required_features(const KernelImage& kernel, uint32_t offered) {
  uint32_t missing = kernel.required_features & ~offered;
  if (missing != 0) {
    throw KernelImageError(fmt::format("the kernel requires Tortuga features {:#x} that this VMM does not offer "
                                       "(its TG_ELFNOTE_FEATURES note says {:#x})",
                                       missing, kernel.required_features));
  }
}

uint64_t page_table_frames_for(uint64_t virt_base, uint64_t size) {
  uint64_t end = virt_base + size;
  return 1 + tables_at_level(virt_base, end, 39) + tables_at_level(virt_base, end, 30) +
         tables_at_level(virt_base, end, 21);
}

void fill_hypercall_page(uint8_t* page) {
  std::memset(page, 0xcc, TG_HYPERCALL_PAGE_SLOTS * TG_HYPERCALL_SLOT_SIZE);  // int3 padding
  for (uint32_t n = 0; n < TG_HYPERCALL_PAGE_SLOTS; ++n) {
    uint8_t* s = page + n * TG_HYPERCALL_SLOT_SIZE;
    size_t i = 0;
    if (n == TG_HC_iret) s[i++] = 0x50;  // push %rax
    s[i++] = 0xb8;                       // mov $n, %eax
    std::memcpy(s + i, &n, 4);
    i += 4;
    s[i++] = 0x0f;  // syscall
    s[i++] = 0x05;
    if (n == TG_HC_iret) {
      s[i++] = 0x0f;  // ud2: iret never returns
      s[i++] = 0x0b;
    } else {
      s[i++] = 0xc3;  // ret
    }
  }
}

BootLayout build_domain(const GuestMemory& memory, const KernelImage& kernel, const BootParams& params) {
  BootLayout b;
  b.virt_base = kernel.virt_base;
  b.physmap_va = kernel.physmap_va;
  b.entry = kernel.entry;
  uint64_t kernel_end = kernel.end_gpa();
  if (!memory.ram_contains(kernel.lowest_gpa(), kernel_end - kernel.lowest_gpa())) {
    throw KernelImageError(
        fmt::format("kernel segments span guest-physical {:#x}-{:#x}, outside the domain's {} MiB of memory",
                    kernel.lowest_gpa(), kernel_end, memory.ram_size() >> 20));
  }
  uint64_t cursor = align_up(kernel_end, kPage);
  b.mod_gpa = cursor;
  b.mod_len = params.initramfs.size();
  cursor = align_up(cursor + b.mod_len, kPage);
  b.start_info_gpa = cursor;
  b.shared_info_gpa = cursor + kPage;
  b.console_ring_gpa = cursor + 2 * kPage;
  b.store_ring_gpa = cursor + 3 * kPage;
  b.page_tables_gpa = cursor + 4 * kPage;

  // The table count depends on how much is mapped, which depends on where
  // the tables end: iterate to the fixed point (two rounds at most).
  uint64_t frames = 1, stack_end = 0;
  for (;;) {
    stack_end = b.page_tables_gpa + (frames + kBootStackPages) * kPage;
    b.boot_map_end = std::min(align_up(stack_end + kBootPadding, kBootMapAlign), memory.ram_size() & ~(kPage - 1));
    check_boot_mapping(b.virt_base, b.boot_map_end);
    check_physmap(b, memory.ram_size() & ~(kPage - 1));
    uint64_t need = boot_table_frames(b, memory.ram_size() & ~(kPage - 1));
    if (need <= frames) break;
    frames = need;
  }
  b.nr_page_table_frames = frames;
  b.stack_top_gpa = stack_end;
  b.first_free_gpa = stack_end;
  // ABI.md 5.1: at least kBootPadding mapped and free after the stack; a
  // domain whose RAM ends sooner is refused, not given less.
  if (stack_end + kBootPadding > b.boot_map_end) {
    throw KernelImageError(fmt::format("{} MiB of memory is too small: the boot layout needs {} KiB",
                                       memory.ram_size() >> 20, (stack_end + kBootPadding) >> 10));
  }

  load_segments(memory, kernel);
  if (b.mod_len) std::memcpy(memory.ram(b.mod_gpa, b.mod_len), params.initramfs.data(), b.mod_len);
  std::memset(memory.ram(b.console_ring_gpa, 2 * kPage), 0, 2 * kPage);
  std::memset(memory.ram(stack_end - kBootStackPages * kPage, kBootStackPages * kPage), 0, kBootStackPages * kPage);
  fill_start_info(memory, kernel, params, b);
  init_shared_info(memory, b.shared_info_gpa);
  build_boot_page_tables(memory, b);
  if (kernel.hypercall_page != 0) fill_hypercall_page(memory.ram(kernel.hypercall_page - kernel.virt_base, kPage));
  return b;
}

}  // namespace tortuga
