// The kinds of page-table request that exit statistics and the MMU trace
// tell apart (ABI.md 8.5-8.7): mmu_update requests by type (TG_MMU_*) and
// mmuext_op operations by command (TG_MMUEXT_*), each with a last kind for
// values the ABI does not define (refused, but still counted).
#pragma once

#include <cstdint>

#include <tortuga/memory.h>

namespace tortuga {

inline constexpr unsigned kMmuUpdateKinds = TG_MMU_PT_CLEAR_BITS + 2;
inline constexpr unsigned kMmuextKinds = TG_MMUEXT_INVLPG_ALL + 2;

// The kind of an mmu_update request, from the type in its ptr's low bits.
constexpr unsigned mmu_update_kind(uint64_t ptr) {
  uint64_t type = ptr & TG_MMU_REQ_TYPE_MASK;
  return type < kMmuUpdateKinds - 1 ? static_cast<unsigned>(type) : kMmuUpdateKinds - 1;
}

// The kind of an mmuext_op operation, from its cmd.
constexpr unsigned mmuext_kind(uint32_t cmd) { return cmd < kMmuextKinds - 1 ? cmd : kMmuextKinds - 1; }

// Lower-case names after the ABI's constants ("normal", "pin_l1_table", ...).
inline constexpr const char* kMmuUpdateKindNames[kMmuUpdateKinds] = {"normal", "preserve_ad", "clear_bits", "bad_type"};
inline constexpr const char* kMmuextKindNames[kMmuextKinds] = {
    "pin_l1_table", "pin_l2_table",     "pin_l3_table",    "pin_l4_table",    "unpin_table",
    "new_baseptr",  "new_user_baseptr", "tlb_flush_local", "tlb_flush_multi", "tlb_flush_all",
    "invlpg_local", "invlpg_multi",     "invlpg_all",      "bad_cmd"};

constexpr const char* mmu_update_kind_name(unsigned kind) {
  return kMmuUpdateKindNames[kind < kMmuUpdateKinds ? kind : kMmuUpdateKinds - 1];
}
constexpr const char* mmuext_kind_name(unsigned kind) {
  return kMmuextKindNames[kind < kMmuextKinds ? kind : kMmuextKinds - 1];
}

}  // namespace tortuga
