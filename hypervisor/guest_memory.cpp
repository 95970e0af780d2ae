#include "guest_memory.h"

#include <stdexcept>

#include <fmt/format.h>

namespace tortuga {

GuestMemory::GuestMemory(uint64_t ram_size, uint64_t reserved_gpa, uint64_t reserved_size)
    : reserved_gpa_(reserved_gpa) {
  if (ram_size == 0 || ram_size % 4096 != 0) {
    throw std::invalid_argument(fmt::format("guest memory size {} is not a positive multiple of 4 KiB", ram_size));
  }
  if (ram_size > reserved_gpa) {
    throw std::invalid_argument(fmt::format("guest memory of {} MiB overlaps the VMM's reserved area", ram_size >> 20));
  }
  ram_ = HostMapping::anonymous(ram_size);
  reserved_ = HostMapping::anonymous(reserved_size);
}

}  // namespace tortuga
