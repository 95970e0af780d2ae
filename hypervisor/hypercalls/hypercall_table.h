// The hypercall table, derived from the rows of hypercall_list.h: the
// handlers' declarations and one entry per hypercall number, checked at
// compile time to cover every number exactly once. Each handler lives in the
// file named after its hypercall (console_io.cpp, sched_op.cpp, ...);
// dispatch.cpp decodes the registers and counts every call.
#pragma once

#include <array>
#include <cstdint>

#include <tortuga/cpu.h>

#include "hypercalls/hypercall_list.h"
#include "vcpu/vcpu.h"

namespace tortuga::hypercalls {

// Arguments in calling-convention order: rdi, rsi, rdx, r10, r8; whether
// the call is a multicall's entry rather than an exit of its own (for exit
// statistics and the MMU trace); and, for a multicall made on the guest's
// behalf (the batch an iret carries), where to count its failed entries.
struct Args {
  uint64_t a0, a1, a2, a3, a4;
  bool in_multicall = false;
  uint32_t* failed_entries = nullptr;
};

using Handler = int64_t (*)(Vcpu& vcpu, const Args& args);

// Whether a hypercall reads or changes page-table state (hypercall_list.h).
enum class PageTables { kNever, kAlways, kBySubOp };
using SubOpPredicate = bool (*)(uint64_t cmd);

struct Entry {
  uint64_t nr;            // TG_HC_<name>
  const char* name;       // <name>, as the ABI spells it
  const char* arguments;  // the argument shape, "(cmd, arg)"
  Handler handler;
  bool returns;  // false: the handler set the guest's registers itself (iret)
  PageTables page_tables;
  SubOpPredicate sub_op_changes_page_tables;  // kBySubOp only, else nullptr
};

// The handlers and their sub-op predicates, declared from the rows.
#define TORTUGA_HC_DECLARE_PREDICATE_NEVER
#define TORTUGA_HC_DECLARE_PREDICATE_ALWAYS
#define TORTUGA_HC_DECLARE_PREDICATE_SUB_OP(predicate) bool predicate(uint64_t cmd);
#define TORTUGA_HC_DECLARE(name, arguments, returns, page_tables) \
  int64_t name(Vcpu& vcpu, const Args& args);                     \
  TORTUGA_HC_DECLARE_PREDICATE_##page_tables
TORTUGA_HYPERCALLS(TORTUGA_HC_DECLARE)
#undef TORTUGA_HC_DECLARE
#undef TORTUGA_HC_DECLARE_PREDICATE_SUB_OP
#undef TORTUGA_HC_DECLARE_PREDICATE_ALWAYS
#undef TORTUGA_HC_DECLARE_PREDICATE_NEVER

// The rows as entries, indexed by hypercall number: hypercall_list.h keeps
// its rows in number order, which the checks below hold it to.
#define TORTUGA_HC_RETURNS_RETURNS true
#define TORTUGA_HC_RETURNS_NO_RETURN false
#define TORTUGA_HC_PAGE_TABLES_NEVER PageTables::kNever, nullptr
#define TORTUGA_HC_PAGE_TABLES_ALWAYS PageTables::kAlways, nullptr
#define TORTUGA_HC_PAGE_TABLES_SUB_OP(predicate) PageTables::kBySubOp, predicate
#define TORTUGA_HC_ENTRY(name, arguments, returns, page_tables) \
  Entry{TG_HC_##name, #name, arguments, name, TORTUGA_HC_RETURNS_##returns, TORTUGA_HC_PAGE_TABLES_##page_tables},
inline constexpr auto kTable = std::to_array<Entry>({TORTUGA_HYPERCALLS(TORTUGA_HC_ENTRY)});
#undef TORTUGA_HC_ENTRY
#undef TORTUGA_HC_PAGE_TABLES_SUB_OP
#undef TORTUGA_HC_PAGE_TABLES_ALWAYS
#undef TORTUGA_HC_PAGE_TABLES_NEVER
#undef TORTUGA_HC_RETURNS_NO_RETURN
#undef TORTUGA_HC_RETURNS_RETURNS

consteval bool rows_in_number_order() {
  for (size_t i = 0; i < kTable.size(); ++i) {
    if (kTable[i].nr != i) return false;
  }
  return true;
}

static_assert(kTable.size() == TG_NR_HYPERCALLS,
              "hypercall_list.h needs exactly one row per hypercall number below TG_NR_HYPERCALLS");
static_assert(rows_in_number_order(), "hypercall_list.h: the rows must be in number order, one per number");

// The table entry for a hypercall number, or nullptr when there is none.
constexpr const Entry* find_hypercall(uint64_t nr) { return nr < kTable.size() ? &kTable[nr] : nullptr; }

// Whether this call, with sub-op `cmd` (rdi), reads or changes page-table
// state: dispatch then takes the frame lock and stops the other vCPUs.
inline bool changes_page_tables(const Entry& entry, uint64_t cmd) {
  switch (entry.page_tables) {
    case PageTables::kNever: return false;
    case PageTables::kAlways: return true;
    case PageTables::kBySubOp: return entry.sub_op_changes_page_tables(cmd);
  }
  return false;
}

// What set_trap_table and vcpu_op initialise both ask of a trap table entry
// (ABI.md 7.3): a vector that exists, known flags, zero padding.
bool valid_trap_entry(const tg_trap_info& e);
// At most this many entries before the terminating one.
inline constexpr unsigned kMaxTrapTableEntries = 256;

// Arms this vCPU's one-shot timer (set_timer_op and vcpu_op share it).
int64_t arm_timer(Vcpu& vcpu, uint64_t deadline_ns);

// The feature bits (word 0) this VMM offers; see TG_VERSION_features.
uint32_t offered_features();

// Checks that a guest code address (handler, callback) lies in guest memory
// the kernel can reach; kills the domain otherwise.
void require_guest_code_address(Vcpu& vcpu, uint64_t va, const char* what);

}  // namespace tortuga::hypercalls
