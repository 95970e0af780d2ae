// What the pristine tree itself gives the table: the x86 code base (the
// denominator) and Linux 6.1's own Xen PV guest support, counted per
// category as if it were all added.
#pragma once

#include "category.h"
#include "porting_cost.pb.h"

#include <filesystem>
#include <map>

namespace tortuga::porting {

struct X86Base {
  uint64_t files = 0, lines = 0, code_lines = 0;
};

// The .c, .h and .S files under arch/x86 of `pristine`.
X86Base count_x86_base(const std::filesystem::path& pristine);

// Every file under linux_xen_paths() in `pristine`, by linux_xen_category().
std::map<Category, LineCounts> count_linux_xen(const std::filesystem::path& pristine);

}  // namespace tortuga::porting
