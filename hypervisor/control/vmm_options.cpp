#include "control/vmm_options.h"

#include <map>

#include <fmt/format.h>
#include <tortuga/event_channel.h>
#include <tortuga/vcpu.h>

#include "devices/device_spec.h"

namespace tortuga {
namespace {

void add_source_options(CLI::App& app, VmmOptions& o) {
  app.add_option("kernel,--kernel", o.config.kernel, "guest kernel (ELF with Tortuga notes)");
  app.add_option("--restore", o.restore_path,
                 "restore the domain saved in this image (ABI.md 21) instead of booting a kernel; "
                 "--name may rename it, --memory and --vcpus must match the image if given");
  app.add_option("--incoming-fd", o.incoming_fd,
                 "receive a live migration on this inherited, connected stream socket (MIGRATION.md) instead of "
                 "booting a kernel; --name may rename the domain")
      ->check(CLI::Range(0, 1 << 20));
}

void add_domain_options(CLI::App& app, VmmOptions& o) {
  app.add_option("--name", o.config.name, "domain name, used in messages")->capture_default_str();
  app.add_option("-m,--memory", o.config.memory_mib, "memory in MiB")->capture_default_str();
  app.add_option("--vcpus", o.config.vcpus, "number of vCPUs")->capture_default_str();
  app.add_option("--cmdline", o.config.cmdline, "kernel command line");
  app.add_option("--initramfs", o.config.initramfs, "initramfs image")->check(CLI::ExistingFile);
  app.add_option("--weight", o.limits.weight, "share of host CPU against other domains (cgroup cpu controller)")
      ->check(CLI::Range(TG_SCHED_WEIGHT_MIN, TG_SCHED_WEIGHT_MAX))
      ->capture_default_str();
  app.add_option("--cap", o.limits.cap, "at most this percent of one host CPU, 0 = no cap")
      ->check(CLI::Range(0, 100 * 1024))
      ->capture_default_str();
  app.add_option("--domid", o.config.domid, "the domain's id in its store (the toolstack's domain id)")
      ->check(CLI::Range(TG_DOMID_FIRST_GUEST, TG_DOMID_MAX_GUEST))
      ->capture_default_str();
}

void add_device_options(CLI::App& app, VmmOptions& o) {
  app.add_option("--disk", o.disks,
                 "raw disk image, repeatable: PATH[,ro][,uring][,vdev=xvdb] (read-only; host I/O through io_uring; "
                 "the disk's name, default xvda, xvdb, ... in order)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option(
         "--nic", o.nics,
         "network interface over a TAP the VMM creates, repeatable: TAP[,mac=xx:xx:xx:xx:xx:xx][,bridge=BR][,id=N] "
         "(vif ids default 0, 1, ... in order)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option("--restore-nic-tap", o.tap_renames,
                 "with --restore, repeatable: OLD=NEW puts the saved NIC on TAP OLD on TAP NEW instead "
                 "(default: a TAP of the saved name)")
      ->take_all()
      ->allow_extra_args(false);
}

void add_toolstack_options(CLI::App& app, VmmOptions& o) {
  app.add_flag("--stats", o.show_stats, "print exit counters on stderr when the domain ends");
  app.add_option("--trace-mmu", o.trace_mmu_path,
                 "write a line per single-entry page-table hypercall with the guest's call site to this file "
                 "(hypervisor/README.md, scripts/exit-profile.sh)");
  app.add_option("--control", o.control_path, "serve the toolstack's control channel on this Unix socket");
  app.add_option("--exit-record", o.exit_record_path, "write how the domain ended here (protobuf), atomically");
}

// --restore-nic-tap OLD=NEW, repeatable.
std::map<std::string, std::string> parse_tap_renames(const std::vector<std::string>& given) {
  std::map<std::string, std::string> out;
  for (const std::string& g : given) {
    size_t eq = g.find('=');
    if (eq == 0 || eq == std::string::npos || eq + 1 == g.size()) {
      throw DeviceSpecError(fmt::format("--restore-nic-tap wants OLD=NEW, not '{}'", g));
    }
    if (!out.emplace(g.substr(0, eq), g.substr(eq + 1)).second) {
      throw DeviceSpecError(fmt::format("--restore-nic-tap names {} twice", g.substr(0, eq)));
    }
  }
  return out;
}

}  // namespace

std::string VmmOptions::source_name() const {
  return incoming() ? "migration stream" : fmt::format("image {}", restore_path);
}

void add_vmm_options(CLI::App& app, VmmOptions& options) {
  add_source_options(app, options);
  add_domain_options(app, options);
  add_device_options(app, options);
  add_toolstack_options(app, options);
}

bool one_domain_source(const VmmOptions& o) {
  return int(o.restoring()) + int(!o.config.kernel.empty()) + int(o.incoming()) == 1;
}

void complete_vmm_options(const CLI::App& app, VmmOptions& o) {
  o.name_given = app.count("--name") > 0;
  o.memory_given = app.count("--memory") > 0;
  o.vcpus_given = app.count("--vcpus") > 0;
  o.restore.taps = parse_tap_renames(o.tap_renames);
  if (!o.tap_renames.empty() && !o.restoring() && !o.incoming()) {
    throw DeviceSpecError("--restore-nic-tap goes with --restore or --incoming-fd");
  }
  for (const std::string& d : o.disks) o.config.disks.push_back(parse_disk_option(d));
  for (const std::string& n : o.nics) o.config.nics.push_back(parse_nic_option(n));
  complete_device_specs(o.config.disks, o.config.nics);
  if (o.name_given) o.restore.name = o.config.name;
}

}  // namespace tortuga
