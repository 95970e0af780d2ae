// Which of Linux's existing hooks the port reuses, and what it had to add:
// the members of Linux's hook tables (pv_ops, x86_init, x86_platform, ...)
// that arch/x86/tortuga assigns, the XENPV paths it takes, and the calls the
// series adds to Linux's own files that those files never made before.
#pragma once

#include "port_series.h"
#include "porting_cost.pb.h"

#include <filesystem>

namespace tortuga::porting {

// Fills reused_hooks, new_call_sites, xenpv_sites, xenpv_files and
// port_takes_xenpv_paths of `report`.
void find_hooks(const AppliedPort& applied, const std::filesystem::path& pristine, PortingCost& report);

// The hook-table members a C file assigns ("pv_ops.irq.save_fl"), in order,
// once each; `ops->x = ` counts when the file set `ops = &pv_ops.y` first.
std::vector<std::string> assigned_hooks(std::string_view c_text);

// The functions and macros a line calls ("name(" outside comments and
// literals), without C's keywords.
std::vector<std::string> called_names(std::string_view line);

}  // namespace tortuga::porting
