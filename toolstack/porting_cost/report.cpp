// Text report: one fmt line per row, definitions printed with the figures so
// that the table can be read without the source.
#include "report.h"

#include "change_count.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <map>

namespace tortuga::porting {
namespace {

constexpr std::string_view kRowFormat = "{:<34}{:>8}{:>10}{:>8}   {:>9}{:>9}   {:>8}\n";

std::string paper_cell(const CategoryRow& row) {
  return row.paper_has_row() ? fmt::format("{}", row.paper_xen_linux24()) : "-";
}

std::string table_header(const PortingCost& r) {
  std::string out = fmt::format(
      "What porting Linux {} to Tortuga cost, as Table 2 of \"Xen and the Art of Virtualization\" (SOSP 2003)\n\n",
      r.linux_version());
  out += fmt::format("{:<34}{:>26}   {:>18}   {:>8}\n", "", "Tortuga port", "Linux 6.1 Xen PV", "Xen 2.4");
  out += fmt::format(kRowFormat, "category", "added", "modified", "code", "lines", "code", "(paper)");
  return out;
}

std::string row_line(const std::string& name, const LineCounts& port, const LineCounts& xen, const std::string& paper) {
  return fmt::format(kRowFormat, name, port.added(), port.modified(), changed_code_lines(port), changed_lines(xen),
                     changed_code_lines(xen), paper);
}

std::string table(const PortingCost& r) {
  std::string out = table_header(r);
  for (const auto& row : r.rows()) out += row_line(row.category(), row.port(), row.linux_xen(), paper_cell(row));
  out += row_line("total", r.port_total(), r.linux_xen_total(), fmt::format("{}", r.paper_total()));
  out += fmt::format("{:<34}{:>18.2f}%{:>7.2f}%   {:>8.2f}%{:>8.2f}%   {:>7.2f}%\n", "share of the x86 code base",
                     r.port_share_percent(), r.port_code_share_percent(), r.linux_xen_share_percent(),
                     r.linux_xen_code_share_percent(), r.paper_share_percent());
  return out;
}

std::string definitions(const PortingCost& r) {
  uint64_t without_abi = changed_lines(r.port_total()) - changed_lines(r.abi_headers());
  return fmt::format(
      "\nx86 code base (the denominator): the {} .c, .h and .S files under arch/x86 of the pristine tree, {} lines, "
      "{} code lines.\n"
      "added / modified: the port's net change against the pristine tree (a file Linux had: diff -u of the pristine\n"
      "  and final copies; a file the port creates: every line added). Within a hunk, each run of -/+ lines pairs\n"
      "  min(removed, added) as modified; the other + lines are added. {} removed lines are left out (not a cost).\n"
      "code: added + modified lines that are not blank and not comment-only (C: /* */ across lines and //;\n"
      "  Kconfig and Makefiles: #). The share is added + modified over the denominator (code: over its code lines).\n"
      "ABI headers: hypercall-abi/include/tortuga as build.sh copies it to include/tortuga ({} lines), shared with the\n"
      "  VMM; counted in the total (without them: {} lines, {:.2f}%).\n"
      "other drivers: frontend-drivers/ where kernel-paths places them ({} lines) and drivers/tortuga's glue.\n"
      "Linux 6.1 Xen PV: every line of {}; Kconfig and Makefiles there as build glue, include/xen/interface as ABI\n"
      "  headers, the rest of include/xen, drivers/xen and hvc_xen.c as other drivers (drivers/xen also holds dom0\n"
      "  and backend pieces: an upper bound). Xen's hooks in Linux's common code are not counted.\n"
      "Xen 2.4 (paper): \"lines modified or added\"; its Xen-specific (non-driver) row is the arch/x86 row; it has no\n"
      "  rows for other drivers, build glue or ABI headers.\n",
      r.x86_files(), r.x86_lines(), r.x86_code_lines(), r.port_total().removed(), changed_lines(r.abi_headers()),
      without_abi, r.x86_lines() ? 100.0 * without_abi / r.x86_lines() : 0.0, changed_lines(r.frontend_drivers()),
      fmt::join(r.linux_xen_paths(), ", "));
}

std::string patch_line(const std::string& name, const LineCounts& c) {
  return fmt::format("{:<66.66}{:>7}{:>10}{:>9}{:>7}\n", name, c.added(), c.modified(), c.removed(),
                     changed_code_lines(c));
}

std::string per_patch(const PortingCost& r) {
  std::string out = fmt::format("\nPer patch (each counted from its own hunks):\n{:<66}{:>7}{:>10}{:>9}{:>7}\n", "patch",
                                "added", "modified", "removed", "code");
  for (const auto& p : r.patches()) out += patch_line(p.patch(), p.counts());
  out += patch_line("sum of the patches", r.patches_sum());
  out += fmt::format(
      "The sum differs from the port's total by the lines a later patch rewrote (counted in each patch, once in the\n"
      "net), and the frontend drivers ({} lines) and ABI headers ({} lines) are outside the patches.\n",
      changed_lines(r.frontend_drivers()), changed_lines(r.abi_headers()));
  return out;
}

std::string reused_hooks(const PortingCost& r) {
  std::map<std::string, std::vector<std::string>> by_table;  // "pv_ops.irq" -> {"save_fl", ...}
  for (const auto& h : r.reused_hooks()) {
    size_t dot = h.hook().rfind('.');
    std::string table = dot == std::string::npos ? "variables" : h.hook().substr(0, dot);
    by_table[table].push_back(h.hook().substr(dot == std::string::npos ? 0 : dot + 1));
  }
  std::string out = fmt::format("\nLinux's hooks the port reuses: {} members of its hook tables, assigned in "
                                "arch/x86/tortuga/*.c:\n", r.reused_hooks_size());
  for (const auto& [table, members] : by_table) out += fmt::format("  {}: {}\n", table, fmt::join(members, ", "));
  if (r.port_takes_xenpv_paths()) {
    out += fmt::format("  X86_FEATURE_XENPV, forced on: the {} tests of it in {} files of arch/x86 outside "
                       "arch/x86/xen take the PV path for Tortuga too.\n", r.xenpv_sites(), r.xenpv_files());
  }
  return out;
}

std::string new_call_sites(const PortingCost& r) {
  std::string out = fmt::format("What the series had to add to Linux's own files ({} files; calls the pristine file "
                                "never made, and names that say tortuga):\n", r.new_call_sites_size());
  for (const auto& s : r.new_call_sites()) {
    out += fmt::format("  {} (+{} ~{}): {}\n", s.file(), s.counts().added(), s.counts().modified(),
                       s.calls().empty() ? "none (a changed line)" : fmt::format("{}", fmt::join(s.calls(), ", ")));
  }
  return out;
}

}  // namespace

std::string report_text(const PortingCost& r) {
  return table(r) + definitions(r) + per_patch(r) + reused_hooks(r) + new_call_sites(r);
}

std::string report_json(const PortingCost& r) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  (void)google::protobuf::util::MessageToJsonString(r, &out, options);
  return out;
}

std::string chart_data(const PortingCost& r) {
  std::string out = "# category\tTortuga port\tLinux 6.1 Xen PV\tXen, Linux 2.4 (paper)\n";
  for (const auto& row : r.rows()) {
    out += fmt::format("\"{}\"\t{}\t{}\t{}\n", row.category(), changed_lines(row.port()), changed_lines(row.linux_xen()),
                       row.paper_xen_linux24());
  }
  return out;
}

}  // namespace tortuga::porting
