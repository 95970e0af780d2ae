// tortuga-vmm's command line: what it is asked to run (a kernel, a saved
// image or an incoming migration) and how. Parsing only; nothing here
// opens a file or touches KVM.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "domain/domain.h"
#include "kvm/cpu_limits.h"

namespace tortuga {

struct VmmOptions {
  DomainConfig config;  // kernel, name, memory, vCPUs, devices...
  CpuLimits limits;
  std::string restore_path;                           // --restore
  int incoming_fd = -1;                               // --incoming-fd
  std::vector<std::string> disks, nics, tap_renames;  // as given, parsed by complete_vmm_options
  std::string control_path, exit_record_path;
  std::string trace_mmu_path;  // --trace-mmu; empty: no trace
  bool show_stats = false;
  bool name_given = false, memory_given = false, vcpus_given = false;
  RestoreOptions restore;  // filled by complete_vmm_options

  bool incoming() const { return incoming_fd >= 0; }
  bool restoring() const { return !restore_path.empty(); }
  // What a refusal of a restored or received domain names.
  std::string source_name() const;
};

// Declares every option on `app`, bound to `options`.
void add_vmm_options(CLI::App& app, VmmOptions& options);

// After CLI11 parsed: which options were given, exactly one of kernel,
// --restore and --incoming-fd (false otherwise), and the device and TAP
// options parsed (throws DeviceSpecError naming the bad one).
bool one_domain_source(const VmmOptions& options);
void complete_vmm_options(const CLI::App& app, VmmOptions& options);

}  // namespace tortuga
