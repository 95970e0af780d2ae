// The categories of Table 2 and which files fall in each, for our port and
// for Linux 6.1's Xen PV guest support.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tortuga::porting {

enum class Category {
  kArchIndependent,  // Linux outside arch/ and outside the guest's own driver directories
  kBlockDriver,      // the virtual block-device driver
  kNetDriver,        // the virtual network driver
  kOtherDrivers,     // the guest's other drivers (console, store, balloon, ...)
  kArchX86,          // hypervisor-specific code under arch/ (the paper's "non-driver")
  kBuildGlue,        // Kconfig, Makefiles, Kbuild
  kAbiHeaders,       // the hypervisor's interface headers, shared with it
};

inline constexpr std::array kAllCategories = {
    Category::kArchIndependent, Category::kBlockDriver, Category::kNetDriver, Category::kOtherDrivers,
    Category::kArchX86,         Category::kBuildGlue,   Category::kAbiHeaders};

std::string_view category_name(Category c);

// The paper's Table 2 (Linux 2.4) "lines modified or added" for a category, if it has that row.
std::optional<unsigned> paper_table2(Category c);
inline constexpr unsigned kPaperTotal = 2995;
inline constexpr double kPaperSharePercent = 1.36;

// A path of our port in the patched tree (e.g. "drivers/tortuga/store.c").
Category port_category(std::string_view path);

// The paths (directories or files, from the tree's top) that make up Linux
// 6.1's Xen PV guest support here.
const std::array<std::string_view, 7>& linux_xen_paths();

// Whether a path of the pristine tree is part of Linux's Xen PV guest support.
bool is_linux_xen_path(std::string_view path);

// A path of Linux's Xen PV guest support.
Category linux_xen_category(std::string_view path);

}  // namespace tortuga::porting
