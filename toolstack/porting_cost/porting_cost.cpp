// Assembles the PortingCost message from the port's net counts, Linux's Xen
// files, the x86 denominator, the per-patch rows and the hook analysis.
#include "porting_cost.h"

#include "category.h"
#include "hooks.h"
#include "linux_baseline.h"
#include "linux_source.h"

namespace tortuga::porting {
namespace fs = std::filesystem;
namespace {

double percent(uint64_t part, uint64_t whole) { return whole == 0 ? 0.0 : 100.0 * part / whole; }

void fill_rows(const AppliedPort& applied, const std::map<Category, LineCounts>& xen, PortingCost& r) {
  for (Category c : kAllCategories) {
    CategoryRow* row = r.add_rows();
    row->set_category(std::string(category_name(c)));
    *row->mutable_linux_xen() = xen.contains(c) ? xen.at(c) : LineCounts();
    row->set_paper_has_row(paper_table2(c).has_value());
    row->set_paper_xen_linux24(paper_table2(c).value_or(0));
    for (const auto& [path, counts] : applied.net) {
      if (port_category(path) == c) add_counts(*row->mutable_port(), counts);
    }
    add_counts(*r.mutable_port_total(), row->port());
    add_counts(*r.mutable_linux_xen_total(), row->linux_xen());
  }
}

void fill_shares(const X86Base& base, PortingCost& r) {
  r.set_x86_files(base.files);
  r.set_x86_lines(base.lines);
  r.set_x86_code_lines(base.code_lines);
  r.set_paper_total(kPaperTotal);
  r.set_paper_share_percent(kPaperSharePercent);
  r.set_port_share_percent(percent(changed_lines(r.port_total()), base.lines));
  r.set_port_code_share_percent(percent(changed_code_lines(r.port_total()), base.code_lines));
  r.set_linux_xen_share_percent(percent(changed_lines(r.linux_xen_total()), base.lines));
  r.set_linux_xen_code_share_percent(percent(changed_code_lines(r.linux_xen_total()), base.code_lines));
}

void fill_copied(const Port& port, const AppliedPort& applied, PortingCost& r) {
  for (const auto& f : port.drivers) add_counts(*r.mutable_frontend_drivers(), applied.net.at(f.tree_path));
  for (const auto& f : port.abi_headers) add_counts(*r.mutable_abi_headers(), applied.net.at(f.tree_path));
}

std::vector<std::string> members_needed(const Port& port) {
  std::vector<std::string> members = pristine_files_needed(port);
  members.push_back("arch/x86");
  for (auto p : linux_xen_paths()) members.emplace_back(p);
  return members;
}

}  // namespace

PortingCost measure_tree(const Port& port, const fs::path& pristine, std::string version) {
  AppliedPort applied = apply_port(port, pristine);
  PortingCost r;
  r.set_linux_version(std::move(version));
  fill_rows(applied, count_linux_xen(pristine), r);
  fill_shares(count_x86_base(pristine), r);
  fill_copied(port, applied, r);
  for (auto& row : applied.patches) {
    add_counts(*r.mutable_patches_sum(), row.counts());
    *r.add_patches() = std::move(row);
  }
  for (auto p : linux_xen_paths()) r.add_linux_xen_paths(std::string(p));
  find_hooks(applied, pristine, r);
  return r;
}

PortingCost measure(const MeasureOptions& options) {
  Port port = load_port(options.port);
  LinuxSource src = extract_linux_source(options.tarball, members_needed(port), options.linux_version);
  PortingCost r = measure_tree(port, src.root(), src.version);
  r.set_tarball(options.tarball.string());
  return r;
}

}  // namespace tortuga::porting
