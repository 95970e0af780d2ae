// The hypercall table derived from hypercalls/hypercall_list.h: every
// number has a handler and the ABI's name, only iret does not return, and
// each call's page-table class (which decides the frame lock and stopping
// the other vCPUs) is the one the PV MMU needs.
#include "hypercalls/hypercall_table.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include <tortuga/hypercall.h>
#include <tortuga/memory.h>
#include <tortuga/vcpu.h>

#include "vcpu/exit_stats.h"

namespace tortuga::hypercalls {
namespace {

// Sub-op numbers a call's predicate is asked about: every one the ABI
// defines for memory_op and vcpu_op, and some beyond.
constexpr uint64_t kMaxCmd = 16;

const Entry& entry(uint64_t nr) {
  const Entry* e = find_hypercall(nr);
  EXPECT_NE(e, nullptr) << "no entry for hypercall " << nr;
  return *e;
}

TEST(HypercallTable, EveryNumberHasAHandlerANameAndAnArgumentShape) {
  std::set<std::string> names;
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    const Entry& e = entry(nr);
    EXPECT_EQ(e.nr, nr);
    EXPECT_NE(e.handler, nullptr) << e.name;
    ASSERT_NE(e.name, nullptr) << nr;
    EXPECT_STREQ(hypercall_name(nr), e.name);
    EXPECT_TRUE(names.insert(e.name).second) << "two hypercalls are named " << e.name;
    std::string shape = e.arguments;
    EXPECT_TRUE(shape.size() >= 2 && shape.front() == '(' && shape.back() == ')') << e.name << ": " << shape;
  }
}

TEST(HypercallTable, NumbersOutsideTheAbiHaveNoEntry) {
  EXPECT_EQ(find_hypercall(TG_NR_HYPERCALLS), nullptr);
  EXPECT_EQ(find_hypercall(~0ULL), nullptr);
}

#define EXPECT_ABI_NAME(call) EXPECT_STREQ(entry(TG_HC_##call).name, #call)

TEST(HypercallTable, NamesAreTheAbiHeadersSpelling) {
  EXPECT_ABI_NAME(console_io);
  EXPECT_ABI_NAME(sched_op);
  EXPECT_ABI_NAME(set_timer_op);
  EXPECT_ABI_NAME(set_trap_table);
  EXPECT_ABI_NAME(set_callbacks);
  EXPECT_ABI_NAME(iret);
  EXPECT_ABI_NAME(stack_switch);
  EXPECT_ABI_NAME(set_segment_base);
  EXPECT_ABI_NAME(mmu_update);
  EXPECT_ABI_NAME(mmuext_op);
  EXPECT_ABI_NAME(update_va_mapping);
  EXPECT_ABI_NAME(multicall);
  EXPECT_ABI_NAME(event_channel_op);
  EXPECT_ABI_NAME(grant_table_op);
  EXPECT_ABI_NAME(memory_op);
  EXPECT_ABI_NAME(vcpu_op);
  EXPECT_ABI_NAME(version);
}

#undef EXPECT_ABI_NAME

TEST(HypercallTable, OnlyIretDoesNotReturn) {
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    EXPECT_EQ(entry(nr).returns, nr != TG_HC_iret) << entry(nr).name;
  }
}

bool always_changes_page_tables(uint64_t nr) {
  return nr == TG_HC_mmu_update || nr == TG_HC_mmuext_op || nr == TG_HC_update_va_mapping || nr == TG_HC_multicall ||
         nr == TG_HC_grant_table_op;
}

TEST(HypercallTable, PageTableCallsAlwaysChangePageTables) {
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    if (!always_changes_page_tables(nr)) continue;
    EXPECT_EQ(entry(nr).page_tables, PageTables::kAlways) << entry(nr).name;
    for (uint64_t cmd = 0; cmd < kMaxCmd; ++cmd) EXPECT_TRUE(changes_page_tables(entry(nr), cmd)) << entry(nr).name;
  }
}

TEST(HypercallTable, MemoryOpChangesPageTablesOnlyToChangeTheReservation) {
  const Entry& e = entry(TG_HC_memory_op);
  EXPECT_EQ(e.page_tables, PageTables::kBySubOp);
  EXPECT_TRUE(changes_page_tables(e, TG_MEMOP_increase_reservation));
  EXPECT_TRUE(changes_page_tables(e, TG_MEMOP_decrease_reservation));
  EXPECT_FALSE(changes_page_tables(e, TG_MEMOP_current_reservation));
  EXPECT_FALSE(changes_page_tables(e, TG_MEMOP_maximum_reservation));
  EXPECT_FALSE(changes_page_tables(e, TG_MEMOP_memory_map));
  EXPECT_FALSE(changes_page_tables(e, kMaxCmd));
}

TEST(HypercallTable, VcpuOpFollowsItsPredicate) {
  const Entry& e = entry(TG_HC_vcpu_op);
  EXPECT_EQ(e.page_tables, PageTables::kBySubOp);
  EXPECT_EQ(e.sub_op_changes_page_tables, &vcpu_op_changes_page_tables);
  for (uint64_t cmd = 0; cmd < kMaxCmd; ++cmd) {
    EXPECT_EQ(changes_page_tables(e, cmd), vcpu_op_changes_page_tables(cmd)) << cmd;
  }
  EXPECT_TRUE(changes_page_tables(e, TG_VCPUOP_initialise));  // it loads the new vCPU's page-table base
  EXPECT_FALSE(changes_page_tables(e, TG_VCPUOP_up));
}

TEST(HypercallTable, EveryOtherCallNeverChangesPageTables) {
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    if (always_changes_page_tables(nr) || nr == TG_HC_memory_op || nr == TG_HC_vcpu_op) continue;
    EXPECT_EQ(entry(nr).page_tables, PageTables::kNever) << entry(nr).name;
    for (uint64_t cmd = 0; cmd < kMaxCmd; ++cmd) EXPECT_FALSE(changes_page_tables(entry(nr), cmd)) << entry(nr).name;
  }
}

TEST(HypercallTable, OnlySubOpCallsNameAPredicate) {
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    const Entry& e = entry(nr);
    EXPECT_EQ(e.sub_op_changes_page_tables != nullptr, e.page_tables == PageTables::kBySubOp) << e.name;
  }
}

}  // namespace
}  // namespace tortuga::hypercalls
