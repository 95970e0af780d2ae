#include "memory/guest_memory.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
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

void GuestMemory::discard(uint64_t gpa, uint64_t len) const {
  if (gpa % 4096 != 0 || len % 4096 != 0 || !ram_contains(gpa, len)) {
    throw std::invalid_argument(fmt::format("discard of {:#x}+{:#x} is not whole pages of RAM", gpa, len));
  }
  // The RAM is a shared anonymous mapping (KVM and the VMM both see it), so
  // only MADV_REMOVE frees its backing; MADV_DONTNEED would keep it.
  if (::madvise(ram_.data() + gpa, len, MADV_REMOVE) != 0) {
    throw std::runtime_error(fmt::format("madvise(MADV_REMOVE) of guest memory: {}", std::strerror(errno)));
  }
  note_written(gpa, len);  // now zeros, and KVM did not see it happen
}

}  // namespace tortuga
