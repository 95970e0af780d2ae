// The hypercalls the VMM implements, one row each. This is the only place
// the VMM describes a hypercall: hypercall_table.h derives the handler
// declarations and the dispatch table (with the name exit statistics print
// and the page-table class dispatch uses) from these rows, and checks at
// compile time that they are in number order, one per number below
// TG_NR_HYPERCALLS.
//
// Adding a hypercall touches three places:
//   1. the ABI: its number TG_HC_<name> (and TG_NR_HYPERCALLS) in
//      hypercall-abi/include/tortuga/hypercall.h, and its section in
//      hypercall-abi/ABI.md;
//   2. a row below, in its number's place;
//   3. hypercalls/<name>.cpp, defining hypercalls::<name>(Vcpu&, const Args&)
//      and, for SUB_OP, the predicate the row names. CMake picks the file up
//      (hypercalls/*.cpp is globbed).
// A call whose page tables column is not NEVER is also named in
// tests/unit/hypercall_table_test.cpp, which expects NEVER otherwise.
//
// The columns:
//   name         the ABI's spelling: the number is TG_HC_<name>, the handler
//                hypercalls::<name>
//   arguments    what rdi, rsi, rdx, r10, r8 carry, for messages and docs
//   returns      RETURNS, or NO_RETURN when the handler sets the guest's
//                registers itself (iret)
//   page tables  whether the call reads or changes page-table state (the
//                frame table, base pointers): NEVER, ALWAYS, or
//                SUB_OP(predicate), a bool(uint64_t cmd) on the sub-op in rdi.
//                Dispatch runs such a call under the frame lock (which
//                grant_table_op takes itself, see dispatch.cpp) and, with
//                several vCPUs, with the others stopped (vcpu/quiesce.h).
#pragma once

#include <tortuga/hypercall.h>

// clang-format off
#define TORTUGA_HYPERCALLS(X)                                                                              \
  /* name              arguments                   returns    page tables */                              \
  X(console_io,        "(cmd, count, buf)",        RETURNS,   NEVER)                                      \
  X(sched_op,          "(cmd, arg)",               RETURNS,   NEVER)                                      \
  X(set_timer_op,      "(deadline_ns)",            RETURNS,   NEVER)                                      \
  X(set_trap_table,    "(table)",                  RETURNS,   NEVER)                                      \
  X(set_callbacks,     "(type, address, flags)",   RETURNS,   NEVER)                                      \
  X(iret,              "(frame at rsp)",           NO_RETURN, NEVER)                                      \
  X(stack_switch,      "(ss, rsp)",                RETURNS,   NEVER)                                      \
  X(set_segment_base,  "(which, base)",            RETURNS,   NEVER)                                      \
  X(mmu_update,        "(reqs, count, done)",      RETURNS,   ALWAYS)                                     \
  X(mmuext_op,         "(ops, count, done)",       RETURNS,   ALWAYS)                                     \
  X(update_va_mapping, "(va, pte, flags)",         RETURNS,   ALWAYS)                                     \
  X(multicall,         "(entries, count)",         RETURNS,   ALWAYS)                                     \
  X(event_channel_op,  "(cmd, arg)",               RETURNS,   NEVER)                                      \
  /* grant_table_op types grant frames and writes L1 entries */                                           \
  X(grant_table_op,    "(cmd, args, count)",       RETURNS,   ALWAYS)                                     \
  X(memory_op,         "(cmd, arg)",               RETURNS,   SUB_OP(memory_op_changes_page_tables))      \
  X(vcpu_op,           "(cmd, vcpu, arg)",         RETURNS,   SUB_OP(vcpu_op_changes_page_tables))        \
  X(version,           "(cmd, arg)",               RETURNS,   NEVER)
// clang-format on
