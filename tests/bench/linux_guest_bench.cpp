#include "linux_guest_bench.h"

#include <chrono>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>

#include "domain/domain.h"

namespace tortuga::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct LinuxRun {
  ExitStats stats;
  double ns = 0;          // what tg-bench timed inside the guest
  double to_init_ms = 0;  // domain creation to /init's first line
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + " is missing: run `make linux`");
  return {std::istreambuf_iterator<char>(in), {}};
}

LinuxRun run_linux(const std::string& dir, const std::string& kind, uint64_t n) {
  static const std::string kInitLine = "tortuga: Linux booted";
  std::string console;
  std::optional<Clock::time_point> init_at;
  Console capture(
      [&](std::span<const uint8_t> b) {
        console.append(b.begin(), b.end());
        if (!init_at && console.find(kInitLine) != std::string::npos) init_at = Clock::now();
      },
      -1);
  DomainConfig config;
  config.name = "linux-bench";
  config.kernel = dir + "/vmlinux";
  config.initramfs = dir + "/initramfs.cpio.gz";
  config.memory_mib = 128;
  config.cmdline = fmt::format("console=hvc0 quiet tortuga.bench={} tortuga.n={}", kind, n);
  read_file(config.kernel);  // a clear error before the domain exists
  auto t0 = Clock::now();
  Domain domain(config, capture);
  DomainResult result = domain.run();
  if (result.exit != DomainExit::kPoweroff) throw std::runtime_error("linux bench guest: " + result.reason);
  auto at = console.find("tg-bench " + kind);
  auto ns = console.find(" ns=", at == std::string::npos ? 0 : at);
  if (at == std::string::npos || ns == std::string::npos || !init_at) {
    throw std::runtime_error("linux bench guest printed no timing: " +
                             console.substr(console.size() > 400 ? console.size() - 400 : 0));
  }
  return {domain.stats(), std::stod(console.substr(ns + 4)),
          std::chrono::duration<double, std::milli>(*init_at - t0).count()};
}

}  // namespace

void print_linux_table(const std::string& dir, uint64_t n) {
  struct Kind {
    const char* name;
    const char* label;
    uint64_t n;
  };
  const Kind kinds[] = {
      {"syscall", "null system call (getppid)", n},
      {"fork", "fork + exit + waitpid", std::max<uint64_t>(n / 100, 20)},
      {"fault", "page fault (first touch of an anonymous page)", std::max<uint64_t>(n / 10, 100)},
      {"pipe", "pipe round trip between two processes", std::max<uint64_t>(n / 10, 100)},
  };
  fmt::print("\nLinux 6.1 guest (128 MiB, 1 vCPU), inside the guest\n");
  fmt::print("{:<48}{:>14}{:>12}\n", "operation", "us/op", "exits/op");
  double to_init_ms = 0;
  for (const Kind& k : kinds) {
    LinuxRun none = run_linux(dir, k.name, 0);
    LinuxRun some = run_linux(dir, k.name, k.n);
    double exits =
        (static_cast<double>(some.stats.exits) - static_cast<double>(none.stats.exits)) / static_cast<double>(k.n);
    fmt::print("{:<48}{:>14.2f}{:>12.2f}\n", k.label, some.ns / 1000.0 / static_cast<double>(k.n), exits);
    to_init_ms = none.to_init_ms;
  }
  fmt::print("{:<48}{:>14.1f} ms\n", "domain creation to /init", to_init_ms);
}

}  // namespace tortuga::bench
