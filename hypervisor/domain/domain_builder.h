// The domain builder: turns a validated kernel image into a bootable guest
// memory image, laid out as <tortuga/start_info.h> specifies: the kernel's
// segments, the initramfs, start info, shared info, the console and store
// ring pages, the bootstrap page tables (which map [0, boot_map_end) at
// virt_base and carry the VMM's reserved slot) and the bootstrap stack.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "memory/guest_memory.h"
#include "domain/kernel_image.h"

namespace tortuga {

struct BootParams {
  std::string cmdline;
  std::vector<uint8_t> initramfs;
  uint32_t nr_vcpus = 1;
  uint64_t tsc_khz = 0;
};

struct BootLayout {
  uint64_t virt_base = 0;
  uint64_t physmap_va = 0;  // where all RAM is mapped too (TG_ELFNOTE_PHYSMAP_VA), or 0
  uint64_t mod_gpa = 0, mod_len = 0;
  uint64_t start_info_gpa = 0;
  uint64_t shared_info_gpa = 0;
  uint64_t console_ring_gpa = 0;
  uint64_t store_ring_gpa = 0;
  uint64_t page_tables_gpa = 0;  // the L4 is the first frame
  uint64_t nr_page_table_frames = 0;
  uint64_t stack_top_gpa = 0;
  uint64_t first_free_gpa = 0;
  uint64_t boot_map_end = 0;
  uint64_t entry = 0;

  uint64_t va(uint64_t gpa) const { return virt_base + gpa; }
};

// Number of page-table frames (L4 down to L1) needed to map
// [virt_base, virt_base + size) with 4 KiB pages.
uint64_t page_table_frames_for(uint64_t virt_base, uint64_t size);

// ABI.md 1.3: refuses a kernel whose TG_ELFNOTE_FEATURES lists a bit
// outside `offered` (KernelImageError naming the missing bits).
void check_required_features(const KernelImage& kernel, uint32_t offered);

// Writes the hypercall page (TG_HYPERCALL_PAGE_SLOTS slots) into `page`.
void fill_hypercall_page(uint8_t* page);

// Lays the domain out in memory. Throws KernelImageError when the kernel
// or the boot layout does not fit the domain's memory.
BootLayout build_domain(const GuestMemory& memory, const KernelImage& kernel, const BootParams& params);

}  // namespace tortuga
