#include "linux_guest_bench.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

#include "domain/domain.h"
#include "native_tg_bench.h"
#include "tg_bench_line.h"
#include "vmm_memory_overhead.h"

namespace tortuga::bench {

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kTableMib = 128;  // the domain every operation row runs in
constexpr uint64_t kIdleSeconds = 5;
// The first thing /init does: the boot is over when it runs.
const std::string kInitLine = "tortuga: /init started";
const std::string kIdleBegin = "tg-bench idle begin";
const std::string kIdleEnd = "tg-bench idle n=";

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

double minus(uint64_t a, uint64_t b) { return static_cast<double>(a) - static_cast<double>(b); }

// A moment of the domain's life, taken when the console showed a line.
struct Sample {
  Clock::time_point at;
  double cpu_s = 0;  // this process's CPU time: the in-process VMM's
  ExitStats stats;
};

// The guest console, sampling the domain when a marker line appears. The
// sink runs on the thread that drains the console ring while the vCPU runs,
// so Domain::stats() there is a live read of counters the vCPU thread
// writes (as the control channel's stats request is): a sample may lack
// the exits of the last microseconds, nothing worse.
class SamplingConsole {
 public:
  explicit SamplingConsole(const std::vector<std::string>& markers)
      : console_([this](std::span<const uint8_t> b) { append(b); }, -1) {
    for (const std::string& m : markers) samples_[m];
  }
  Console& console() { return console_; }
  void watch(const Domain& domain) { domain_.store(&domain); }
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }
  std::optional<Sample> sample(const std::string& marker) const {
    std::lock_guard lock(mutex_);
    return samples_.at(marker);
  }

 private:
  void append(std::span<const uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    size_t old = text_.size();
    text_.append(bytes.begin(), bytes.end());
    for (auto& [marker, sample] : samples_) {
      size_t from = old > marker.size() ? old - marker.size() : 0;
      if (!sample && text_.find(marker, from) != std::string::npos) sample = take();
    }
  }
  Sample take() const {
    const Domain* d = domain_.load();
    return {Clock::now(), process_cpu_seconds(), d ? d->stats() : ExitStats{}};
  }

  mutable std::mutex mutex_;
  std::string text_;
  std::map<std::string, std::optional<Sample>> samples_;
  std::atomic<const Domain*> domain_{nullptr};
  Console console_;  // last: its sink uses the members above
};

struct LinuxRun {
  ExitStats stats;  // at power-off
  TgBenchLine line;
  double to_init_ms = 0;  // domain creation to /init's first line
  ExitStats at_init;      // the exits by then
  std::optional<Sample> idle_begin, idle_end;
};

void require_file(const std::string& path) {
  if (!std::ifstream(path)) throw std::runtime_error(path + " is missing: run `make linux`");
}

std::string tail(const std::string& text) { return text.substr(text.size() > 400 ? text.size() - 400 : 0); }

DomainConfig linux_config(const std::string& dir, const std::string& kind, uint64_t n, uint64_t memory_mib) {
  DomainConfig config;
  config.name = "linux-bench";
  config.kernel = dir + "/vmlinux";
  config.initramfs = dir + "/initramfs.cpio.gz";
  config.memory_mib = memory_mib;
  config.cmdline = fmt::format("console=hvc0 quiet tortuga.bench={} tortuga.n={}", kind, n);
  require_file(config.kernel);  // a clear error before the domain exists
  require_file(config.initramfs);
  return config;
}

// What a powered-off domain's console and counters say of its run.
LinuxRun collect(const Domain& domain, const SamplingConsole& capture, const std::string& kind,
                 Clock::time_point created) {
  std::string console = capture.text();
  std::optional<TgBenchLine> line = parse_tg_bench_line(console, kind);
  std::optional<Sample> init = capture.sample(kInitLine);
  if (!line || !init) throw std::runtime_error("linux bench guest printed no timing: " + tail(console));
  LinuxRun run;
  run.stats = domain.stats();
  run.line = *line;
  run.to_init_ms = ms_between(created, init->at);
  run.at_init = init->stats;
  run.idle_begin = capture.sample(kIdleBegin);
  run.idle_end = capture.sample(kIdleEnd);
  return run;
}

LinuxRun run_linux(const std::string& dir, const std::string& kind, uint64_t n, uint64_t memory_mib = kTableMib) {
  SamplingConsole capture({kInitLine, kIdleBegin, kIdleEnd});
  DomainConfig config = linux_config(dir, kind, n, memory_mib);
  auto t0 = Clock::now();
  Domain domain(config, capture.console());
  capture.watch(domain);
  DomainResult result = domain.run();
  if (result.exit != DomainExit::kPoweroff) throw std::runtime_error("linux bench guest: " + result.reason);
  return collect(domain, capture, kind, t0);
}

// One tg-bench kind, as (a run of n - a run of 0) / (operations between
// them), in the guest and natively on the host.
struct KindResult {
  double ops = 0;       // what the n run did beyond the 0 run
  double guest_us = 0;  // per operation
  double exits = 0;     // per operation
  double host_us = 0;   // per operation, natively
  ExitStats some, none;
};

// The host is shared and its runs are short: the fastest of three (per
// operation; a run of none by its whole time).
TgBenchLine best_native_run(const std::string& kind, uint64_t n) {
  auto cost = [](const TgBenchLine& l) { return l.ops > 0 ? l.ns / l.ops : l.ns; };
  TgBenchLine best = run_native_tg_bench(kind, n);
  for (int i = 1; i < 3; ++i) {
    TgBenchLine line = run_native_tg_bench(kind, n);
    if (cost(line) < cost(best)) best = line;
  }
  return best;
}

KindResult measure_kind(const std::string& dir, const std::string& kind, uint64_t n) {
  LinuxRun none = run_linux(dir, kind, 0), some = run_linux(dir, kind, n);
  TgBenchLine host_none = best_native_run(kind, 0), host_some = best_native_run(kind, n);
  KindResult r;
  r.ops = some.line.ops - none.line.ops;
  if (r.ops <= 0) throw std::runtime_error(fmt::format("tg-bench {} {} counted no operations", kind, n));
  r.guest_us = (some.line.ns - none.line.ns) / 1000.0 / r.ops;
  r.exits = minus(some.stats.exits, none.stats.exits) / r.ops;
  r.host_us = (host_some.ns - host_none.ns) / 1000.0 / (host_some.ops - host_none.ops);
  r.some = some.stats;
  r.none = none.stats;
  return r;
}

// The label is printed before the row is measured: a slow row shows what runs.
void begin_row(const std::string& label) {
  fmt::print("{:<50}", label);
  std::fflush(stdout);
}

void end_row(const KindResult& r, const std::string& note = "") {
  fmt::print("{:>10.2f}{:>10.2f}{:>12.2f}{:>12.1f}  {}\n", r.guest_us, r.exits, r.host_us, r.guest_us / r.host_us,
             note);
}

KindResult kind_row(const std::string& dir, const std::string& label, const std::string& kind, uint64_t n) {
  begin_row(label);
  return measure_kind(dir, kind, n);
}

// [1] Each switch is sched_yield calls (2n of them over r.ops switches);
// what a switch costs beyond them is the exits of that many null calls less.
void context_switch_row(const std::string& dir, uint64_t n, double syscall_exits) {
  KindResult r = kind_row(dir, "context switch (sched_yield, 2 processes) [1]", "switch", n);
  double yields_per_switch = 2.0 * static_cast<double>(n) / r.ops;
  end_row(r, fmt::format("{:.2f} sched_yield/switch; beyond syscalls {:.2f} exits/switch", yields_per_switch,
                         r.exits - yields_per_switch * syscall_exits));
}

// [2] mmu requests per mmu_update hypercall over the loop's iterations.
void shell_loop_row(const std::string& dir, uint64_t n) {
  KindResult r = kind_row(dir, "shell loop: sh forks+execs /bin/true [2]", "shell", n);
  double requests = minus(r.some.mmu_requests, r.none.mmu_requests);
  double updates = minus(r.some.hypercalls[TG_HC_mmu_update], r.none.hypercalls[TG_HC_mmu_update]);
  end_row(r, fmt::format("{:.2f} mmu requests/mmu_update, {:.0f} mmu_update/iteration", requests / updates,
                         updates / r.ops));
}

// [3] Between tg-bench's two idle lines: the guest's exits and this
// process's CPU time, which is the VMM's (the domain runs in-process).
void idle_row(const std::string& dir) {
  begin_row(fmt::format("idle domain: the guest sleeps {} s [3]", kIdleSeconds));
  LinuxRun run = run_linux(dir, "idle", kIdleSeconds);
  if (!run.idle_begin || !run.idle_end) throw std::runtime_error("tg-bench idle printed no begin or end line");
  double seconds = ms_between(run.idle_begin->at, run.idle_end->at) / 1000.0;
  double exits = minus(run.idle_end->stats.exits, run.idle_begin->stats.exits);
  double cpu = run.idle_end->cpu_s - run.idle_begin->cpu_s;
  fmt::print("{:>10}{:>10}{:>12}{:>12}  {:.1f} exits/s, VMM {:.2f} % of a host CPU\n", "", "", "", "", exits / seconds,
             100.0 * cpu / seconds);
}

// [4]
void vmm_memory_row(const std::string& dir) {
  begin_row(fmt::format("VMM memory outside guest RAM, {} MiB domain [4]", kTableMib));
  VmmMemory m = measure_vmm_memory(dir, kTableMib);
  fmt::print("{:>10}{:>10}{:>12}{:>12}  {:.2f} MiB Rss: {:.2f} anonymous, largest mapping {:.2f}; {:.2f} MiB Pss\n", "",
             "", "", "", m.rss_mib, m.anon_mib, m.largest_mib, m.pss_mib);
}

void boot_row(const std::string& dir, uint64_t memory_mib) {
  begin_row(memory_mib >= 1024 ? fmt::format("domain creation to /init, {} GiB", memory_mib / 1024)
                               : fmt::format("domain creation to /init, {} MiB", memory_mib));
  LinuxRun run = run_linux(dir, "syscall", 0, memory_mib);
  fmt::print("{:>10.1f}{:>10}\n", run.to_init_ms, run.at_init.exits);
}

void print_footnotes() {
  fmt::print(
      "us/op: timed by tg-bench inside the guest; exits/op: the VMM's counters; both as (a run of n operations -\n"
      "a run of none) / n. host us/op: the same tg-bench built for the host and run natively with the same n\n"
      "(the fastest of three runs each).\n"
      "[1] Two processes on one CPU calling sched_yield n times each; per switch as getrusage counts them (a yield\n"
      "    need not switch). 'beyond syscalls' = exits/switch - (sched_yield calls per switch) x (exits/op of the\n"
      "    null system call).\n"
      "[2] Per iteration of `sh -c 'while ...; do /bin/true; done'`; mmu requests (mmu_update entries, mmuext ops,\n"
      "    update_va_mapping calls) per mmu_update hypercall, and mmu_update hypercalls per iteration.\n"
      "[3] Between tg-bench's 'idle begin' and end lines: exits per second of host time, and the CPU time of the\n"
      "    bench process, which runs the domain in-process, in % of one host CPU.\n"
      "[4] tortuga-vmm as a child while its guest sleeps: Rss of every mapping in /proc/PID/smaps but guest RAM\n"
      "    (anonymous: not file pages; Pss: pages shared with other processes split among them). Firecracker's bar\n"
      "    is 5 MiB.\n"
      "domain creation to /init: from the Domain constructor to /init's first line, and the exits by then.\n");
}

}  // namespace

void print_linux_table(const std::string& dir, uint64_t n) {
  fmt::print("\nLinux 6.1 guest ({} MiB, 1 vCPU), inside the guest and natively on the host\n", kTableMib);
  fmt::print("{:<50}{:>10}{:>10}{:>12}{:>12}\n", "operation", "us/op", "exits/op", "host us/op", "guest/host");
  KindResult syscall = kind_row(dir, "null system call (getppid)", "syscall", n);
  end_row(syscall);
  uint64_t forks = std::max<uint64_t>(n / 100, 20), tens = std::max<uint64_t>(n / 10, 100);
  end_row(kind_row(dir, "fork + exit + waitpid", "fork", forks));
  end_row(kind_row(dir, "fork + exec /bin/true + exit + waitpid", "exec", forks));
  context_switch_row(dir, tens, syscall.exits);
  end_row(kind_row(dir, "page fault (first touch of an anonymous page)", "fault", tens));
  end_row(kind_row(dir, "pipe round trip between two processes", "pipe", tens));
  shell_loop_row(dir, forks);
  idle_row(dir);
  vmm_memory_row(dir);
  fmt::print("{:<50}{:>10}{:>10}\n", "", "ms", "exits");
  for (uint64_t mib : {128, 1024, 4096}) boot_row(dir, mib);
  print_footnotes();
}

}  // namespace tortuga::bench
