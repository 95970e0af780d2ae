// The exit profile of issue 15 through the test guest: the per-kind
// page-table counters of --stats and the --trace-mmu lines match what the
// guest's mm benchmarks do, and the trace names call sites inside the
// guest's code. Each case runs a benchmark at two sizes and checks the
// difference, so the set-up the benchmark does first cancels out.
// Needs /dev/kvm (label `guest`).
#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "vmm_process.h"

namespace tortuga::testing {
namespace {

struct ProfiledRun {
  VmmRun run;
  std::vector<std::vector<std::string>> trace;  // the trace's lines, split into words
};

std::vector<std::vector<std::string>> read_trace(const std::string& path) {
  std::vector<std::vector<std::string>> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    lines.emplace_back(std::istream_iterator<std::string>(words), std::istream_iterator<std::string>());
  }
  return lines;
}

ProfiledRun run_bench(const std::string& bench, unsigned n) {
  std::string trace = (std::filesystem::temp_directory_path() /
                       ("tortuga-mmu-trace-" + std::to_string(getpid()) + "-" + bench + std::to_string(n)))
                          .string();
  ProfiledRun out;
  out.run = run_vmm({test_guest_path(), "--name", "profiled", "--stats", "--trace-mmu", trace, "--cmdline",
                     "bench=" + bench + " n=" + std::to_string(n)});
  out.trace = read_trace(trace);
  std::filesystem::remove(trace);
  return out;
}

// A "page-table requests" row of --stats: {alone, in multicall}, zeros when absent.
std::pair<uint64_t, uint64_t> kind_row(const std::string& stats, const std::string& kind) {
  std::smatch m;
  if (!std::regex_search(stats, m, std::regex("\n  " + kind + " +([0-9]+) +([0-9]+)\n"))) return {0, 0};
  return {std::stoull(m[1]), std::stoull(m[2])};
}

size_t trace_lines(const ProfiledRun& r, const std::string& call, const std::string& kind, const std::string& context) {
  return std::count_if(r.trace.begin(), r.trace.end(), [&](const std::vector<std::string>& w) {
    return w.size() >= 5 && w[0] == call && w[1] == kind && w[2] == context;
  });
}

// The test guest's executable segments, from its ELF program headers.
bool in_guest_code(uint64_t address) {
  std::ifstream in(test_guest_path(), std::ios::binary);
  std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Elf64_Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, file.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X) && address >= ph.p_vaddr && address < ph.p_vaddr + ph.p_memsz) {
      return true;
    }
  }
  return false;
}

// The most frequent first return address of the lines of one call.
std::pair<uint64_t, size_t> top_call_site(const ProfiledRun& r, const std::string& call) {
  std::map<uint64_t, size_t> sites;
  for (const auto& w : r.trace) {
    if (w.size() >= 5 && w[0] == call && w[4] != "?") ++sites[std::stoull(w[4], nullptr, 16)];
  }
  auto top = std::max_element(sites.begin(), sites.end(), [](auto& a, auto& b) { return a.second < b.second; });
  if (top == sites.end()) return {0, 0};
  return {top->first, top->second};
}

TEST(ExitProfile, SingleMmuUpdatesAreCountedAndTracedAtTheirCallSite) {
  ProfiledRun small = run_bench("mmu-single", 20), large = run_bench("mmu-single", 50);
  ASSERT_EQ(small.run.exit_code, 0) << small.run.console << small.run.messages;
  ASSERT_EQ(large.run.exit_code, 0) << large.run.console << large.run.messages;
  auto [small_alone, small_mc] = kind_row(small.run.messages, "mmu_update normal");
  auto [large_alone, large_mc] = kind_row(large.run.messages, "mmu_update normal");
  EXPECT_EQ(large_alone - small_alone, 30u) << small.run.messages << large.run.messages;
  EXPECT_EQ(large_mc, small_mc);
  EXPECT_EQ(trace_lines(large, "mmu_update", "normal", "alone") - trace_lines(small, "mmu_update", "normal", "alone"),
            30u);
  // The benchmark's loop is the busiest call site, in the guest's code.
  auto [site, calls] = top_call_site(large, "mmu_update");
  EXPECT_GE(calls, 50u);
  EXPECT_TRUE(in_guest_code(site)) << std::hex << site;
  for (const auto& w : large.trace) {
    ASSERT_GE(w.size(), 5u);
    EXPECT_TRUE(in_guest_code(std::stoull(w[4], nullptr, 16))) << w[0] << " " << w[4];
  }
}

TEST(ExitProfile, UnbatchedMappingCountsEachKindAloneAndInMulticall) {
  ProfiledRun one = run_bench("map-unbatched", 1), two = run_bench("map-unbatched", 2);
  ASSERT_EQ(one.run.exit_code, 0) << one.run.console << one.run.messages;
  ASSERT_EQ(two.run.exit_code, 0) << two.run.console << two.run.messages;
  const std::string& a = one.run.messages;
  const std::string& b = two.run.messages;
  // Each round: 1024 update_va_mapping calls alone, then one multicall of
  // a 1024-entry mmu_update and a one-op TLB flush (mm.c unmap_scratch).
  EXPECT_EQ(kind_row(b, "update_va_mapping").first - kind_row(a, "update_va_mapping").first, 1024u) << a << b;
  EXPECT_EQ(kind_row(b, "mmu_update normal").second - kind_row(a, "mmu_update normal").second, 1024u);
  EXPECT_EQ(kind_row(b, "mmuext tlb_flush_local").second - kind_row(a, "mmuext tlb_flush_local").second, 1u);
  EXPECT_EQ(trace_lines(two, "update_va_mapping", "no_flush", "alone") -
                trace_lines(one, "update_va_mapping", "no_flush", "alone"),
            1024u);
  EXPECT_EQ(trace_lines(two, "mmuext_op", "tlb_flush_local", "multicall") -
                trace_lines(one, "mmuext_op", "tlb_flush_local", "multicall"),
            1u);
  EXPECT_THAT(b, ::testing::ContainsRegex("\n  multicall +([0-9]+-[0-9]+:[0-9]+ )*2-3:[0-9]+"));
  EXPECT_TRUE(in_guest_code(top_call_site(two, "update_va_mapping").first));
}

TEST(ExitProfile, AnUncreatableTraceFileIsRefusedByName) {
  VmmRun run = run_vmm({test_guest_path(), "--trace-mmu", "/nonexistent-dir/trace.txt"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.messages, ::testing::HasSubstr("--trace-mmu: cannot create /nonexistent-dir/trace.txt"));
}

}  // namespace
}  // namespace tortuga::testing
