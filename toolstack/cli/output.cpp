#include "output.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace tortuga::cli {

std::string state_word(api::DomainInfo::State s) {
  switch (s) {
    case api::DomainInfo::STARTING: return "starting";
    case api::DomainInfo::RUNNING: return "running";
    case api::DomainInfo::PAUSED: return "paused";
    case api::DomainInfo::SHUTOFF: return "shutoff";
    case api::DomainInfo::CRASHED: return "crashed";
    case api::DomainInfo::LOST: return "lost";
    case api::DomainInfo::STOPPING: return "stopping";
    default: return "unknown";
  }
}

std::string list_header() {
  return fmt::format("{:<32} {:>5} {:>7} {:>5} {:>9} {:>9}\n", "Name", "ID", "Mem", "VCPUs", "State", "Time(s)");
}

std::string list_row(const api::DomainInfo& d) {
  return fmt::format("{:<32} {:>5} {:>7} {:>5} {:>9} {:>9.1f}\n", d.config().name(), d.domid(),
                     d.config().memory_mib(), d.config().vcpus(), state_word(d.state()),
                     static_cast<double>(d.stats().cpu_ns()) / 1e9);
}

std::string info_text(const api::DomainInfo& d) {
  const auto& c = d.config();
  std::string out;
  auto line = [&out](const char* key, const std::string& value) { out += fmt::format("{:<12} {}\n", key, value); };
  line("name:", c.name());
  line("id:", std::to_string(d.domid()));
  line("state:", state_word(d.state()));
  line("pid:", d.pid() > 0 ? std::to_string(d.pid()) : "-");
  line("memory:", fmt::format("{} MiB", c.memory_mib()));
  line("vcpus:", std::to_string(c.vcpus()));
  line("kernel:", c.kernel());
  if (!c.cmdline().empty()) line("cmdline:", c.cmdline());
  if (!c.initramfs().empty()) line("initramfs:", c.initramfs());
  line("on_crash:", api::DomainConfig::OnCrash_Name(c.on_crash()));
  line("cpu time:", fmt::format("{:.2f} s", static_cast<double>(d.stats().cpu_ns()) / 1e9));
  line("uptime:", fmt::format("{:.2f} s", static_cast<double>(d.stats().uptime_ns()) / 1e9));
  line("restarts:", std::to_string(d.restarts()));
  if (!d.end_reason().empty()) line("ended:", fmt::format("{} (exit status {})", d.end_reason(), d.exit_code()));
  if (!d.console_log().empty()) line("console log:", d.console_log());
  line("vmm log:", d.vmm_log());
  return out;
}

std::string stats_text(const api::DomainStats& s) {
  std::string out;
  auto row = [&out](const std::string& key, uint64_t value) {
    if (value != 0) out += fmt::format("{:<28} {:>14}\n", key, value);
  };
  row("exits", s.exits());
  row("kicks", s.kicks());
  row("hypercalls", s.hypercalls());
  std::map<std::string, uint64_t> ops(s.hypercalls_by_op().begin(), s.hypercalls_by_op().end());
  for (const auto& [op, n] : ops) row("  hypercall " + op, n);
  row("bad hypercalls", s.bad_hypercalls());
  std::map<uint32_t, uint64_t> vectors(s.exceptions_by_vector().begin(), s.exceptions_by_vector().end());
  for (const auto& [v, n] : vectors) row(fmt::format("exception vector {}", v), n);
  row("syscall bounces", s.syscall_bounces());
  row("events (upcalls)", s.upcalls());
  row("blocks", s.blocks());
  row("doorbell misses", s.doorbell_misses());
  row("other exits", s.other_exits());
  row("mmu requests", s.mmu_requests());
  row("multicall entries", s.multicall_entries());
  // Batching, the point of the PV MMU: requests per call.
  auto per_call = [&](const char* key, uint64_t items, std::initializer_list<const char*> ops) {
    uint64_t calls = 0;
    for (const char* op : ops) {
      auto it = s.hypercalls_by_op().find(op);
      if (it != s.hypercalls_by_op().end()) calls += it->second;
    }
    if (calls != 0) out += fmt::format("{:<28} {:>14.1f}\n", key, static_cast<double>(items) / calls);
  };
  per_call("  mmu requests per call", s.mmu_requests(), {"mmu_update", "mmuext_op"});
  per_call("  entries per multicall", s.multicall_entries(), {"multicall"});
  row("apply routines", s.apply_routines());
  row("apply exits", s.apply_exits());
  row("applied entries", s.applied_entries());
  row("tlb flushes", s.tlb_flushes());
  out += fmt::format("{:<28} {:>14.3f}\n", "cpu time (s)", static_cast<double>(s.cpu_ns()) / 1e9);
  out += fmt::format("{:<28} {:>14.3f}\n", "uptime (s)", static_cast<double>(s.uptime_ns()) / 1e9);
  return out;
}

std::string to_json(const google::protobuf::Message& message) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;  // scripts find every field, zero or not
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace tortuga::cli
