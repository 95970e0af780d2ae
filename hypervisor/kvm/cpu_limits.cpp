#include "kvm/cpu_limits.h"

#include <unistd.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <tortuga/vcpu.h>

namespace tortuga {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& file, const std::string& value) {
  std::ofstream out(file);
  out << value;
  out.flush();
  if (!out) throw CpuLimitsError(fmt::format("cannot write '{}' to {}", value, file.string()));
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool v2_has_cpu(const fs::path& root) {
  std::istringstream controllers(read_file(root / "cgroup.controllers"));
  std::string c;
  while (controllers >> c) {
    if (c == "cpu") return true;
  }
  return false;
}

}  // namespace

CpuLimitsCgroup::CpuLimitsCgroup(const std::string& domain_name, const CpuLimits& limits, const fs::path& root) {
  if (limits.weight < TG_SCHED_WEIGHT_MIN || limits.weight > TG_SCHED_WEIGHT_MAX) {
    throw CpuLimitsError(fmt::format("weight must be between {} and {}, not {}", TG_SCHED_WEIGHT_MIN,
                                     TG_SCHED_WEIGHT_MAX, limits.weight));
  }
  std::string leaf = fmt::format("tortuga-{}-{}", domain_name, ::getpid());
  std::error_code ec;
  if (v2_has_cpu(root)) {
    parent_ = root;
    path_ = root / leaf;
    if (!fs::create_directory(path_, ec))
      throw CpuLimitsError(fmt::format("cannot create {}: {}", path_.string(), ec.message()));
    write_file(path_ / "cpu.weight", std::to_string(limits.weight));
    uint64_t period = TG_SCHED_CAP_PERIOD_US;
    write_file(path_ / "cpu.max", limits.cap == 0 ? fmt::format("max {}", period)
                                                  : fmt::format("{} {}", uint64_t{limits.cap} * period / 100, period));
  } else if (fs::exists(root / "cpu" / "cpu.shares")) {
    parent_ = root / "cpu";
    path_ = parent_ / leaf;
    if (!fs::create_directory(path_, ec))
      throw CpuLimitsError(fmt::format("cannot create {}: {}", path_.string(), ec.message()));
    // v1 shares are 1024 for the default weight of 100.
    write_file(path_ / "cpu.shares", std::to_string(std::max<uint64_t>(2, uint64_t{limits.weight} * 1024 / 100)));
    uint64_t period = TG_SCHED_CAP_PERIOD_US;
    write_file(path_ / "cpu.cfs_period_us", std::to_string(period));
    write_file(path_ / "cpu.cfs_quota_us",
               limits.cap == 0 ? std::string("-1") : std::to_string(uint64_t{limits.cap} * period / 100));
  } else {
    throw CpuLimitsError(fmt::format("no cgroup cpu controller under {}", root.string()));
  }
  write_file(path_ / "cgroup.procs", std::to_string(::getpid()));
}

CpuLimitsCgroup::~CpuLimitsCgroup() {
  try {
    write_file(parent_ / "cgroup.procs", std::to_string(::getpid()));
    std::error_code ec;
    fs::remove(path_, ec);
  } catch (const CpuLimitsError&) {
    // Leaving an empty cgroup behind is all that can go wrong here.
  }
}

}  // namespace tortuga
