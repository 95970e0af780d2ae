// Hand-built 4-level page tables in guest RAM, for the address-space tests.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "memory/guest_memory.h"
#include "mmu/page_table_bits.h"

namespace tortuga::test {

class PageTableBuilder {
 public:
  static constexpr uint64_t kTableFlags = pte::kPresent | pte::kWritable | pte::kUser;

  // Page-table frames are taken from guest-physical `first_frame` upwards.
  PageTableBuilder(const GuestMemory& memory, uint64_t first_frame) : memory_(memory), next_(first_frame) {
    l4_ = alloc();
  }

  uint64_t cr3() const { return l4_; }

  // The entry of `table` (a guest-physical frame) at index idx.
  uint64_t& entry(uint64_t table, unsigned idx) {
    uint64_t* e = memory_.ram_object<uint64_t>(table + 8 * idx);
    if (e == nullptr) throw std::logic_error("test page table outside RAM");
    return *e;
  }

  // The entry that maps va at `level` (4 = the L4 entry), creating the
  // tables above it as needed.
  uint64_t& entry_for(uint64_t va, unsigned level) {
    uint64_t table = l4_;
    for (unsigned l = 4; l > level; --l) {
      uint64_t& e = entry(table, pte::index(va, l));
      if (!(e & pte::kPresent)) e = alloc() | kTableFlags;
      table = e & pte::kFrameMask;
    }
    return entry(table, pte::index(va, level));
  }

  // Maps va to gpa with a leaf at `level`: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB.
  void map(uint64_t va, uint64_t gpa, uint64_t flags, unsigned level = 1) {
    entry_for(va, level) = gpa | flags | (level > 1 ? pte::kLarge : 0);
  }

 private:
  uint64_t alloc() {
    uint64_t gpa = next_;
    next_ += 4096;
    std::memset(memory_.ram(gpa, 4096), 0, 4096);
    return gpa;
  }

  const GuestMemory& memory_;
  uint64_t next_;
  uint64_t l4_;
};

}  // namespace tortuga::test
