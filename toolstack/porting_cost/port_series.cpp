// Loading and applying the port. The net change of a file that Linux already
// had is `diff -u` of the pristine and final copies (so lines a later patch
// rewrites count once); a file the port creates counts whole as added.
#include "port_series.h"

#include "process.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tortuga::porting {
namespace fs = std::filesystem;
namespace {

// Non-blank lines that do not start with '#', split into words.
std::vector<std::vector<std::string>> read_list(const fs::path& file) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_text_file(file));
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string w; words >> w;) row.push_back(w);
    if (!row.empty() && !row[0].starts_with('#')) rows.push_back(std::move(row));
  }
  return rows;
}

Patch load_patch(const fs::path& dir, const std::string& name) {
  fs::path file = dir / name;
  if (!fs::is_regular_file(file)) throw std::runtime_error(fmt::format("the series names {}, which is missing", file.string()));
  Patch p{name, file, parse_unified_diff(read_text_file(file), name, 1)};
  if (p.files.empty()) throw std::runtime_error(fmt::format("{} holds no diff", file.string()));
  return p;
}

std::vector<CopiedFile> load_drivers(const PortInputs& in) {
  std::vector<CopiedFile> drivers;
  for (const auto& row : read_list(in.kernel_paths)) {
    if (row.size() != 2) throw std::runtime_error(fmt::format("{}: a line is not 'SOURCE TREE-PATH'", in.kernel_paths.string()));
    if (!fs::is_regular_file(in.drivers_dir / row[0])) {
      throw std::runtime_error(fmt::format("{} names {}, which is missing", in.kernel_paths.string(), row[0]));
    }
    drivers.push_back({row[1], in.drivers_dir / row[0]});
  }
  return drivers;
}

// Every .h under the ABI directory, as build.sh's `cp -r` places it.
std::vector<CopiedFile> load_abi_headers(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(fmt::format("{} is missing", dir.string()));
  std::vector<CopiedFile> headers;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".h") {
      headers.push_back({(fs::path("include/tortuga") / fs::relative(e.path(), dir)).string(), e.path()});
    }
  }
  std::sort(headers.begin(), headers.end(), [](auto& a, auto& b) { return a.tree_path < b.tree_path; });
  return headers;
}

FileText text_if_present(const fs::path& root, const std::string& path) {
  if (path.empty() || !fs::exists(root / path)) return {};
  return make_file_text(read_text_file(root / path), path);
}

void run_patch(const Patch& p, const fs::path& tree) {
  ProcessResult r = run_process({"patch", "-d", tree.string(), "-p1", "--forward", "--batch", "--no-backup-if-mismatch",
                                 "--reject-file=-", "-i", fs::absolute(p.file).string()});
  if (r.exit_status != 0) {
    throw std::runtime_error(fmt::format("patch {} does not apply to the pristine tree after the patches before it "
                                         "(patch(1) says):\n{}", p.name, r.output));
  }
}

PatchRow apply_one(const Patch& p, const fs::path& tree) {
  std::map<std::string, FileText> before;
  for (const auto& f : p.files) before[f.old_path] = text_if_present(tree, f.old_path);
  run_patch(p, tree);
  PatchRow row;
  row.set_patch(p.name);
  for (const auto& f : p.files) {
    add_counts(*row.mutable_counts(), count_file_diff(f, before[f.old_path], text_if_present(tree, f.new_path)));
    row.add_files(f.path());
  }
  return row;
}

void copy_in(const std::vector<CopiedFile>& files, const fs::path& tree) {
  for (const auto& f : files) write_text_file(tree / f.tree_path, read_text_file(f.source));
}

// The net diff of one file Linux had: diff exits 0 (same), 1 (differ), 2 (trouble).
void count_pristine_file(const std::string& path, const fs::path& pristine, const fs::path& tree, AppliedPort& out) {
  ProcessResult r = run_process({"diff", "-uN", (pristine / path).string(), (tree / path).string()});
  if (r.exit_status == 0) return;
  if (r.exit_status != 1) throw std::runtime_error(fmt::format("diff of {} failed:\n{}", path, r.output));
  std::vector<FileDiff> diffs = parse_unified_diff(r.output, "diff -u " + path, 0);
  FileDiff diff = diffs.at(0);
  diff.old_path = diff.new_path = path;
  out.net[path] = count_file_diff(diff, text_if_present(pristine, path), text_if_present(tree, path));
  out.net_diffs[path] = std::move(diff);
}

std::set<std::string> final_paths(const Port& port) {
  std::set<std::string> paths;
  for (const auto& p : port.patches) {
    for (const auto& f : p.files) paths.insert(f.path());
  }
  for (const auto& f : port.drivers) paths.insert(f.tree_path);
  for (const auto& f : port.abi_headers) paths.insert(f.tree_path);
  return paths;
}

}  // namespace

PortInputs PortInputs::from_repo(const fs::path& repo) {
  return {repo / "guest-linux-patches/series", repo / "guest-linux-patches/patches", repo / "frontend-drivers",
          repo / "frontend-drivers/kernel-paths", repo / "hypercall-abi/include/tortuga"};
}

Port load_port(const PortInputs& in) {
  if (!fs::is_regular_file(in.series)) throw std::runtime_error(fmt::format("{} is missing", in.series.string()));
  Port port;
  for (const auto& row : read_list(in.series)) port.patches.push_back(load_patch(in.patches_dir, row[0]));
  if (port.patches.empty()) throw std::runtime_error(fmt::format("{} names no patch", in.series.string()));
  port.drivers = load_drivers(in);
  port.abi_headers = load_abi_headers(in.abi_dir);
  return port;
}

std::vector<std::string> pristine_files_needed(const Port& port) {
  std::set<std::string> created, needed;
  for (const auto& p : port.patches) {
    for (const auto& f : p.files) {
      if (f.old_path.empty()) created.insert(f.new_path);
      else if (!created.contains(f.old_path)) needed.insert(f.old_path);
    }
  }
  return {needed.begin(), needed.end()};
}

AppliedPort apply_port(const Port& port, const fs::path& pristine) {
  AppliedPort out{TempDir("tortuga-porting-tree-"), {}, {}, {}};
  std::vector<std::string> needed = pristine_files_needed(port);
  for (const auto& path : needed) {
    if (!fs::is_regular_file(pristine / path)) {
      throw std::runtime_error(fmt::format("the series changes {}, which the pristine tree does not have", path));
    }
    write_text_file(out.tree.path() / path, read_text_file(pristine / path));
  }
  for (const auto& p : port.patches) out.patches.push_back(apply_one(p, out.tree.path()));
  copy_in(port.drivers, out.tree.path());
  copy_in(port.abi_headers, out.tree.path());
  std::set<std::string> had(needed.begin(), needed.end());
  for (const auto& path : final_paths(port)) {
    if (had.contains(path)) count_pristine_file(path, pristine, out.tree.path(), out);
    else if (fs::exists(out.tree.path() / path)) out.net[path] = count_new_file(text_if_present(out.tree.path(), path));
  }
  return out;
}

}  // namespace tortuga::porting
