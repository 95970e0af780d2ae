// Fuzz target: the page walk over guest-controlled page tables. The input
// is a 12-byte header followed by the initial contents of a 64 KiB guest
// RAM, so every page-table entry is fuzzer-chosen. translate() must only ever return RAM addresses, and the
// copies must either succeed or throw BadGuestAddress, never touch memory
// outside RAM.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "mmu/guest_address_space.h"
#include "domain/guest_fault.h"
#include "memory/guest_memory.h"
#include "vcpu/reserved_area.h"

namespace {

// Input layout (little-endian), then the initial contents of guest RAM:
//   bytes 0..7   va to translate and copy at
//   bytes 8..9   copy length (taken modulo kMaxCopy + 1)
//   byte 10      cr3 = (byte % 32) << 12: may lie outside RAM
//   byte 11      bit 0: translate for writing; bit 1: also copy_to
constexpr size_t kHeader = 12;
constexpr size_t kRam = 64 * 1024;
constexpr size_t kMaxCopy = 3 * 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tortuga;
  if (size < kHeader) return 0;
  uint64_t va;
  uint16_t copy_len;
  std::memcpy(&va, data, 8);
  std::memcpy(&copy_len, data + 8, 2);
  const uint8_t cr3_frame = data[10], flags = data[11];
  static GuestMemory memory(kRam, reserved_area::kGpa, 4096);
  std::memset(memory.ram_base(), 0, kRam);
  std::memcpy(memory.ram_base(), data + kHeader, std::min(size - kHeader, kRam));

  GuestAddressSpace space(memory, uint64_t{cr3_frame % 32u} << 12);
  Access access = (flags & 1) ? Access::kWrite : Access::kRead;
  Translation t = space.translate(va, access);
  if (t.ok() && !memory.ram_contains(t.gpa, 1)) std::abort();

  static std::array<uint8_t, kMaxCopy> buffer;
  size_t len = copy_len % (kMaxCopy + 1);
  try {
    space.copy_from(va, buffer.data(), len);
  } catch (const BadGuestAddress& e) {
    if (e.va() < va && va + len > va) std::abort();  // the failing page is within the copy
  }
  if (flags & 2) {
    try {
      space.copy_to(va, buffer.data(), len);
    } catch (const BadGuestAddress&) {
    }
  }
  return 0;
}
