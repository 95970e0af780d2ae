// A guest kernel file, parsed and validated before any VM exists: an x86-64
// ELF executable with Tortuga's ELF notes (<tortuga/elfnote.h>). The file is
// hostile input; every offset and size is checked against the file.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace tortuga {

// The kernel cannot be run; what() is the reason, for the user.
class KernelImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct LoadSegment {
  uint64_t vaddr = 0;
  uint64_t memsz = 0;
  uint64_t filesz = 0;
  uint64_t file_offset = 0;
  bool executable = false;
};

struct KernelImage {
  std::vector<uint8_t> file;
  std::vector<LoadSegment> segments;
  uint64_t entry = 0;
  uint64_t virt_base = 0;
  uint64_t hypercall_page = 0;  // 0: the kernel has none
  uint64_t physmap_va = 0;      // where the builder also maps all RAM; 0: nowhere
  uint32_t abi_version = 0;
  uint32_t required_features = 0;

  // Guest-physical extent of the loaded image: [lowest_gpa, end_gpa).
  uint64_t lowest_gpa() const;
  uint64_t end_gpa() const;
};

KernelImage parse_kernel_image(std::vector<uint8_t> file);
KernelImage load_kernel_image(const std::string& path);

}  // namespace tortuga
