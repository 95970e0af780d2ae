#include "vmm_memory_overhead.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "vmm_process.h"

namespace tortuga::bench {

namespace {

struct Mapping {
  uint64_t bytes = 0;
  uint64_t rss_kib = 0, pss_kib = 0, anon_kib = 0;
};

// The value of a "Key:   N kB" line when the line is that key's.
bool kib_field(const std::string& line, const char* key, uint64_t& out) {
  std::string prefix = std::string(key) + ":";
  if (line.compare(0, prefix.size(), prefix) != 0) return false;
  out = std::strtoull(line.c_str() + prefix.size(), nullptr, 10);
  return true;
}

std::vector<Mapping> read_smaps(pid_t pid) {
  std::string path = fmt::format("/proc/{}/smaps", pid);
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<Mapping> maps;
  for (std::string line; std::getline(in, line);) {
    unsigned long long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx ", &lo, &hi) == 2) {
      maps.push_back({hi - lo});
    } else if (!maps.empty()) {
      Mapping& m = maps.back();
      kib_field(line, "Rss", m.rss_kib) || kib_field(line, "Pss", m.pss_kib) ||
          kib_field(line, "Anonymous", m.anon_kib);
    }
  }
  return maps;
}

constexpr double kKibPerMib = 1024.0;

}  // namespace

VmmMemory smaps_outside_guest_ram(pid_t pid, uint64_t guest_ram_bytes) {
  VmmMemory m;
  bool found_ram = false;
  for (const Mapping& map : read_smaps(pid)) {
    if (map.bytes == guest_ram_bytes) {
      found_ram = true;
      m.guest_rss_mib += static_cast<double>(map.rss_kib) / kKibPerMib;
      continue;
    }
    m.rss_mib += static_cast<double>(map.rss_kib) / kKibPerMib;
    m.pss_mib += static_cast<double>(map.pss_kib) / kKibPerMib;
    m.anon_mib += static_cast<double>(map.anon_kib) / kKibPerMib;
    m.largest_mib = std::max(m.largest_mib, static_cast<double>(map.rss_kib) / kKibPerMib);
  }
  if (!found_ram) {
    throw std::runtime_error(fmt::format("no guest RAM mapping of {} bytes in pid {}'s smaps", guest_ram_bytes, pid));
  }
  return m;
}

VmmMemory measure_vmm_memory(const std::string& linux_dir, uint64_t memory_mib) {
  constexpr int kIdleSeconds = 4;
  testing::VmmChild vmm({linux_dir + "/vmlinux", "--name", "linux-bench-memory", "--memory", std::to_string(memory_mib),
                         "--initramfs", linux_dir + "/initramfs.cpio.gz", "--cmdline",
                         fmt::format("console=hvc0 quiet tortuga.bench=idle tortuga.n={}", kIdleSeconds)});
  if (!vmm.wait_for_console("tg-bench idle begin", 0, 600'000)) {
    throw std::runtime_error("tortuga-vmm never reached tg-bench idle: " + vmm.messages());
  }
  std::this_thread::sleep_for(std::chrono::seconds(1));  // let the boot's last work settle
  VmmMemory m = smaps_outside_guest_ram(vmm.pid(), memory_mib << 20);
  testing::VmmRun run = vmm.wait();
  if (run.exit_code != 0) throw std::runtime_error("tortuga-vmm for the memory row: " + run.messages);
  return m;
}

}  // namespace tortuga::bench
