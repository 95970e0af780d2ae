// Walks the extracted pristine tree and counts whole files.
#include "linux_baseline.h"

#include "change_count.h"
#include "linux_source.h"

#include <fmt/format.h>

#include <stdexcept>

namespace tortuga::porting {
namespace fs = std::filesystem;
namespace {

bool is_x86_source(const fs::path& p) {
  auto ext = p.extension();
  return ext == ".c" || ext == ".h" || ext == ".S";
}

LineCounts whole_file(const fs::path& root, const fs::path& file) {
  std::string rel = fs::relative(file, root).string();
  return count_new_file(make_file_text(read_text_file(file), rel));
}

void count_xen_path(const fs::path& root, const fs::path& p, std::map<Category, LineCounts>& out) {
  auto add = [&](const fs::path& f) {
    add_counts(out[linux_xen_category(fs::relative(f, root).string())], whole_file(root, f));
  };
  if (fs::is_regular_file(p)) add(p);
  if (!fs::is_directory(p)) return;
  for (const auto& e : fs::recursive_directory_iterator(p)) {
    if (e.is_regular_file()) add(e.path());
  }
}

}  // namespace

X86Base count_x86_base(const fs::path& pristine) {
  X86Base base;
  if (!fs::is_directory(pristine / "arch/x86")) {
    throw std::runtime_error(fmt::format("{} has no arch/x86: not a Linux tree", pristine.string()));
  }
  for (const auto& e : fs::recursive_directory_iterator(pristine / "arch/x86")) {
    if (!e.is_regular_file() || !is_x86_source(e.path())) continue;
    LineCounts c = whole_file(pristine, e.path());
    ++base.files;
    base.lines += c.added();
    base.code_lines += c.code_added();
  }
  return base;
}

std::map<Category, LineCounts> count_linux_xen(const fs::path& pristine) {
  std::map<Category, LineCounts> out;
  for (auto p : linux_xen_paths()) count_xen_path(pristine, pristine / p, out);
  return out;
}

}  // namespace tortuga::porting
