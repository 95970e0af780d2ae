// The whole measurement: load the port, extract what it needs of the
// pristine tree, apply it, and count it beside Linux's Xen and the paper.
#pragma once

#include "port_series.h"
#include "porting_cost.pb.h"

#include <filesystem>
#include <string>

namespace tortuga::porting {

struct MeasureOptions {
  std::filesystem::path tarball = "/usr/src/linux-source-6.1.tar.xz";
  PortInputs port;
  std::string linux_version = "6.1";  // VERSION.PATCHLEVEL the series is for
};

// Throws, naming what is wrong, on any bad input; never returns a partial count.
PortingCost measure(const MeasureOptions& options);

// The report from an already extracted pristine tree (what measure() does
// after extracting; tests call it on a small synthetic tree).
PortingCost measure_tree(const Port& port, const std::filesystem::path& pristine, std::string version);

}  // namespace tortuga::porting
