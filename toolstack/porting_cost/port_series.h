// Our port as build.sh assembles it: the patch series, the frontend drivers
// placed where kernel-paths says, and the ABI headers copied to
// include/tortuga. Applying it to copies of just the pristine files it
// touches yields each patch's own counts and the port's net change per file.
#pragma once

#include "change_count.h"
#include "linux_source.h"
#include "porting_cost.pb.h"
#include "unified_diff.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace tortuga::porting {

// Where the port's pieces are (all from the repository by default).
struct PortInputs {
  std::filesystem::path series;        // guest-linux-patches/series
  std::filesystem::path patches_dir;   // guest-linux-patches/patches
  std::filesystem::path drivers_dir;   // frontend-drivers
  std::filesystem::path kernel_paths;  // frontend-drivers/kernel-paths
  std::filesystem::path abi_dir;       // hypercall-abi/include/tortuga
  static PortInputs from_repo(const std::filesystem::path& repo);
};

struct Patch {
  std::string name;
  std::filesystem::path file;
  std::vector<FileDiff> files;
};

// A file the port copies into the tree whole.
struct CopiedFile {
  std::string tree_path;  // e.g. "drivers/tortuga/store.c"
  std::filesystem::path source;
};

struct Port {
  std::vector<Patch> patches;
  std::vector<CopiedFile> drivers;
  std::vector<CopiedFile> abi_headers;
};

// Reads the series (comments and blank lines skipped), parses each patch,
// and lists the drivers and headers. Throws naming a missing or bad file.
Port load_port(const PortInputs& in);

// The pristine files the series changes: those a patch touches before any
// patch creates them.
std::vector<std::string> pristine_files_needed(const Port& port);

struct AppliedPort {
  TempDir tree;                               // the touched files after the series, drivers and headers
  std::vector<PatchRow> patches;              // each patch counted from its hunks
  std::map<std::string, FileDiff> net_diffs;  // per changed file that existed in the pristine tree
  std::map<std::string, LineCounts> net;      // per changed file: the net change against pristine
};

// Applies the series with patch(1) to copies of the needed files of
// `pristine` (a patch that does not apply is an error naming it, with
// patch's output), copies the drivers and headers in, and counts.
AppliedPort apply_port(const Port& port, const std::filesystem::path& pristine);

}  // namespace tortuga::porting
