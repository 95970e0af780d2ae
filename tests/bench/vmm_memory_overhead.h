// The VMM's own memory for one domain: a tortuga-vmm child boots the Linux
// guest into tg-bench's idle kind, and while the guest sleeps the bench sums
// the resident memory of every mapping in /proc/PID/smaps except guest RAM
// (the one shared anonymous mapping of exactly the domain's memory size,
// hypervisor/memory/guest_memory.cpp). Firecracker's bar is 5 MiB.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace tortuga::bench {

struct VmmMemory {
  double rss_mib = 0;        // resident, outside guest RAM
  double pss_mib = 0;        // the same, shared pages divided among their users
  double anon_mib = 0;       // of rss_mib, anonymous (not file) pages
  double largest_mib = 0;    // the resident size of the largest such mapping
  double guest_rss_mib = 0;  // guest RAM the guest has touched, for scale
};

// Reads /proc/PID/smaps. Throws std::runtime_error when it cannot, or when
// no mapping is guest_ram_bytes long.
VmmMemory smaps_outside_guest_ram(pid_t pid, uint64_t guest_ram_bytes);

// Boots linux_dir's guest under tortuga-vmm (memory_mib MiB) and measures
// it while idle. Throws std::runtime_error when the domain misbehaves.
VmmMemory measure_vmm_memory(const std::string& linux_dir, uint64_t memory_mib);

}  // namespace tortuga::bench
