// The ways PortingCost is shown: the table for people, protobuf's JSON
// mapping for scripts, and the data file the chart is drawn from.
#pragma once

#include "porting_cost.pb.h"

#include <string>

namespace tortuga::porting {

// The three-column table, its definitions, the per-patch breakdown and the hooks.
std::string report_text(const PortingCost& r);

std::string report_json(const PortingCost& r);

// One line per category: name, port, Linux 6.1 Xen, paper (lines modified or
// added; the paper's missing rows as 0), for gnuplot (porting_cost_chart.gp).
std::string chart_data(const PortingCost& r);

}  // namespace tortuga::porting
