// ExitStats: accumulation across vCPUs and the printed table.
#include "vcpu/exit_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace tortuga {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(ExitStats, AddSumsEveryCounter) {
  ExitStats a, b;
  a.exits = 5;
  a.kicks = 1;
  a.hypercalls[TG_HC_iret] = 2;
  a.exceptions[14] = 3;
  a.syscall_bounces = 4;
  b.exits = 10;
  b.kicks = 2;
  b.hypercalls[TG_HC_iret] = 1;
  b.hypercalls[TG_HC_version] = 6;
  b.bad_hypercalls = 7;
  b.exceptions[14] = 1;
  b.exceptions[13] = 2;
  b.other = 8;
  a.add(b);
  EXPECT_EQ(a.exits, 15u);
  EXPECT_EQ(a.kicks, 3u);
  EXPECT_EQ(a.hypercalls[TG_HC_iret], 3u);
  EXPECT_EQ(a.hypercalls[TG_HC_version], 6u);
  EXPECT_EQ(a.bad_hypercalls, 7u);
  EXPECT_EQ(a.exceptions[14], 4u);
  EXPECT_EQ(a.exceptions[13], 2u);
  EXPECT_EQ(a.syscall_bounces, 4u);
  EXPECT_EQ(a.other, 8u);
}

TEST(ExitStats, HypercallTotalCountsBadNumbers) {
  ExitStats s;
  EXPECT_EQ(s.hypercall_total(), 0u);
  s.hypercalls[0] = 3;
  s.hypercalls[TG_NR_HYPERCALLS - 1] = 4;
  s.bad_hypercalls = 2;
  s.exits = 100;  // not a hypercall
  EXPECT_EQ(s.hypercall_total(), 9u);
}

TEST(ExitStats, FormatAlwaysHasExitsAndOmitsZeroRows) {
  ExitStats s;
  s.exits = 12;
  s.exceptions[14] = 2;
  std::string table = s.format();
  EXPECT_THAT(table, HasSubstr("exits"));
  EXPECT_THAT(table, HasSubstr("12"));
  EXPECT_THAT(table, HasSubstr("exception vector 14"));
  EXPECT_THAT(table, Not(HasSubstr("exception vector 13")));
  EXPECT_THAT(table, Not(HasSubstr("hypercall")));
  EXPECT_THAT(table, Not(HasSubstr("kicks")));
  EXPECT_THAT(table, Not(HasSubstr("other")));
}

TEST(ExitStats, FormatNamesHypercalls) {
  ExitStats s;
  s.hypercalls[TG_HC_console_io] = 1;
  s.hypercalls[TG_HC_mmu_update] = 2;
  s.bad_hypercalls = 3;
  s.kicks = 4;
  std::string table = s.format();
  EXPECT_THAT(table, HasSubstr("hypercall console_io"));
  EXPECT_THAT(table, HasSubstr("hypercall mmu_update"));
  EXPECT_THAT(table, HasSubstr("hypercall (bad number)"));
  EXPECT_THAT(table, HasSubstr("kicks (not guest exits)"));
  EXPECT_THAT(table, Not(HasSubstr("hypercall iret")));
}

TEST(ExitStats, EmptyStatsFormatToOneLine) {
  std::string table = ExitStats{}.format();
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 1);
}

TEST(HypercallName, NamesEveryNumberAndRefusesOthers) {
  EXPECT_STREQ(hypercall_name(TG_HC_console_io), "console_io");
  EXPECT_STREQ(hypercall_name(TG_HC_iret), "iret");
  EXPECT_STREQ(hypercall_name(TG_HC_update_va_mapping), "update_va_mapping");
  EXPECT_STREQ(hypercall_name(TG_HC_version), "version");
  EXPECT_STREQ(hypercall_name(TG_NR_HYPERCALLS), "unknown");
  EXPECT_STREQ(hypercall_name(~0ULL), "unknown");
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) EXPECT_STRNE(hypercall_name(nr), "unknown") << nr;
}

}  // namespace
}  // namespace tortuga
