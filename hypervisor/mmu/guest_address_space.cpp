#include "mmu/guest_address_space.h"

#include <algorithm>
#include <cstring>

#include "domain/guest_fault.h"
#include "mmu/page_table_bits.h"
#include "vcpu/reserved_area.h"

namespace tortuga {

Translation GuestAddressSpace::translate(uint64_t va, Access access) const {
  if (!pte::is_canonical(va)) return {0, "non-canonical address"};
  if (reserved_area::contains_va(va)) return {0, "address in the VMM's reserved range"};
  uint64_t table = cr3_ & pte::kFrameMask;
  for (unsigned level = 4; level >= 1; --level) {
    auto entry = read_entry(memory_, pending_, table + 8 * pte::index(va, level));
    if (!entry) return {0, "page table outside guest RAM"};
    uint64_t e = *entry;
    if (!(e & pte::kPresent)) return {0, "not mapped"};
    if (!(e & pte::kUser)) return {0, "not accessible to the guest"};
    if (access == Access::kWrite && !(e & pte::kWritable)) return {0, "not writable"};
    bool leaf = level == 1 || ((level == 2 || level == 3) && (e & pte::kLarge));
    if (leaf) {
      uint64_t page_mask = (1ULL << (12 + 9 * (level - 1))) - 1;
      uint64_t gpa = (e & pte::kFrameMask & ~page_mask) | (va & page_mask);
      if (!memory_.ram_contains(gpa, 1)) return {0, "maps a frame outside guest RAM"};
      return {gpa, nullptr};
    }
    table = e & pte::kFrameMask;
  }
  return {0, "not mapped"};
}

namespace {

template <typename Fn>
void for_each_page_chunk(uint64_t va, size_t len, Fn&& fn) {
  while (len > 0) {
    size_t chunk = std::min<size_t>(len, 4096 - (va & 4095));
    fn(va, chunk);
    va += chunk;
    len -= chunk;
  }
}

}  // namespace

void GuestAddressSpace::copy_from(uint64_t va, void* dst, size_t len) const {
  auto* out = static_cast<uint8_t*>(dst);
  for_each_page_chunk(va, len, [&](uint64_t at, size_t chunk) {
    Translation t = translate(at, Access::kRead);
    if (!t.ok()) throw BadGuestAddress(at, t.error);
    std::memcpy(out, memory_.ram(t.gpa, chunk), chunk);
    out += chunk;
  });
}

void GuestAddressSpace::copy_to(uint64_t va, const void* src, size_t len) const {
  const auto* in = static_cast<const uint8_t*>(src);
  for_each_page_chunk(va, len, [&](uint64_t at, size_t chunk) {
    Translation t = translate(at, Access::kWrite);
    if (!t.ok()) throw BadGuestAddress(at, t.error);
    std::memcpy(memory_.ram(t.gpa, chunk), in, chunk);
    memory_.note_written(t.gpa, chunk);  // not dirty-logged by KVM
    in += chunk;
  });
}

}  // namespace tortuga
