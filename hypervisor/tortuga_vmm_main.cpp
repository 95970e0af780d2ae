// tortuga-vmm: runs one domain from its command line, prints the guest's
// console on stdout, and exits with a status that says how the domain ended
// (0 poweroff; see DomainExit for the rest), after one line on stderr.
#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "domain.h"
#include "kernel_image.h"

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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tortuga-vmm: run one Tortuga domain (a paravirtualized guest kernel on KVM)"};
  DomainConfig config;
  bool show_stats = false;
  app.add_option("kernel,--kernel", config.kernel, "guest kernel (ELF with Tortuga notes)")->required();
  app.add_option("--name", config.name, "domain name, used in messages")->capture_default_str();
  app.add_option("-m,--memory", config.memory_mib, "memory in MiB")->capture_default_str();
  app.add_option("--vcpus", config.vcpus, "number of vCPUs")->capture_default_str();
  app.add_option("--cmdline", config.cmdline, "kernel command line");
  app.add_option("--initramfs", config.initramfs, "initramfs image")->check(CLI::ExistingFile);
  app.add_flag("--stats", show_stats, "print exit counters on stderr when the domain ends");
  CLI11_PARSE(app, argc, argv);

  // Block termination signals in every thread; one thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Console console = Console::stdio();
  DomainResult result;
  try {
    Domain domain(config, console);
    watch_termination_signals(domain);
    result = domain.run();
    if (show_stats) std::fputs(domain.stats().format().c_str(), stderr);
  } catch (const KernelImageError& e) {
    fmt::print(stderr, "tortuga-vmm: {}: refused: {}\n", config.name, e.what());
    return static_cast<int>(DomainExit::kVmmError);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga-vmm: {}: {}\n", config.name, e.what());
    return static_cast<int>(DomainExit::kVmmError);
  }
  fmt::print(stderr, "tortuga-vmm: {}: {}\n", config.name, result.reason);
  return result.exit_code();
}
