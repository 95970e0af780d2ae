// Hook analysis by regular expressions over the patched and pristine files:
// a measure of the interface's shape, not a C parser.
#include "hooks.h"

#include "category.h"
#include "change_count.h"
#include "code_lines.h"
#include "linux_source.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

namespace tortuga::porting {
namespace fs = std::filesystem;
namespace {

const std::regex kTableAssign(
    R"(\b((?:pv_ops|x86_init|x86_platform|x86_cpuinit|x86_msi|pv_info|machine_ops)(?:\.\w+)+|pm_power_off)\s*=[^=])");
const std::regex kOpsAlias(R"(\*\s*(\w+)\s*=\s*&\s*(pv_ops\.\w+)\s*;)");
const std::regex kAliasAssign(R"(\b(\w+)->((?:\w+\.)*\w+)\s*=[^=])");
const std::regex kCall(R"(\b([A-Za-z_]\w*)\s*\()");

const std::set<std::string> kKeywords = {"if", "for", "while", "switch", "return", "sizeof", "defined", "do",
                                         "typeof", "__typeof__", "alignof", "_Alignof", "asm", "__asm__"};

// The line with /* */ and // comments and string literals blanked (one line only).
std::string strip_comments(std::string_view line) {
  static const std::regex comment(R"(/\*.*?\*/|/\*.*$|//.*$|"(?:[^"\\]|\\.)*")");
  return std::regex_replace(std::string(line), comment, " ");
}

void push_unique(std::vector<std::string>& v, std::string s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(std::move(s));
}

void add_reused(const fs::path& tree, PortingCost& report) {
  fs::path dir = tree / "arch/x86/tortuga";
  if (!fs::is_directory(dir)) return;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".c") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::string text = read_text_file(f);
    if (text.find("setup_force_cpu_cap(X86_FEATURE_XENPV)") != std::string::npos) report.set_port_takes_xenpv_paths(true);
    for (auto& hook : assigned_hooks(text)) {
      HookUse* use = report.add_reused_hooks();
      use->set_hook(hook);
      use->set_file(fs::relative(f, tree).string());
    }
  }
}

// Files of Linux's own (not the port's new files or its own directories).
bool is_linux_file(const std::string& path) {
  Category c = port_category(path);
  return (c == Category::kArchIndependent || c == Category::kArchX86) && !path.starts_with("arch/x86/tortuga/") &&
         !path.starts_with("arch/x86/include/asm/tortuga/");
}

std::set<std::string> calls_in(std::string_view text) {
  std::set<std::string> names;
  for (const auto& line : split_file_lines(text)) {
    for (auto& n : called_names(line)) names.insert(n);
  }
  return names;
}

// The new names of the added code lines of one file: calls the pristine file
// never made, and any name that says tortuga.
std::vector<std::string> new_names(const FileDiff& diff, const FileText& after, const std::set<std::string>& before) {
  static const std::regex tortuga_name(R"(\b\w*(?:tortuga|TORTUGA)\w*)");
  std::vector<std::string> names;
  for (const auto& hunk : diff.hunks) {
    size_t at = hunk.new_start > 0 ? hunk.new_start - 1 : 0;
    for (const auto& line : hunk.lines) {
      if (line.kind == '-') continue;
      bool code = at < after.code.size() && after.code[at++];
      if (line.kind != '+' || !code || line.text.find("#include") != std::string::npos) continue;
      for (auto& n : called_names(line.text)) {
        if (!before.contains(n)) push_unique(names, n);
      }
      std::string text = strip_comments(line.text);
      for (std::sregex_iterator it(text.begin(), text.end(), tortuga_name), end; it != end; ++it) push_unique(names, it->str());
    }
  }
  return names;
}

void add_call_sites(const AppliedPort& applied, const fs::path& pristine, PortingCost& report) {
  for (const auto& [path, diff] : applied.net_diffs) {
    if (!is_linux_file(path)) continue;
    NewCallSite* site = report.add_new_call_sites();
    site->set_file(path);
    *site->mutable_counts() = applied.net.at(path);
    FileText after = make_file_text(read_text_file(applied.tree.path() / path), path);
    for (auto& n : new_names(diff, after, calls_in(read_text_file(pristine / path)))) site->add_calls(n);
  }
}

void count_xenpv(const fs::path& pristine, PortingCost& report) {
  std::set<std::string> files;
  uint64_t sites = 0;
  for (const auto& e : fs::recursive_directory_iterator(pristine / "arch/x86")) {
    std::string rel = fs::relative(e.path(), pristine).string();
    if (!e.is_regular_file() || is_linux_xen_path(rel)) continue;
    std::string text = read_text_file(e.path());
    for (size_t at = text.find("X86_FEATURE_XENPV"); at != std::string::npos; at = text.find("X86_FEATURE_XENPV", at + 1)) {
      ++sites;
      files.insert(rel);
    }
  }
  report.set_xenpv_sites(sites);
  report.set_xenpv_files(files.size());
}

}  // namespace

std::vector<std::string> assigned_hooks(std::string_view c_text) {
  std::vector<std::string> hooks;
  std::map<std::string, std::string> aliases;  // "ops" -> "pv_ops.cpu"
  for (auto& line : split_file_lines(c_text)) {
    std::string code = strip_comments(line);
    std::smatch m;
    if (std::regex_search(code, m, kOpsAlias)) aliases[m[1]] = m[2];
    if (std::regex_search(code, m, kTableAssign)) push_unique(hooks, m[1]);
    if (std::regex_search(code, m, kAliasAssign) && aliases.contains(m[1])) {
      push_unique(hooks, aliases[m[1]] + "." + m[2].str());
    }
  }
  return hooks;
}

std::vector<std::string> called_names(std::string_view line) {
  std::vector<std::string> names;
  std::string code = strip_comments(line);
  for (std::sregex_iterator it(code.begin(), code.end(), kCall), end; it != end; ++it) {
    std::string name = (*it)[1];
    if (!kKeywords.contains(name)) push_unique(names, name);
  }
  return names;
}

void find_hooks(const AppliedPort& applied, const fs::path& pristine, PortingCost& report) {
  add_reused(applied.tree.path(), report);
  add_call_sites(applied, pristine, report);
  count_xenpv(pristine, report);
}

}  // namespace tortuga::porting
