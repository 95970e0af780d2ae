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

TEST(BatchHistogram, BucketsArePowersOfTwo) {
  EXPECT_EQ(BatchHistogram::bucket(0), 0u);
  EXPECT_EQ(BatchHistogram::bucket(1), 1u);
  EXPECT_EQ(BatchHistogram::bucket(2), 2u);
  EXPECT_EQ(BatchHistogram::bucket(3), 2u);
  EXPECT_EQ(BatchHistogram::bucket(4), 3u);
  EXPECT_EQ(BatchHistogram::bucket(7), 3u);
  EXPECT_EQ(BatchHistogram::bucket(2048), 12u);
  EXPECT_EQ(BatchHistogram::bucket(4095), 12u);
  EXPECT_EQ(BatchHistogram::bucket(4096), 13u);
  EXPECT_EQ(BatchHistogram::bucket(1u << 20), BatchHistogram::kBuckets - 1);  // clamped to the last
  for (unsigned b = 0; b < BatchHistogram::kBuckets; ++b) {
    EXPECT_EQ(BatchHistogram::bucket(BatchHistogram::bucket_min(b)), b);
    EXPECT_EQ(BatchHistogram::bucket(BatchHistogram::bucket_max(b)), b);
  }
  EXPECT_EQ(BatchHistogram::bucket_max(12), 4095u);
  EXPECT_EQ(BatchHistogram::bucket_max(13), 4096u);
}

TEST(BatchHistogram, RecordsAddsAndFormatsNonEmptyBuckets) {
  BatchHistogram a, b;
  a.record(1);
  a.record(1);
  a.record(3);
  b.record(2);
  b.record(4096);
  b.record(600);
  a.add(b);
  EXPECT_EQ(a.total(), 6u);
  EXPECT_EQ(a.calls[1], 2u);
  EXPECT_EQ(a.calls[2], 2u);
  EXPECT_EQ(a.format(), "1:2 2-3:2 512-1023:1 4096:1");
  EXPECT_EQ(BatchHistogram{}.format(), "");
}

TEST(MmuRequestKinds, NamesFollowTheAbiAndUndefinedValuesHaveTheirOwnKind) {
  EXPECT_STREQ(mmu_update_kind_name(mmu_update_kind(0x1000 | TG_MMU_NORMAL_PT_UPDATE)), "normal");
  EXPECT_STREQ(mmu_update_kind_name(mmu_update_kind(0x1000 | TG_MMU_PT_UPDATE_PRESERVE_AD)), "preserve_ad");
  EXPECT_STREQ(mmu_update_kind_name(mmu_update_kind(0x1000 | TG_MMU_PT_CLEAR_BITS)), "clear_bits");
  EXPECT_STREQ(mmu_update_kind_name(mmu_update_kind(0x1000 | 7)), "bad_type");
  EXPECT_STREQ(mmuext_kind_name(mmuext_kind(TG_MMUEXT_PIN_L1_TABLE)), "pin_l1_table");
  EXPECT_STREQ(mmuext_kind_name(mmuext_kind(TG_MMUEXT_NEW_USER_BASEPTR)), "new_user_baseptr");
  EXPECT_STREQ(mmuext_kind_name(mmuext_kind(TG_MMUEXT_INVLPG_ALL)), "invlpg_all");
  EXPECT_STREQ(mmuext_kind_name(mmuext_kind(TG_MMUEXT_INVLPG_ALL + 1)), "bad_cmd");
  EXPECT_STREQ(mmuext_kind_name(mmuext_kind(~0u)), "bad_cmd");
}

TEST(ExitStats, AddSumsPageTableKindsAndHistograms) {
  ExitStats a, b;
  a.mmu_updates[TG_MMU_NORMAL_PT_UPDATE][kAlone] = 3;
  b.mmu_updates[TG_MMU_NORMAL_PT_UPDATE][kAlone] = 4;
  b.mmu_updates[TG_MMU_PT_CLEAR_BITS][kInMulticall] = 5;
  a.mmuext_ops[TG_MMUEXT_NEW_BASEPTR][kAlone] = 1;
  b.mmuext_ops[TG_MMUEXT_NEW_BASEPTR][kAlone] = 2;
  b.update_va_mappings[kInMulticall] = 6;
  b.multicall_calls[TG_HC_update_va_mapping] = 6;
  a.mmu_update_batches.record(1);
  b.mmu_update_batches.record(1);
  b.mmuext_op_batches.record(8);
  b.multicall_batches.record(6);
  a.add(b);
  EXPECT_EQ(a.mmu_updates[TG_MMU_NORMAL_PT_UPDATE][kAlone], 7u);
  EXPECT_EQ(a.mmu_updates[TG_MMU_PT_CLEAR_BITS][kInMulticall], 5u);
  EXPECT_EQ(a.mmuext_ops[TG_MMUEXT_NEW_BASEPTR][kAlone], 3u);
  EXPECT_EQ(a.update_va_mappings[kInMulticall], 6u);
  EXPECT_EQ(a.multicall_calls[TG_HC_update_va_mapping], 6u);
  EXPECT_EQ(a.mmu_update_batches.calls[1], 2u);
  EXPECT_EQ(a.mmuext_op_batches.calls[4], 1u);
  EXPECT_EQ(a.multicall_batches.calls[3], 1u);
}

TEST(ExitStats, FormatShowsPageTableKindsAloneAndInMulticallAndHistogramRows) {
  ExitStats s;
  s.mmu_updates[TG_MMU_NORMAL_PT_UPDATE][kAlone] = 120;
  s.mmu_updates[TG_MMU_NORMAL_PT_UPDATE][kInMulticall] = 4;
  s.mmuext_ops[TG_MMUEXT_PIN_L1_TABLE][kAlone] = 9;
  s.update_va_mappings[kInMulticall] = 2;
  s.multicall_calls[TG_HC_update_va_mapping] = 2;
  s.mmu_update_batches.record(1);
  s.mmu_update_batches.record(1024);
  std::string table = s.format();
  EXPECT_THAT(table, HasSubstr("page-table requests"));
  EXPECT_THAT(table, ::testing::ContainsRegex("\n  mmu_update normal +120 +4\n"));
  EXPECT_THAT(table, ::testing::ContainsRegex("\n  mmuext pin_l1_table +9 +0\n"));
  EXPECT_THAT(table, ::testing::ContainsRegex("\n  update_va_mapping +0 +2\n"));
  EXPECT_THAT(table, Not(HasSubstr("preserve_ad")));
  EXPECT_THAT(table, Not(HasSubstr("unpin")));
  EXPECT_THAT(table, ::testing::ContainsRegex("multicall entries by hypercall\n  update_va_mapping +2\n"));
  EXPECT_THAT(table, ::testing::ContainsRegex("\n  mmu_update +1:1 1024-2047:1\n"));
  EXPECT_THAT(table, Not(HasSubstr("mmuext_op ")));
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
