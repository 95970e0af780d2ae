// tortuga-porting-cost's pieces on small inputs with known counts: unified
// diff parsing, added versus modified pairing, code lines, categories, a
// whole measurement of a synthetic tree and series, and bad input.
#include "category.h"
#include "change_count.h"
#include "code_lines.h"
#include "hooks.h"
#include "linux_source.h"
#include "porting_cost.h"
#include "process.h"
#include "unified_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace tortuga::porting {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

// One file: 2 context, a run of 2 removed + 3 added (2 modified, 1 added),
// context, then 1 added alone; a format-patch signature follows.
constexpr std::string_view kPatch =
    "From 1 Mon Sep 17 00:00:00 2001\n"
    "Subject: [PATCH] test\n"
    "---\n"
    " mm/a.c | 5 ++++-\n"
    "diff --git a/mm/a.c b/mm/a.c\n"
    "--- a/mm/a.c\n"
    "+++ b/mm/a.c\n"
    "@@ -1,6 +1,8 @@ int f(void)\n"
    " one\n"
    "\n"
    "-three\n"
    "-four\n"
    "+THREE\n"
    "+FOUR\n"
    "+/* a comment */\n"
    " five\n"
    "+added\n"
    " six\n"
    "-- \n"
    "2.39.2\n";

TEST(UnifiedDiff, ParsesFilesHunksAndStopsAtTheHeaderCounts) {
  auto files = parse_unified_diff(kPatch, "t.patch", 1);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].old_path, "mm/a.c");
  ASSERT_EQ(files[0].hunks.size(), 1u);
  const Hunk& h = files[0].hunks[0];
  EXPECT_EQ(h.old_start, 1);
  EXPECT_EQ(h.new_count, 8);
  EXPECT_EQ(h.lines.size(), 10u);  // the blank context line kept, "-- " and "2.39.2" not taken
  EXPECT_EQ(h.lines[1].kind, ' ');
}

TEST(UnifiedDiff, NewFileAndNoNewlineMarker) {
  std::string diff =
      "--- /dev/null\n+++ b/arch/x86/tortuga/x.c\n@@ -0,0 +1,2 @@\n+int x;\n+int y;\n\\ No newline at end of file\n";
  auto files = parse_unified_diff(diff, "new", 1);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].old_path, "");
  EXPECT_EQ(files[0].path(), "arch/x86/tortuga/x.c");
  LineCounts c = count_file_diff(files[0], {}, make_file_text("int x;\nint y;", "arch/x86/tortuga/x.c"));
  EXPECT_EQ(c.added(), 2u);
  EXPECT_EQ(c.modified(), 0u);
}

TEST(UnifiedDiff, ShortHunkIsAnErrorNamingTheDiff) {
  std::string diff = "--- a/x.c\n+++ b/x.c\n@@ -1,3 +1,3 @@\n x\n";
  try {
    parse_unified_diff(diff, "short.patch", 1);
    FAIL() << "a short hunk parsed";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("short.patch"));
    EXPECT_THAT(e.what(), HasSubstr("shorter than its header"));
  }
}

TEST(ChangeCount, PairsRemovedWithAddedInARunAndCountsCode) {
  auto files = parse_unified_diff(kPatch, "t.patch", 1);
  FileText before = make_file_text("one\n\nthree\nfour\nfive\nsix\n", "mm/a.c");
  FileText after = make_file_text("one\n\nTHREE\nFOUR\n/* a comment */\nfive\nadded\nsix\n", "mm/a.c");
  LineCounts c = count_file_diff(files[0], before, after);
  EXPECT_EQ(c.modified(), 2u);
  EXPECT_EQ(c.added(), 2u);  // the comment line (paired run's extra) and "added"
  EXPECT_EQ(c.removed(), 0u);
  EXPECT_EQ(c.code_modified(), 2u);
  EXPECT_EQ(c.code_added(), 1u);  // the comment is not code
  EXPECT_EQ(changed_lines(c), 4u);
}

TEST(ChangeCount, ClassifiesByTheWholeFileWhenTheHunkStartsInsideAComment) {
  // The hunk's first line is inside a block comment opened above it.
  std::string diff = "--- a/x.c\n+++ b/x.c\n@@ -2,1 +2,2 @@\n  * text\n+ * more text\n";
  auto files = parse_unified_diff(diff, "c", 1);
  FileText before = make_file_text("/*\n * text\n */\n", "x.c");
  FileText after = make_file_text("/*\n * text\n * more text\n */\n", "x.c");
  LineCounts c = count_file_diff(files[0], before, after);
  EXPECT_EQ(c.added(), 1u);
  EXPECT_EQ(c.code_added(), 0u);
}

TEST(CodeLines, CommentsBlanksAndStringsHoldingCommentMarks) {
  std::vector<std::string> lines = {"int a; /* start",   "still comment", "end */ int b;", "",
                                    "   // line comment", "const char *s = \"/* not a comment\";",
                                    "int c;",            "char q = '\"'; /* x */", "/* one */ /* two */"};
  std::vector<bool> want = {true, false, true, false, false, true, true, true, false};
  EXPECT_EQ(classify_code_lines(lines, CommentStyle::kC), want);
}

TEST(CodeLines, HashStyleForKconfigAndMakefiles) {
  EXPECT_EQ(comment_style("drivers/tortuga/Kconfig"), CommentStyle::kHash);
  EXPECT_EQ(comment_style("arch/x86/tortuga/Makefile"), CommentStyle::kHash);
  EXPECT_EQ(comment_style("arch/x86/tortuga/head_64.S"), CommentStyle::kC);
  std::vector<bool> want = {false, true, false};
  EXPECT_EQ(classify_code_lines({"# comment", "obj-y += a.o", "  "}, CommentStyle::kHash), want);
}

TEST(Category, RealPathsOfThePort) {
  EXPECT_EQ(port_category("mm/vmalloc.c"), Category::kArchIndependent);
  EXPECT_EQ(port_category("arch/x86/mm/fault.c"), Category::kArchX86);
  EXPECT_EQ(port_category("arch/x86/tortuga/mmu.c"), Category::kArchX86);
  EXPECT_EQ(port_category("arch/x86/include/asm/tortuga/guest.h"), Category::kArchX86);
  EXPECT_EQ(port_category("drivers/tty/hvc/hvc_tortuga.c"), Category::kOtherDrivers);
  EXPECT_EQ(port_category("drivers/tortuga/store.c"), Category::kOtherDrivers);
  EXPECT_EQ(port_category("drivers/tortuga/balloon.c"), Category::kOtherDrivers);
  EXPECT_EQ(port_category("drivers/block/tortuga_blkfront.c"), Category::kBlockDriver);
  EXPECT_EQ(port_category("drivers/net/tortuga_netfront.c"), Category::kNetDriver);
  EXPECT_EQ(port_category("drivers/tortuga/Kconfig"), Category::kBuildGlue);
  EXPECT_EQ(port_category("arch/x86/Kbuild"), Category::kBuildGlue);
  EXPECT_EQ(port_category("mm/Kconfig"), Category::kBuildGlue);
  EXPECT_EQ(port_category("include/tortuga/io/blkif.h"), Category::kAbiHeaders);
  EXPECT_EQ(port_category("drivers/tty/hvc/hvc_xen.c"), Category::kArchIndependent);
}

TEST(Category, LinuxXenPaths) {
  EXPECT_TRUE(is_linux_xen_path("arch/x86/xen/enlighten_pv.c"));
  EXPECT_FALSE(is_linux_xen_path("arch/x86/xenfoo.c"));
  EXPECT_EQ(linux_xen_category("arch/x86/xen/mmu_pv.c"), Category::kArchX86);
  EXPECT_EQ(linux_xen_category("drivers/block/xen-blkfront.c"), Category::kBlockDriver);
  EXPECT_EQ(linux_xen_category("drivers/net/xen-netfront.c"), Category::kNetDriver);
  EXPECT_EQ(linux_xen_category("include/xen/interface/xen.h"), Category::kAbiHeaders);
  EXPECT_EQ(linux_xen_category("include/xen/xenbus.h"), Category::kOtherDrivers);
  EXPECT_EQ(linux_xen_category("drivers/xen/Kconfig"), Category::kBuildGlue);
  EXPECT_EQ(paper_table2(Category::kArchX86), 1363u);
  EXPECT_FALSE(paper_table2(Category::kBuildGlue).has_value());
}

TEST(Hooks, AssignmentsToHookTablesAndThroughAnAlias) {
  std::string c =
      "static void __init f(void) {\n"
      "\tstruct pv_mmu_ops *ops = &pv_ops.mmu;\n"
      "\tpv_ops.irq.save_fl = PV_CALLEE_SAVE(g);\n"
      "\tops->lazy_mode.enter = h;\n"
      "\tif (x86_init.oem.arch_setup == NULL) return; /* a test, not a hook */\n"
      "\tx86_platform.calibrate_tsc = k;\n"
      "}\n";
  std::vector<std::string> want = {"pv_ops.irq.save_fl", "pv_ops.mmu.lazy_mode.enter", "x86_platform.calibrate_tsc"};
  EXPECT_EQ(assigned_hooks(c), want);
  std::vector<std::string> calls = {"tortuga_x", "g"};
  EXPECT_EQ(called_names("\tif (tortuga_x(a)) g(); /* not(this) */ \"nor(that)\""), calls);
}

// A small tree and port on disk: a pristine tree (Makefile, arch/x86, mm,
// drivers/xen), a series of two patches, one driver and one ABI header.
class SyntheticPort : public ::testing::Test {
 protected:
  void SetUp() override {
    write("tree/Makefile", "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\n");
    write("tree/arch/x86/kernel/a.c", "int a;\n\n/* comment */\nint b;\n");  // 4 lines, 2 code
    write("tree/arch/x86/kernel/notes.txt", "not counted\n");
    write("tree/mm/m.c", "one\ntwo\nthree\n");
    write("tree/arch/x86/xen/e.c", "int x;\n// c\n");
    write("tree/include/xen/interface/xen.h", "int i;\n");
    write("port/series", "# comment\n\n0001-a.patch\n0002-b.patch\n");
    write("port/patches/0001-a.patch",
          "--- a/mm/m.c\n+++ b/mm/m.c\n@@ -1,3 +1,3 @@\n one\n-two\n+TWO\n three\n"
          "--- /dev/null\n+++ b/arch/x86/tortuga/t.c\n@@ -0,0 +1,3 @@\n+int t;\n+\n+/* t */\n"
          "--- a/arch/x86/kernel/a.c\n+++ b/arch/x86/kernel/a.c\n@@ -1,2 +1,3 @@\n int a;\n+int hook_call(void);\n \n");
    write("port/patches/0002-b.patch",
          "--- a/arch/x86/tortuga/t.c\n+++ b/arch/x86/tortuga/t.c\n@@ -1,3 +1,3 @@\n-int t;\n+long t;\n \n /* t */\n");
    write("port/drivers/kernel-paths", "d.c drivers/tortuga/d.c\n");
    write("port/drivers/d.c", "int d;\nint e;\n");
    write("port/abi/tortuga.h", "/* abi */\nint abi;\n");
  }

  void write(const std::string& rel, const std::string& text) { write_text_file(dir_.path() / rel, text); }

  PortInputs inputs() const {
    fs::path p = dir_.path() / "port";
    return {p / "series", p / "patches", p / "drivers", p / "drivers/kernel-paths", p / "abi"};
  }

  const CategoryRow& row(const PortingCost& r, Category c) {
    for (const auto& row : r.rows()) {
      if (row.category() == category_name(c)) return row;
    }
    throw std::runtime_error("no row");
  }

  TempDir dir_{"porting-cost-test-"};
};

TEST_F(SyntheticPort, CountsEachCategoryAndThePerPatchRows) {
  PortingCost r = measure_tree(load_port(inputs()), dir_.path() / "tree", "6.1.99");
  EXPECT_EQ(row(r, Category::kArchIndependent).port().modified(), 1u);  // mm/m.c two -> TWO
  EXPECT_EQ(row(r, Category::kArchIndependent).port().added(), 0u);
  // arch/x86: t.c's 3 lines (net: created whole) + a.c's added declaration.
  EXPECT_EQ(row(r, Category::kArchX86).port().added(), 4u);
  EXPECT_EQ(row(r, Category::kArchX86).port().code_added(), 2u);
  EXPECT_EQ(row(r, Category::kOtherDrivers).port().added(), 2u);
  EXPECT_EQ(row(r, Category::kAbiHeaders).port().added(), 2u);
  EXPECT_EQ(row(r, Category::kAbiHeaders).port().code_added(), 1u);
  EXPECT_EQ(changed_lines(r.port_total()), 9u);
  EXPECT_EQ(row(r, Category::kArchX86).linux_xen().added(), 2u);
  EXPECT_EQ(row(r, Category::kArchX86).linux_xen().code_added(), 1u);
  EXPECT_EQ(row(r, Category::kAbiHeaders).linux_xen().added(), 1u);
  // The denominator: a.c and arch/x86/xen/e.c (.c files under arch/x86), not notes.txt.
  EXPECT_EQ(r.x86_files(), 2u);
  EXPECT_EQ(r.x86_lines(), 6u);
  EXPECT_EQ(r.x86_code_lines(), 3u);
  ASSERT_EQ(r.patches_size(), 2);
  EXPECT_EQ(r.patches(0).counts().added(), 4u);
  EXPECT_EQ(r.patches(0).counts().modified(), 1u);
  EXPECT_EQ(r.patches(1).counts().modified(), 1u);
  EXPECT_EQ(changed_lines(r.patches_sum()), 6u);  // t.c's first line counted in both patches
  ASSERT_EQ(r.new_call_sites_size(), 2);
  EXPECT_EQ(r.new_call_sites(0).file(), "arch/x86/kernel/a.c");
  EXPECT_THAT(r.new_call_sites(0).calls(), ::testing::ElementsAre("hook_call"));
}

TEST_F(SyntheticPort, APatchThatDoesNotApplyIsNamed) {
  write("tree/mm/m.c", "one\nsomething else\nthree\n");
  try {
    measure_tree(load_port(inputs()), dir_.path() / "tree", "6.1.99");
    FAIL() << "a series that does not apply was counted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("patch 0001-a.patch does not apply"));
  }
}

TEST_F(SyntheticPort, APatchOfAFileTheTreeLacksIsNamed) {
  fs::remove(dir_.path() / "tree/mm/m.c");
  EXPECT_THROW(
      {
        try {
          measure_tree(load_port(inputs()), dir_.path() / "tree", "6.1.99");
        } catch (const std::runtime_error& e) {
          EXPECT_THAT(e.what(), HasSubstr("mm/m.c, which the pristine tree does not have"));
          throw;
        }
      },
      std::runtime_error);
}

TEST_F(SyntheticPort, AMissingPatchIsNamed) {
  write("port/series", "0001-a.patch\n0003-gone.patch\n");
  EXPECT_THROW(
      {
        try {
          load_port(inputs());
        } catch (const std::runtime_error& e) {
          EXPECT_THAT(e.what(), HasSubstr("0003-gone.patch, which is missing"));
          throw;
        }
      },
      std::runtime_error);
}

// A tarball of another version: the version error, not tar's complaint.
TEST_F(SyntheticPort, ATarballOfAnotherVersionIsRefused) {
  write("old/linux-source-5.10/Makefile", "VERSION = 5\nPATCHLEVEL = 10\nSUBLEVEL = 1\n");
  write("old/linux-source-5.10/arch/x86/a.c", "int a;\n");
  fs::path tarball = dir_.path() / "old.tar.xz";
  ASSERT_EQ(run_process({"tar", "-cJf", tarball.string(), "-C", (dir_.path() / "old").string(), "linux-source-5.10"})
                .exit_status,
            0);
  MeasureOptions o{tarball, inputs(), "6.1"};
  try {
    measure(o);
    FAIL() << "a 5.10 tree was counted";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("is Linux 5.10"));
    EXPECT_THAT(e.what(), HasSubstr("not 6.1"));
  }
}

TEST_F(SyntheticPort, AMissingTarballIsNamed) {
  MeasureOptions o{dir_.path() / "none.tar.xz", inputs(), "6.1"};
  try {
    measure(o);
    FAIL() << "a missing tarball was not noticed";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("none.tar.xz is missing"));
    EXPECT_THAT(e.what(), HasSubstr("linux-source-6.1"));
  }
}

TEST(LinuxSource, MakefileVersion) {
  EXPECT_EQ(makefile_version("# x\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 192\nEXTRAVERSION =\n", true), "6.1.192");
  EXPECT_EQ(makefile_version("VERSION = 6\nPATCHLEVEL = 1\n", false), "6.1");
  EXPECT_EQ(makefile_version("all:\n\techo\n", false), "");
}

}  // namespace
}  // namespace tortuga::porting
