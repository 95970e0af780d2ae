// Categorisation by path. Build glue is decided first (a driver's Kconfig is
// glue, not driver), then the interface headers, the drivers, and arch/.
#include "category.h"

namespace tortuga::porting {
namespace {

std::string_view base_name(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool is_build_glue(std::string_view path) {
  std::string_view name = base_name(path);
  return name.starts_with("Kconfig") || name.starts_with("Makefile") || name.starts_with("Kbuild");
}

bool under(std::string_view path, std::string_view dir) {
  return path.starts_with(dir) && (path.size() == dir.size() || path[dir.size()] == '/');
}

bool names_tortuga(std::string_view path) { return base_name(path).find("tortuga") != std::string_view::npos; }

}  // namespace

std::string_view category_name(Category c) {
  switch (c) {
    case Category::kArchIndependent: return "architecture-independent";
    case Category::kBlockDriver: return "virtual block driver";
    case Category::kNetDriver: return "virtual network driver";
    case Category::kOtherDrivers: return "other drivers";
    case Category::kArchX86: return "hypervisor-specific, arch/x86";
    case Category::kBuildGlue: return "build glue (Kconfig, Makefiles)";
    case Category::kAbiHeaders: return "ABI headers";
  }
  return "?";
}

std::optional<unsigned> paper_table2(Category c) {
  switch (c) {
    case Category::kArchIndependent: return 78;
    case Category::kNetDriver: return 484;
    case Category::kBlockDriver: return 1070;
    case Category::kArchX86: return 1363;
    default: return std::nullopt;
  }
}

Category port_category(std::string_view path) {
  if (is_build_glue(path)) return Category::kBuildGlue;
  if (under(path, "include/tortuga")) return Category::kAbiHeaders;
  if (under(path, "drivers/block") && names_tortuga(path)) return Category::kBlockDriver;
  if (under(path, "drivers/net") && names_tortuga(path)) return Category::kNetDriver;
  if (under(path, "drivers/tortuga") || (under(path, "drivers") && names_tortuga(path))) {
    return Category::kOtherDrivers;
  }
  if (under(path, "arch")) return Category::kArchX86;
  return Category::kArchIndependent;
}

const std::array<std::string_view, 7>& linux_xen_paths() {
  static const std::array<std::string_view, 7> paths = {
      "arch/x86/xen",     "arch/x86/include/asm/xen",   "drivers/xen",
      "include/xen",      "drivers/block/xen-blkfront.c", "drivers/net/xen-netfront.c",
      "drivers/tty/hvc/hvc_xen.c"};
  return paths;
}

bool is_linux_xen_path(std::string_view path) {
  for (auto p : linux_xen_paths()) {
    if (under(path, p)) return true;
  }
  return false;
}

Category linux_xen_category(std::string_view path) {
  if (is_build_glue(path)) return Category::kBuildGlue;
  if (under(path, "include/xen/interface")) return Category::kAbiHeaders;
  if (path == "drivers/block/xen-blkfront.c") return Category::kBlockDriver;
  if (path == "drivers/net/xen-netfront.c") return Category::kNetDriver;
  if (under(path, "arch")) return Category::kArchX86;
  return Category::kOtherDrivers;  // drivers/xen, include/xen outside interface/, hvc_xen.c
}

}  // namespace tortuga::porting
