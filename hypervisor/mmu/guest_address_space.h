// A guest virtual address space: walks the guest's 4-level page tables in
// guest RAM, as the CPU would for CPL3 code, and copies to and from guest
// virtual memory. Every entry is guest-controlled, so every step is checked:
// canonical address, not the VMM's range, present, user-accessible, writable
// when writing, and a frame inside guest RAM.
#pragma once

#include <cstddef>
#include <cstdint>

#include "memory/guest_memory.h"
#include "mmu/pending_writes.h"

namespace tortuga {

enum class Access { kRead, kWrite };

struct Translation {
  uint64_t gpa = 0;
  const char* error = nullptr;  // why it failed, or nullptr
  bool ok() const { return error == nullptr; }
};

class GuestAddressSpace {
 public:
  // pending: page-table writes validated but not yet applied, which the
  // walk must see (they are what the guest will run on).
  GuestAddressSpace(const GuestMemory& memory, uint64_t cr3, const PendingWrites* pending = nullptr)
      : memory_(memory), cr3_(cr3), pending_(pending) {}

  Translation translate(uint64_t va, Access access) const;

  // Throw BadGuestAddress when any byte does not translate with the access.
  void copy_from(uint64_t va, void* dst, size_t len) const;
  void copy_to(uint64_t va, const void* src, size_t len) const;

  template <typename T>
  T read(uint64_t va) const {
    T value;
    copy_from(va, &value, sizeof value);
    return value;
  }

 private:
  const GuestMemory& memory_;
  uint64_t cr3_;
  const PendingWrites* pending_;
};

}  // namespace tortuga
