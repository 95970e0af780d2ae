// tortuga-porting-cost: what porting Linux to Tortuga cost, as Table 2 of the
// Xen paper, beside Linux 6.1's Xen PV guest and the paper's Linux 2.4 port.
#include "porting_cost.h"
#include "linux_source.h"
#include "report.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <exception>

namespace {

namespace pc = tortuga::porting;

struct Options {
  pc::MeasureOptions measure;
  std::string repo = ".";
  bool json = false;
  std::string chart_data;
};

void add_options(CLI::App& app, Options& o) {
  app.add_option("--tarball", o.measure.tarball, "Debian's linux-source tarball")->capture_default_str();
  app.add_option("--repo", o.repo, "the Tortuga repository (series, patches, frontend-drivers, ABI headers)")
      ->capture_default_str();
  app.add_option("--series", o.measure.port.series, "the series file (default: REPO/guest-linux-patches/series)");
  app.add_option("--patches", o.measure.port.patches_dir, "the patches' directory (default: beside the series)");
  app.add_flag("--json", o.json, "print the PortingCost message in protobuf's JSON mapping");
  app.add_option("--chart-data", o.chart_data, "also write the categories as a gnuplot data file");
}

// Paths not given on the command line come from the repository.
void fill_defaults(Options& o) {
  pc::PortInputs repo = pc::PortInputs::from_repo(o.repo);
  auto& port = o.measure.port;
  if (port.series.empty()) port.series = repo.series;
  if (port.patches_dir.empty()) port.patches_dir = port.series.parent_path() / "patches";
  port.drivers_dir = repo.drivers_dir;
  port.kernel_paths = repo.kernel_paths;
  port.abi_dir = repo.abi_dir;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"What porting Linux to Tortuga cost: lines added and modified by category (the Xen paper's Table 2)"};
  Options o;
  add_options(app, o);
  CLI11_PARSE(app, argc, argv);
  try {
    fill_defaults(o);
    pc::PortingCost r = pc::measure(o.measure);
    if (!o.chart_data.empty()) pc::write_text_file(o.chart_data, pc::chart_data(r));
    fmt::print("{}", o.json ? pc::report_json(r) : pc::report_text(r));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga-porting-cost: {}\n", e.what());
    return 1;
  }
}
