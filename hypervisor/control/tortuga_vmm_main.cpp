// tortuga-vmm: runs one domain from its command line, prints the guest's
// console on stdout, and exits with a status that says how the domain ended
// (0 poweroff; see DomainExit for the rest), after one line on stderr.
//
// main parses (vmm_options.h), gets the domain (domain_start.h: booted,
// restored or received), runs it with the control channel, and ends
// (exit_record.h).
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "block_image.h"
#include "control/control_channel.h"
#include "control/domain_start.h"
#include "control/exit_record.h"
#include "control/vmm_options.h"
#include "devices/device_spec.h"
#include "domain/kernel_image.h"
#include "hypercalls/mmu_trace.h"
#include "image_records.h"
#include "migration/switch_over.h"
#include "tap_device.h"

namespace {

using namespace tortuga;

// What a domain run leaves for the exit status and record.
struct RunOutcome {
  DomainResult result;
  ExitStats stats;
  uint64_t uptime_ns = 0;
  api::MigrationProgress migration;  // how the last migration out went
};

// Block termination signals in every thread; one thread waits for them
// and destroys the domain.
void block_termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

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

// The control channel, if asked for; a destination that cannot serve it
// tells the source before it fails.
void open_control(std::optional<ControlChannel>& control, Domain& domain, StartedDomain& started,
                  const std::string& path) {
  try {
    if (!path.empty()) control.emplace(domain, path);
  } catch (const std::exception& e) {
    if (started.receiver) started.receiver->refuse(e.what());
    throw;
  }
}

// Runs the domain until it ends. A migrated domain runs only once the
// source let go of it.
void run_domain(StartedDomain& started, const VmmOptions& o, RunOutcome& out) {
  Domain& domain = *started.domain;
  watch_termination_signals(domain);
  {
    // Declared after the domain: it stops serving before the domain goes.
    std::optional<ControlChannel> control;
    open_control(control, domain, started, o.control_path);
    if (started.receiver) started.receiver->ready_and_await_go();
    out.result = domain.run([&] {
      std::string error;
      if (started.receiver && !started.receiver->running(error)) {
        // It runs here all the same: the source left its copy paused.
        fmt::print(stderr, "tortuga-vmm: {}: the source did not hear that the domain runs here: {}\n", o.config.name,
                   error);
      }
    });
    if (control) out.migration = control->migration_progress();
  }
  out.stats = domain.stats();
  out.uptime_ns = domain.system_time_ns();
  if (o.show_stats) std::fputs(out.stats.format().c_str(), stderr);
}

void start_and_run(VmmOptions& o, RunOutcome& out) {
  Console console = Console::stdio();
  // Only a domain that asks for other than the defaults needs a cgroup
  // (and the permission to make one).
  std::optional<CpuLimitsCgroup> cgroup;
  if (!o.limits.is_default()) cgroup.emplace(o.config.name, o.limits);
  StartedDomain started = start_domain(o, console);
  if (!o.trace_mmu_path.empty()) started.domain->set_mmu_trace(std::make_unique<MmuTrace>(o.trace_mmu_path));
  run_domain(started, o, out);
}

// The one line for a domain that could not be started or run.
std::string failure_reason(const VmmOptions& o) {
  try {
    throw;
  } catch (const CpuLimitsError& e) {
    return fmt::format("cannot apply --weight/--cap: {}", e.what());
  } catch (const TapError& e) {
    return fmt::format("refused: {}", e.what());
  } catch (const DeviceSpecError& e) {
    return fmt::format("refused: {}", e.what());
  } catch (const BlockImageError& e) {
    return fmt::format("refused: {}", e.what());
  } catch (const ImageError& e) {
    return fmt::format("refused: {}: {}", o.source_name(), e.what());
  } catch (const RestoreError& e) {
    return fmt::format("refused: {}: {}", o.source_name(), e.what());
  } catch (const SwitchOverError& e) {
    return fmt::format("refused: {}: {}", o.source_name(), e.what());
  } catch (const KernelImageError& e) {
    return fmt::format("refused: {}", e.what());
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tortuga-vmm: run one Tortuga domain (a paravirtualized guest kernel on KVM)"};
  VmmOptions options;
  add_vmm_options(app, options);
  CLI11_PARSE(app, argc, argv);
  if (!one_domain_source(options)) {
    fmt::print(stderr, "tortuga-vmm: give a kernel, --restore IMAGE or --incoming-fd N (one of them)\n");
    return static_cast<int>(DomainExit::kVmmError);
  }
  // A peer that goes away is an error on the socket, not a signal.
  ::signal(SIGPIPE, SIG_IGN);
  VmmEnding ending{options.config.name, options.exit_record_path};
  try {
    complete_vmm_options(app, options);
  } catch (const DeviceSpecError& e) {
    return finish(ending, DomainExit::kVmmError, fmt::format("refused: {}", e.what()));
  }
  block_termination_signals();
  RunOutcome out;
  try {
    start_and_run(options, out);
  } catch (const std::exception&) {
    ending.name = options.config.name;
    return finish(ending, DomainExit::kVmmError, failure_reason(options));
  }
  ending.name = options.config.name;
  return finish(ending, out.result.exit, out.result.reason, out.stats, out.uptime_ns, out.migration);
}
