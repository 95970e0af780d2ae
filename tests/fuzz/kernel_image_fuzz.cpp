// Fuzz target: a kernel file is hostile input. parse_kernel_image must
// either accept it or throw KernelImageError; an accepted image must then
// either build into a small domain or be refused with KernelImageError.
// Anything else (another exception, a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "domain/domain_builder.h"
#include "memory/guest_memory.h"
#include "domain/kernel_image.h"
#include "vcpu/reserved_area.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tortuga;
  KernelImage kernel;
  try {
    kernel = parse_kernel_image(std::vector<uint8_t>(data, data + size));
  } catch (const KernelImageError&) {
    return 0;
  }
  // Reused across inputs: the builder writes everything it relies on.
  static GuestMemory memory(16ULL << 20, reserved_area::kGpa, 4096);
  try {
    build_domain(memory, kernel, BootParams{"console=hvc0", {}, 1, 0});
  } catch (const KernelImageError&) {
  }
  return 0;
}
