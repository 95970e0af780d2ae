// tortuga-bench: what each guest operation costs, in exits and time, next to
// a bare-KVM exit round trip measured in the same run, then the I/O,
// migration and (with --linux) Linux guest tables (linux_guest_bench.h).
// Prints tables; never fails on a number (`make bench`).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "block_image.h"
#include "domain/domain.h"
#include "host_mapping.h"
#include "kvm/kvm.h"
#include "linux_guest_bench.h"
#include "migration_bench.h"
#include "devices/device_spec.h"
#include "vcpu/descriptors.h"

namespace {

using namespace tortuga;
using Clock = std::chrono::steady_clock;

struct Row {
  std::string operation;
  double us_per_op;
  double exits_per_op;
};

// Bare KVM: KVM_RUN that returns at once (immediate_exit), no guest code.
Row bare_empty_run(uint64_t n) {
  Kvm kvm;
  KvmVm vm(kvm);
  KvmVcpu vcpu = vm.create_vcpu(0);
  vcpu.run()->immediate_exit = 1;
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < n; ++i) vcpu.enter();
  double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  return {"bare KVM: empty KVM_RUN (immediate_exit)", us / n, 0};
}

// Bare KVM: a CPL3 loop whose every store goes to guest-physical memory with
// no memslot, so each iteration exits to user space and comes back.
Row bare_mmio_exit(uint64_t n) {
  Kvm kvm;
  KvmVm vm(kvm);
  constexpr uint64_t kMem = 2 << 20, kCode = 0x100000, kMmioGpa = 0x40000000;
  HostMapping mem = HostMapping::anonymous(kMem);
  vm.set_memory_region(0, 0, mem.data(), kMem);
  auto* pml4 = reinterpret_cast<uint64_t*>(mem.data() + 0x1000);
  auto* pdpt = reinterpret_cast<uint64_t*>(mem.data() + 0x2000);
  auto* pd = reinterpret_cast<uint64_t*>(mem.data() + 0x3000);
  pml4[0] = 0x2000 | 7;
  pdpt[0] = 0x3000 | 7;
  pd[0] = 0x0 | 0x87;                                                      // 2 MiB user page: code and tables
  pd[1] = kMmioGpa | 0x87;                                                 // VA 2 MiB -> unbacked GPA
  const uint8_t code[] = {0x48, 0x89, 0x04, 0x25, 0x00, 0x00, 0x20, 0x00,  // mov %rax, 0x200000
                          0xeb, 0xf6};                                     // jmp back
  std::memcpy(mem.data() + kCode, code, sizeof code);
  KvmVcpu vcpu = vm.create_vcpu(0);
  kvm_sregs s = vcpu.get_sregs();
  s.cs = code64_segment(0x33, 3);
  s.ds = s.es = s.fs = s.gs = s.ss = data_segment(0x2b, 3);
  s.cr3 = 0x1000;
  s.cr4 = 0x20;
  s.cr0 = 0x80000011;
  s.efer = 0x500;
  vcpu.set_sregs(s);
  kvm_regs r{};
  r.rip = kCode;
  r.rflags = 2;
  vcpu.set_regs(r);
  uint64_t exits = 0;
  auto t0 = Clock::now();
  while (exits < n) {
    vcpu.enter();
    if (vcpu.run()->exit_reason != KVM_EXIT_MMIO) throw std::runtime_error("bare MMIO loop: unexpected exit");
    ++exits;
  }
  double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
  return {"bare KVM: CPL3 MMIO store exit to the VMM", us / n, 1};
}

struct GuestRun {
  ExitStats stats;
  uint64_t guest_ns = 0;
  std::string console;
  double host_cpu_s = 0, wall_s = 0;  // the VMM process while the domain ran
};

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

GuestRun run_test_guest(const std::string& guest, const std::string& kind, uint64_t n, const std::string& extra = "",
                        uint32_t vcpus = 1, const std::string& disk = "", const std::string& nic = "") {
  std::string console;
  Console capture([&](std::span<const uint8_t> b) { console.append(b.begin(), b.end()); }, -1);
  DomainConfig config;
  config.name = "bench";
  config.kernel = guest;
  config.cmdline = fmt::format("bench={} n={} {}", kind, n, extra);
  config.vcpus = vcpus;
  if (!disk.empty()) config.disks.push_back(parse_disk_option(disk));
  if (!nic.empty()) config.nics.push_back(parse_nic_option(nic));
  Domain domain(config, capture);
  double cpu0 = process_cpu_seconds();
  auto t0 = Clock::now();
  DomainResult result = domain.run();
  double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double cpu = process_cpu_seconds() - cpu0;
  if (result.exit != DomainExit::kPoweroff) throw std::runtime_error(fmt::format("bench guest: {}", result.reason));
  auto at = console.find(" ns=");
  if (at == std::string::npos) throw std::runtime_error("bench guest printed no timing: " + console);
  return {domain.stats(), std::stoull(console.substr(at + 4)), console, cpu, wall};
}

// A number the guest printed as `key=value` on a comment line, or -1.
double printed_value(const std::string& console, const std::string& key) {
  auto at = console.find(key + "=");
  if (at == std::string::npos) return -1;
  return std::stod(console.substr(at + key.size() + 1));
}

// Events and time (ABI.md 9, 10): timer ticks at a rate, what a tick costs
// in exits, and what a domain that only sleeps costs the host.
void print_time_table(const std::string& guest, uint64_t ticks) {
  fmt::print("\nEvents and time ({} timer ticks per row)\n\n", ticks);
  fmt::print("{:<36}{:>15}{:>15}{:>12}{:>14}\n", "one-shot timer re-armed each tick", "jitter mean us", "jitter max us",
             "exits/tick", "host CPU %");
  for (uint64_t hz : {100, 1000}) {
    GuestRun none = run_test_guest(guest, "timer", 0, fmt::format("hz={}", hz));
    GuestRun run = run_test_guest(guest, "timer", ticks, fmt::format("hz={}", hz));
    double exits = static_cast<double>(run.stats.exits - none.stats.exits) / static_cast<double>(ticks);
    // The guest sleeps in block between ticks: what the host pays for that.
    fmt::print("{:<36}{:>15.1f}{:>15.1f}{:>12.2f}{:>14.2f}\n", fmt::format("  at {} Hz", hz),
               printed_value(run.console, "mean_us"), printed_value(run.console, "max_us"), exits,
               100.0 * run.host_cpu_s / run.wall_s);
  }
  GuestRun none = run_test_guest(guest, "event-pingpong", 0, "", 2);
  GuestRun pingpong = run_test_guest(guest, "event-pingpong", ticks, "", 2);
  fmt::print("\nevent round trip between two vCPUs (IPI there, IPI back): {:.1f} us, {:.2f} exits\n",
             static_cast<double>(pingpong.guest_ns - none.guest_ns) / 1000.0 / static_cast<double>(ticks),
             static_cast<double>(pingpong.stats.exits - none.stats.exits) / static_cast<double>(ticks));
  fmt::print(
      "(host CPU %: the VMM process's CPU time over wall time while the domain ran, asleep in\n"
      " block between ticks; at 100 Hz that is a domain that is blocked almost all the time)\n");
}

// Exits per operation from the difference between n operations and none,
// so the fixed cost of booting and entering user mode cancels out.
Row guest_operation(const std::string& guest, const std::string& kind, const std::string& label, uint64_t n) {
  GuestRun none = run_test_guest(guest, kind, 0);
  GuestRun many = run_test_guest(guest, kind, n);
  double exits = static_cast<double>(many.stats.exits - none.stats.exits) / static_cast<double>(n);
  double us = static_cast<double>(many.guest_ns - none.guest_ns) / 1000.0 / static_cast<double>(n);
  return {label, us, exits};
}

// The PV MMU: map and touch 4 MiB (1024 pages), one hypercall per page
// versus one batch of 1024, and what one more entry in a batch costs.
struct MapRow {
  std::string method;
  double ms_per_4mib, exits_per_4mib, hypercalls_per_4mib, applies_per_4mib;
};

MapRow map_and_touch(const std::string& guest, const std::string& kind, const std::string& label, uint64_t n) {
  GuestRun none = run_test_guest(guest, kind, 0);
  GuestRun many = run_test_guest(guest, kind, n);
  auto per_op = [&](uint64_t a, uint64_t b) { return static_cast<double>(a - b) / static_cast<double>(n); };
  return {label, per_op(many.guest_ns, none.guest_ns) / 1e6, per_op(many.stats.exits, none.stats.exits),
          per_op(many.stats.hypercall_total(), none.stats.hypercall_total()),
          per_op(many.stats.apply_routines, none.stats.apply_routines)};
}

void print_map_table(const std::vector<MapRow>& rows, const Row& single, const Row& batch) {
  fmt::print("\nPV MMU: map and touch 4 MiB (1024 pages), then unmap in one batch\n\n");
  fmt::print("{:<36}{:>12}{:>12}{:>14}{:>14}\n", "method", "ms/4 MiB", "exits", "hypercalls", "CPL0 applies");
  for (const MapRow& r : rows) {
    fmt::print("{:<36}{:>12.2f}{:>12.1f}{:>14.1f}{:>14.1f}\n", r.method, r.ms_per_4mib, r.exits_per_4mib,
               r.hypercalls_per_4mib, r.applies_per_4mib);
  }
  if (rows.size() == 2 && rows[1].ms_per_4mib > 0) {
    fmt::print("batched is {:.1f}x faster, with {:.0f}x fewer exits\n", rows[0].ms_per_4mib / rows[1].ms_per_4mib,
               rows[0].exits_per_4mib / std::max(rows[1].exits_per_4mib, 1.0));
  }
  fmt::print("\n{:<48}{:>14.2f}{:>12.2f}\n", single.operation, single.us_per_op, single.exits_per_op);
  fmt::print("{:<48}{:>14.2f}{:>12.2f}\n", batch.operation, batch.us_per_op, batch.exits_per_op);
  fmt::print("cost per applied entry in a batch: {:.2f} us (in-guest CPL0 routine, emulated on PVM)\n",
             (batch.us_per_op - single.us_per_op) / 1023.0);
}

// Block (ABI.md 18): the test guest's frontend against an image file, next
// to the same I/O issued by the host directly on the file (the same request
// sizes and offsets, qd threads each doing its share). Both go through the
// host page cache.
struct BlockKind {
  const char* kind;
  const char* label;
  bool write, random;
  uint64_t bytes;  // per request
};
constexpr BlockKind kBlockKinds[] = {
    {"vbd-seq-read", "sequential read 32 KiB", false, false, 32768},
    {"vbd-seq-write", "sequential write 32 KiB", true, false, 32768},
    {"vbd-rand-read", "random read 4 KiB", false, true, 4096},
    {"vbd-rand-write", "random write 4 KiB", true, true, 4096},
};

class ScratchImage {
 public:
  explicit ScratchImage(uint64_t bytes)
      : path_((std::filesystem::temp_directory_path() / fmt::format("tortuga-bench-{}.img", ::getpid())).string()) {
    std::ofstream out(path_, std::ios::binary);
    std::vector<char> chunk(1 << 20);
    std::mt19937_64 rng(1);
    for (auto& c : chunk) c = static_cast<char>(rng());
    for (uint64_t done = 0; done < bytes; done += chunk.size())
      out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
  ~ScratchImage() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The host's own I/O of the same shape: seconds for n requests.
double host_block_seconds(const std::string& path, const BlockKind& k, unsigned qd, uint64_t n) {
  BlockImage image(path, false);
  uint64_t units = image.sectors() * 512 / k.bytes;
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < qd; ++t) {
    threads.emplace_back([&, t] {
      std::vector<uint8_t> buf(k.bytes, 0x5a);
      iovec iov{buf.data(), buf.size()};
      std::mt19937_64 rng(t + 1);
      for (uint64_t i = t; i < n; i += qd) {
        uint64_t unit = k.random ? rng() % units : i % units;
        if (k.write)
          image.write(unit * k.bytes, {&iov, 1});
        else
          image.read(unit * k.bytes, {&iov, 1});
      }
    });
  }
  for (auto& t : threads) t.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void print_block_table(const std::string& guest, uint64_t n) {
  constexpr uint64_t kImageBytes = 64ULL << 20;
  ScratchImage image(kImageBytes);
  fmt::print("\nBlock device: {} requests per row on a {} MiB raw image (host page cache)\n\n", n, kImageBytes >> 20);
  fmt::print("{:<26}{:>4}{:>11}{:>10}{:>11}{:>10}{:>10}{:>11}{:>11}\n", "operation", "qd", "guest MB/s", "IOPS",
             "host MB/s", "host IOPS", "exits/req", "doorbells", "polls");
  for (const BlockKind& k : kBlockKinds) {
    for (unsigned qd : {1u, 8u, 32u}) {
      std::string extra = fmt::format("qd={}", qd);
      GuestRun none = run_test_guest(guest, k.kind, 0, extra, 1, image.path());
      GuestRun run = run_test_guest(guest, k.kind, n, extra, 1, image.path());
      double s = static_cast<double>(run.guest_ns - none.guest_ns) / 1e9;
      double host_s = host_block_seconds(image.path(), k, qd, n);
      double per = static_cast<double>(n);
      fmt::print("{:<26}{:>4}{:>11.1f}{:>10.0f}{:>11.1f}{:>10.0f}{:>10.3f}{:>11.3f}{:>11.3f}\n", k.label, qd,
                 per * k.bytes / s / 1e6, per / s, per * k.bytes / host_s / 1e6, per / host_s,
                 static_cast<double>(run.stats.exits - none.stats.exits) / per,
                 printed_value(run.console, "doorbells") / per, printed_value(run.console, "polls") / per);
    }
  }
  fmt::print(
      "(exits/req: VMM exits per request; doorbells: ioeventfd notifications the frontend sent\n"
      " per request, which cost no VMM exit; polls: times the frontend slept in sched_op poll\n"
      " per request, each one exit, since responses notify only a frontend that asked)\n");
}

// Network (ABI.md 19): 1514-byte frames from the guest into its TAP and
// from a packet socket on the TAP into the guest, next to UDP datagrams of
// the same size over the host's loopback.
class FrameBlaster {
 public:
  explicit FrameBlaster(const std::string& ifname) : thread_([this, ifname] { run(ifname); }) {}
  ~FrameBlaster() {
    stop_ = true;
    thread_.join();
  }

 private:
  // Each domain run makes the TAP anew (a new interface index): find it
  // again whenever sending stops working.
  void run(const std::string& ifname) {
    std::vector<uint8_t> frame(1514, 0x5a);
    std::memset(frame.data(), 0xff, 6);
    frame[12] = 0x88;
    frame[13] = 0xb5;
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
    if (s < 0) return;
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_halen = 6;
    std::memset(addr.sll_addr, 0xff, 6);
    while (!stop_) {
      addr.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
      if (addr.sll_ifindex == 0) {
        usleep(1000);
        continue;
      }
      while (!stop_) {
        if (sendto(s, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 &&
            errno != ENOBUFS && errno != EAGAIN) {
          break;
        }
      }
    }
    close(s);
  }
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Seconds to carry n datagrams of `bytes` from one UDP socket to another on 127.0.0.1.
double loopback_udp_seconds(uint64_t n, size_t bytes) {
  int rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int big = 8 << 20;
  setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  bind(rx, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  getsockname(rx, reinterpret_cast<sockaddr*>(&addr), &len);
  timeval tv{1, 0};
  setsockopt(rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::vector<char> buf(bytes, 'x');
  auto t0 = Clock::now();
  std::thread sender([&] {
    for (uint64_t i = 0; i < n; ++i) sendto(tx, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&addr), len);
  });
  std::vector<char> in(65536);
  for (uint64_t got = 0; got < n && recv(rx, in.data(), in.size(), 0) > 0; ++got) {
  }
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  sender.join();
  close(rx);
  close(tx);
  return s;
}

void print_net_table(const std::string& guest, uint64_t n) {
  std::string tap = fmt::format("tgbench{}", ::getpid() % 10000);
  fmt::print("\nNetwork: {} frames of 1514 bytes per row through a TAP interface\n\n", n);
  fmt::print("{:<40}{:>12}{:>14}{:>12}\n", "direction", "MB/s", "frames/s", "exits/frame");
  for (const char* kind : {"net-tx", "net-rx"}) {
    GuestRun none, run;
    {
      std::unique_ptr<FrameBlaster> blaster;
      if (std::string(kind) == "net-rx") blaster = std::make_unique<FrameBlaster>(tap);
      none = run_test_guest(guest, kind, 0, "", 1, "", tap);
      run = run_test_guest(guest, kind, n, "", 1, "", tap);
    }
    double s = static_cast<double>(run.guest_ns - none.guest_ns) / 1e9;
    fmt::print("{:<40}{:>12.1f}{:>14.0f}{:>12.3f}\n",
               std::string(kind) == "net-tx" ? "guest -> host (tx)" : "host -> guest (rx)", n * 1514.0 / s / 1e6,
               static_cast<double>(n) / s, static_cast<double>(run.stats.exits - none.stats.exits) / n);
  }
  double lo = loopback_udp_seconds(n, 1472);
  fmt::print("{:<40}{:>12.1f}{:>14.0f}{:>12}\n", "host loopback UDP, 1472-byte datagrams", n * 1472.0 / lo / 1e6,
             static_cast<double>(n) / lo, "-");
  fmt::print(
      "(rx: a host thread floods the TAP; frames that find no posted buffer are dropped, and the\n"
      " guest counts the n it received)\n");
}

std::string host_kind() {
  struct stat st {};
  return ::stat("/sys/module/kvm_pvm", &st) == 0 ? "PVM-backed KVM (software, CPL0 emulated)" : "KVM";
}

// The Linux table with a quarter of n; 1 when it could not be measured.
int linux_table(const std::string& linux_dir, uint64_t n) {
  try {
    tortuga::bench::print_linux_table(linux_dir, std::max<uint64_t>(n / 4, 1000));
  } catch (const std::exception& e) {
    fmt::print(stderr, "\ntortuga-bench: {}\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tortuga-bench: exit costs of the Tortuga ABI"};
  std::string guest;
  uint64_t n = 20000, map_n = 8;
  app.add_option("--guest", guest, "the test guest kernel")->required()->check(CLI::ExistingFile);
  app.add_option("-n,--iterations", n, "operations per measurement")->capture_default_str();
  app.add_option("--map-iterations", map_n, "4 MiB map-and-touch rounds per PV MMU measurement")->capture_default_str();
  bool io_only = false, migration_only = false, linux_only = false;
  app.add_flag("--io-only", io_only, "only the block and network tables");
  app.add_flag("--migration-only", migration_only, "only the live migration table");
  app.add_flag("--linux-only", linux_only, "only the Linux guest table (needs --linux)");
  std::string linux_dir;
  app.add_option("--linux", linux_dir, "also measure the patched Linux guest in this directory (make linux)");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // tables appear as they are measured
  if (n == 0) n = 1;
  if (map_n == 0) map_n = 1;

  std::vector<Row> rows;
  std::vector<MapRow> map_rows;
  Row single_update, batch_update;
  if (linux_only) {
    if (linux_dir.empty()) {
      fmt::print(stderr, "tortuga-bench: --linux-only needs --linux DIR\n");
      return 1;
    }
    return linux_table(linux_dir, n);
  }
  if (migration_only) {
    try {
      tortuga::bench::print_migration_table(guest);
    } catch (const std::exception& e) {
      fmt::print(stderr, "tortuga-bench: {}\n", e.what());
      return 1;
    }
    return 0;
  }
  if (io_only) {
    try {
      print_block_table(guest, std::max<uint64_t>(n / 10, 200));
      print_net_table(guest, std::max<uint64_t>(n, 2000));
    } catch (const std::exception& e) {
      fmt::print(stderr, "tortuga-bench: {}\n", e.what());
      return 1;
    }
    return 0;
  }
  try {
    map_rows.push_back(map_and_touch(guest, "map-unbatched", "unbatched: 1 update_va_mapping/page", map_n));
    map_rows.push_back(map_and_touch(guest, "map-batched", "batched: 1 mmu_update of 1024", map_n));
    uint64_t batches = std::max<uint64_t>(n / 100, 20);
    single_update = guest_operation(guest, "mmu-single", "mmu_update of 1 entry", batches);
    batch_update = guest_operation(guest, "mmu-entries", "mmu_update of 1024 entries", batches);
    rows.push_back(bare_empty_run(n));
    rows.push_back(bare_mmio_exit(n));
    rows.push_back(guest_operation(guest, "hypercall", "hypercall round trip (version)", n));
    rows.push_back(guest_operation(guest, "syscall", "syscall bounce user->kernel->user", n));
    rows.push_back(guest_operation(guest, "exception", "exception bounce (#UD in user mode, fixed up)", n));
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga-bench: {}\n", e.what());
    return 1;
  }
  fmt::print("Tortuga exit costs on {}, {} operations each\n\n", host_kind(), n);
  fmt::print("{:<48}{:>14}{:>12}\n", "operation", "us/op", "exits/op");
  for (const Row& r : rows) fmt::print("{:<48}{:>14.2f}{:>12.2f}\n", r.operation, r.us_per_op, r.exits_per_op);
  print_map_table(map_rows, single_update, batch_update);
  try {
    print_time_table(guest, 200);
    print_block_table(guest, std::max<uint64_t>(n / 10, 200));
    print_net_table(guest, std::max<uint64_t>(n, 2000));
    tortuga::bench::print_migration_table(guest);
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga-bench: {}\n", e.what());
    return 1;
  }
  if (!linux_dir.empty() && linux_table(linux_dir, n) != 0) return 1;
  fmt::print(
      "\nGuest operations are timed inside the guest with its pvclock; exits come from\n"
      "the VMM's counters, as (exits of n operations - exits of none) / n.\n");
  return 0;
}
