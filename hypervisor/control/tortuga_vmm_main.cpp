// tortuga-vmm: runs one domain from its command line, prints the guest's
// console on stdout, and exits with a status that says how the domain ended
// (0 poweroff; see DomainExit for the rest), after one line on stderr.
#include <fcntl.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>

#include <cstdio>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <tortuga/event_channel.h>
#include <tortuga/vcpu.h>

#include "atomic_file.h"
#include "control/control_channel.h"
#include "kvm/cpu_limits.h"
#include "devices/device_spec.h"
#include "domain/domain.h"
#include "image/domain_image.h"
#include "domain/kernel_image.h"
#include "migration/migration_receiver.h"
#include "migration/switch_over.h"
#include "block_image.h"
#include "tap_device.h"

namespace {

using namespace tortuga;

// Waits for SIGINT/SIGTERM on its own thread and destroys the domain.
void watch_termination_signals(Domain& domain) {
  std::thread([&domain] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    int sig = 0;
    if (sigwait(&set, &sig) == 0) domain.destroy(fmt::format("signal {}", sig == SIGINT ? "SIGINT" : "SIGTERM"));
  }).detach();
}

// The record a supervising daemon reads after we are gone (it may not be
// our parent any more after it restarted, so it cannot see our status).
void write_exit_record(const std::string& path, int code, const std::string& reason, const ExitStats& stats,
                       uint64_t uptime_ns, const api::MigrationProgress& migration) {
  if (path.empty()) return;
  api::VmmExitRecord record;
  record.set_exit_code(code);
  record.set_reason(reason);
  *record.mutable_stats() = to_domain_stats(stats, uptime_ns);
  if (migration.phase() != api::MigrationProgress::NONE) *record.mutable_migration() = migration;
  try {
    tortuga::write_file_atomically(path, record.SerializeAsString());
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga-vmm: cannot write the exit record: {}\n", e.what());
  }
}

// One line on stderr, the exit record, and the exit status.
int finish(const std::string& name, const std::string& record_path, DomainExit exit, const std::string& reason,
           const ExitStats& stats = {}, uint64_t uptime_ns = 0, const api::MigrationProgress& migration = {}) {
  fmt::print(stderr, "tortuga-vmm: {}: {}\n", name, reason);
  write_exit_record(record_path, static_cast<int>(exit), reason, stats, uptime_ns, migration);
  return static_cast<int>(exit);
}

// A domain from a saved image. memory_mib and vcpus, when not 0, are what
// the command line asked for: they must be the image's.
std::unique_ptr<Domain> restore_domain(const std::string& path, Console& console, const RestoreOptions& options,
                                       uint64_t memory_mib, uint32_t vcpus) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw ImageError(fmt::format("cannot open it: {}", std::strerror(errno)));
  ImageSource source(fd.get());
  DomainConfig saved = source.config();
  if ((memory_mib != 0 && memory_mib != saved.memory_mib) || (vcpus != 0 && vcpus != saved.vcpus)) {
    throw ImageError(fmt::format("it holds {} MiB and {} vCPUs, not what the command line asks for",
                                 saved.memory_mib, saved.vcpus));
  }
  return std::make_unique<Domain>(source, console, options);
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

// The inherited descriptor of --incoming-fd: open, a stream socket, and
// not passed on to anything we might start.
int incoming_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) throw ImageError(fmt::format("descriptor {} is not open", fd));
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    throw ImageError(fmt::format("descriptor {} is not a stream socket", fd));
  }
  // Reads wait (with the receiver's timeouts), whatever mode the daemon's
  // event loop left on the connection.
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    throw ImageError(fmt::format("descriptor {}: cannot make it blocking", fd));
  }
  return fd;
}

// The destination of a live migration: the domain built from the stream.
// A failure is one exception; the source is told why when it still listens.
std::unique_ptr<Domain> receive_domain(MigrationReceiver& receiver, Console& console, const RestoreOptions& options) {
  try {
    return receiver.receive(console, options);
  } catch (const std::exception& e) {
    receiver.refuse(e.what());
    throw;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tortuga-vmm: run one Tortuga domain (a paravirtualized guest kernel on KVM)"};
  DomainConfig config;
  bool show_stats = false;
  app.add_option("kernel,--kernel", config.kernel, "guest kernel (ELF with Tortuga notes)");
  std::string restore_path;
  app.add_option("--restore", restore_path,
                 "restore the domain saved in this image (ABI.md 21) instead of booting a kernel; "
                 "--name may rename it, --memory and --vcpus must match the image if given");
  int incoming_fd = -1;
  app.add_option("--incoming-fd", incoming_fd,
                 "receive a live migration on this inherited, connected stream socket (MIGRATION.md) instead of "
                 "booting a kernel; --name may rename the domain")
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--name", config.name, "domain name, used in messages")->capture_default_str();
  app.add_option("-m,--memory", config.memory_mib, "memory in MiB")->capture_default_str();
  app.add_option("--vcpus", config.vcpus, "number of vCPUs")->capture_default_str();
  app.add_option("--cmdline", config.cmdline, "kernel command line");
  app.add_option("--initramfs", config.initramfs, "initramfs image")->check(CLI::ExistingFile);
  CpuLimits limits;
  app.add_option("--weight", limits.weight, "share of host CPU against other domains (cgroup cpu controller)")
      ->check(CLI::Range(TG_SCHED_WEIGHT_MIN, TG_SCHED_WEIGHT_MAX))
      ->capture_default_str();
  app.add_option("--cap", limits.cap, "at most this percent of one host CPU, 0 = no cap")
      ->check(CLI::Range(0, 100 * 1024))
      ->capture_default_str();
  app.add_option("--domid", config.domid, "the domain's id in its store (the toolstack's domain id)")
      ->check(CLI::Range(TG_DOMID_FIRST_GUEST, TG_DOMID_MAX_GUEST))
      ->capture_default_str();
  std::vector<std::string> disks, nics;
  app.add_option("--disk", disks,
                 "raw disk image, repeatable: PATH[,ro][,uring][,vdev=xvdb] (read-only; host I/O through io_uring; "
                 "the disk's name, default xvda, xvdb, ... in order)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_option("--nic", nics,
                 "network interface over a TAP the VMM creates, repeatable: TAP[,mac=xx:xx:xx:xx:xx:xx][,bridge=BR][,id=N] "
                 "(vif ids default 0, 1, ... in order)")
      ->take_all()
      ->allow_extra_args(false);
  std::vector<std::string> tap_renames;
  app.add_option("--restore-nic-tap", tap_renames,
                 "with --restore, repeatable: OLD=NEW puts the saved NIC on TAP OLD on TAP NEW instead "
                 "(default: a TAP of the saved name)")
      ->take_all()
      ->allow_extra_args(false);
  app.add_flag("--stats", show_stats, "print exit counters on stderr when the domain ends");
  std::string control_path, exit_record_path;
  app.add_option("--control", control_path, "serve the toolstack's control channel on this Unix socket");
  app.add_option("--exit-record", exit_record_path, "write how the domain ended here (protobuf), atomically");
  CLI11_PARSE(app, argc, argv);
  bool incoming = incoming_fd >= 0;
  if (int(!restore_path.empty()) + int(!config.kernel.empty()) + int(incoming) != 1) {
    fmt::print(stderr, "tortuga-vmm: give a kernel, --restore IMAGE or --incoming-fd N (one of them)\n");
    return static_cast<int>(DomainExit::kVmmError);
  }
  // What a refusal names: the image or the stream.
  std::string source_name = incoming ? "migration stream" : fmt::format("image {}", restore_path);
  // A peer that goes away is an error on the socket, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  bool name_given = app.count("--name") > 0;
  bool memory_given = app.count("--memory") > 0, vcpus_given = app.count("--vcpus") > 0;
  RestoreOptions restore_options;
  try {
    restore_options.taps = parse_tap_renames(tap_renames);
    if (!tap_renames.empty() && restore_path.empty() && !incoming) {
      throw DeviceSpecError("--restore-nic-tap goes with --restore or --incoming-fd");
    }
    for (const std::string& d : disks) config.disks.push_back(parse_disk_option(d));
    for (const std::string& n : nics) config.nics.push_back(parse_nic_option(n));
    complete_device_specs(config.disks, config.nics);
  } catch (const DeviceSpecError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError, fmt::format("refused: {}", e.what()));
  }

  // Block termination signals in every thread; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Console console = Console::stdio();
  DomainResult result;
  ExitStats stats;
  uint64_t uptime_ns = 0;
  api::MigrationProgress migration;  // for the exit record: how the last migration out went
  try {
    // Only a domain that asks for other than the defaults needs a cgroup
    // (and the permission to make one).
    std::optional<CpuLimitsCgroup> cgroup;
    if (!limits.is_default()) cgroup.emplace(config.name, limits);
    std::unique_ptr<Domain> made;
    std::optional<MigrationReceiver> receiver;
    if (incoming) {
      if (!config.disks.empty() || !config.nics.empty()) {
        throw RestoreError("--disk and --nic cannot be given with --incoming-fd (the stream holds the domain's devices)");
      }
      receiver.emplace(incoming_socket(incoming_fd));
      if (name_given) restore_options.name = config.name;
      made = receive_domain(*receiver, console, restore_options);
      config.name = made->config().name;
    } else if (restore_path.empty()) {
      made = std::make_unique<Domain>(config, console);
    } else {
      if (!config.disks.empty() || !config.nics.empty()) {
        throw RestoreError("--disk and --nic cannot be given with --restore (the image holds the domain's devices)");
      }
      if (name_given) restore_options.name = config.name;
      made = restore_domain(restore_path, console, restore_options, memory_given ? config.memory_mib : 0,
                            vcpus_given ? config.vcpus : 0);
      config.name = made->config().name;
    }
    Domain& domain = *made;
    watch_termination_signals(domain);
    {
      // Declared after the domain: it stops serving before the domain goes.
      std::optional<ControlChannel> control;
      try {
        if (!control_path.empty()) control.emplace(domain, control_path);
      } catch (const std::exception& e) {
        if (receiver) receiver->refuse(e.what());
        throw;
      }
      // A migrated domain runs only once the source let go of it.
      if (receiver) receiver->ready_and_await_go();
      result = domain.run([&] {
        std::string error;
        if (receiver && !receiver->running(error)) {
          // It runs here all the same: the source left its copy paused.
          fmt::print(stderr, "tortuga-vmm: {}: the source did not hear that the domain runs here: {}\n", config.name,
                     error);
        }
      });
      if (control) migration = control->migration_progress();
    }
    stats = domain.stats();
    uptime_ns = domain.system_time_ns();
    if (show_stats) std::fputs(stats.format().c_str(), stderr);
  } catch (const CpuLimitsError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError,
                  fmt::format("cannot apply --weight/--cap: {}", e.what()));
  } catch (const TapError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError, fmt::format("refused: {}", e.what()));
  } catch (const DeviceSpecError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError, fmt::format("refused: {}", e.what()));
  } catch (const BlockImageError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError, fmt::format("refused: {}", e.what()));
  } catch (const ImageError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError,
                  fmt::format("refused: {}: {}", source_name, e.what()));
  } catch (const RestoreError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError,
                  fmt::format("refused: {}: {}", source_name, e.what()));
  } catch (const SwitchOverError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError,
                  fmt::format("refused: {}: {}", source_name, e.what()));
  } catch (const KernelImageError& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError, fmt::format("refused: {}", e.what()));
  } catch (const std::exception& e) {
    return finish(config.name, exit_record_path, DomainExit::kVmmError, e.what());
  }
  return finish(config.name, exit_record_path, result.exit, result.reason, stats, uptime_ns, migration);
}
