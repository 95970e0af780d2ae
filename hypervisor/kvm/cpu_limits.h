// A domain's share of host CPU (ABI.md 11.4): its weight and cap, applied
// by the host kernel's scheduler through the cpu controller of a cgroup
// that holds the whole VMM process (every vCPU and backend thread). There
// is no scheduler in the VMM: the kernel already shares CPUs fairly among
// threads, sleeps blocked vCPUs and balances load; a second scheduler in
// user space would only add exits and decisions the kernel has made.
//
// cgroup v2 (cpu.weight, cpu.max) where the unified hierarchy has the cpu
// controller, else cgroup v1 (cpu.shares, cpu.cfs_quota_us) — hosts such
// as this project's still mount v1.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tortuga {

class CpuLimitsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CpuLimits {
  uint32_t weight = 100;  // 1..10000, TG_SCHED_WEIGHT_*
  uint32_t cap = 0;       // percent of one host CPU, 0 = none
  bool is_default() const { return weight == 100 && cap == 0; }
};

// Puts this process in a new cgroup with the limits while it lives, and
// back in its old one (removing the new cgroup) when it dies.
class CpuLimitsCgroup {
 public:
  // Throws CpuLimitsError with the reason (no cpu controller, no
  // permission, values out of range).
  CpuLimitsCgroup(const std::string& domain_name, const CpuLimits& limits,
                  const std::filesystem::path& cgroup_root = "/sys/fs/cgroup");
  ~CpuLimitsCgroup();
  CpuLimitsCgroup(const CpuLimitsCgroup&) = delete;
  CpuLimitsCgroup& operator=(const CpuLimitsCgroup&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::filesystem::path parent_;
};

}  // namespace tortuga
