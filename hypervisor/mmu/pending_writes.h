// Page-table writes the VMM has validated but the vCPU has not yet applied
// (apply_program.h). Until the CPL0 routine runs, guest RAM still holds the
// old entries, so whatever the VMM reads as a page table in the meantime
// (validation later in the same batch, its own walks of guest addresses)
// reads through this overlay.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "memory/guest_memory.h"

namespace tortuga {

class PendingWrites {
 public:
  void record(uint64_t gpa, uint64_t value) { writes_[gpa] = value; }
  std::optional<uint64_t> find(uint64_t gpa) const {
    if (writes_.empty()) return std::nullopt;
    auto it = writes_.find(gpa);
    if (it == writes_.end()) return std::nullopt;
    return it->second;
  }
  bool empty() const { return writes_.empty(); }
  void clear() { writes_.clear(); }

 private:
  std::unordered_map<uint64_t, uint64_t> writes_;
};

// The value an 8-byte entry at gpa has for the VMM: pending, or in RAM.
// nullopt when gpa is not in guest RAM.
inline std::optional<uint64_t> read_entry(const GuestMemory& memory, const PendingWrites* pending, uint64_t gpa) {
  if (pending != nullptr) {
    if (auto v = pending->find(gpa)) return v;
  }
  const auto* entry = memory.ram_object<uint64_t>(gpa);
  if (entry == nullptr) return std::nullopt;
  return *entry;
}

}  // namespace tortuga
