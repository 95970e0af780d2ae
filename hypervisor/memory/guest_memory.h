// The memory of one domain as the VMM sees it: guest RAM at guest-physical
// [0, ram_size) and the VMM's reserved area (GDT, IDT, TSS, CPL0 stacks,
// stubs and per-vCPU state) in a separate range the guest can never map.
// Every access is bounds-checked; a guest-physical address is hostile input.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

#include "memory/dirty_pages.h"
#include "host_mapping.h"

namespace tortuga {

class GuestMemory {
 public:
  GuestMemory(uint64_t ram_size, uint64_t reserved_gpa, uint64_t reserved_size);

  uint64_t ram_size() const { return ram_.size(); }
  uint64_t ram_pages() const { return ram_.size() >> 12; }
  uint8_t* ram_base() const { return ram_.data(); }
  uint64_t reserved_gpa() const { return reserved_gpa_; }
  uint64_t reserved_size() const { return reserved_.size(); }
  uint8_t* reserved_base() const { return reserved_.data(); }

  // True when [gpa, gpa + len) lies entirely in guest RAM.
  bool ram_contains(uint64_t gpa, uint64_t len) const { return len <= ram_.size() && gpa <= ram_.size() - len; }
  // Host pointer to guest RAM, or nullptr when the range is not all RAM.
  uint8_t* ram(uint64_t gpa, uint64_t len) const { return ram_contains(gpa, len) ? ram_.data() + gpa : nullptr; }

  // Dirty tracking of the VMM's own writes (dirty_pages.h): while a set is
  // attached, note_written() marks the frames it covers. Every path that
  // writes guest RAM from the VMM calls it.
  void attach_dirty_pages(DirtyPages* pages) const { dirty_.store(pages, std::memory_order_release); }
  void note_written(uint64_t gpa, uint64_t len) const {
    if (DirtyPages* d = dirty_.load(std::memory_order_acquire)) d->mark_range(gpa, len);
  }

  // Gives the host memory behind [gpa, gpa + len) back to the host; the
  // range reads as zeros afterwards. Page aligned, inside RAM.
  void discard(uint64_t gpa, uint64_t len) const;

  // Typed access to a VMM-owned object at an offset in the reserved area.
  template <typename T>
  T* reserved(uint64_t offset) const {
    static_assert(std::is_trivially_copyable_v<T>);
    if (offset > reserved_.size() || sizeof(T) > reserved_.size() - offset) return nullptr;
    return reinterpret_cast<T*>(reserved_.data() + offset);
  }
  template <typename T>
  T* ram_object(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return reinterpret_cast<T*>(ram(gpa, sizeof(T)));
  }

 private:
  HostMapping ram_;
  HostMapping reserved_;
  uint64_t reserved_gpa_;
  mutable std::atomic<DirtyPages*> dirty_{nullptr};
};

}  // namespace tortuga
