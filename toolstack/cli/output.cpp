#include "output.h"

#include "devices.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

namespace tortuga::cli {
namespace {

uint32_t vbd_number(const std::string& vdev) { return toolstack::vbd_id(vdev).value_or(0); }

// A device's state by its ABI.md 17.2 name.
std::string device_state(int32_t state) {
  static const char* const names[] = {"unknown",   "initialising", "initwait", "initialised",
                                      "connected", "closing",      "closed"};
  return state >= 0 && state <= 6 ? names[state] : fmt::format("state {}", state);
}

// Disks and NICs from the config, with what the VMM said about each.
std::string devices_text(const api::DomainInfo& d) {
  std::string out;
  auto live = [&d](const char* type, uint32_t id) -> const api::DeviceStatus* {
    for (const auto& dev : d.devices()) {
      if (dev.type() == type && dev.id() == id) return &dev;
    }
    return nullptr;
  };
  auto states = [](const api::DeviceStatus* dev) {
    return dev == nullptr ? std::string()
                          : fmt::format(", backend {}, frontend {}", device_state(dev->state()),
                                        device_state(dev->frontend_state()));
  };
  for (const auto& disk : d.config().disks()) {
    const auto* dev = live("vbd", vbd_number(disk.vdev()));
    out += fmt::format("{:<12} {} {}{}{}\n", "disk:", disk.vdev(), disk.path(), disk.readonly() ? " (read-only)" : "",
                       states(dev));
  }
  for (const auto& nic : d.config().nics()) {
    const auto* dev = live("vif", nic.devid());
    out += fmt::format("{:<12} {} mac {}{}{}{}\n", "nic:", nic.devid(), nic.mac(),
                       dev != nullptr && !dev->name().empty() ? ", tap " + dev->name() : "",
                       nic.bridge().empty() ? "" : ", bridge " + nic.bridge(), states(dev));
  }
  return out;
}

}  // namespace

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

// MiB the domain holds now: after ballooning when its VMM said, else its
// configured memory (as `xl list` shows current memory).
uint64_t memory_now_mib(const api::DomainInfo& d) {
  return d.memory_current_kib() != 0 ? d.memory_current_kib() / 1024 : d.config().memory_mib();
}

std::string list_row(const api::DomainInfo& d) {
  return fmt::format("{:<32} {:>5} {:>7} {:>5} {:>9} {:>9.1f}\n", d.config().name(), d.domid(), memory_now_mib(d),
                     d.config().vcpus(), state_word(d.state()), static_cast<double>(d.stats().cpu_ns()) / 1e9);
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
  if (d.memory_current_kib() != 0) {
    line("balloon:",
         fmt::format("{} MiB now, target {} MiB", d.memory_current_kib() / 1024, d.memory_target_kib() / 1024));
  }
  line("vcpus:", std::to_string(c.vcpus()));
  line("kernel:", c.kernel());
  if (!c.cmdline().empty()) line("cmdline:", c.cmdline());
  if (!c.initramfs().empty()) line("initramfs:", c.initramfs());
  line("on_crash:", api::DomainConfig::OnCrash_Name(c.on_crash()));
  out += devices_text(d);
  line("cpu time:", fmt::format("{:.2f} s", static_cast<double>(d.stats().cpu_ns()) / 1e9));
  line("uptime:", fmt::format("{:.2f} s", static_cast<double>(d.stats().uptime_ns()) / 1e9));
  line("restarts:", std::to_string(d.restarts()));
  if (!d.end_reason().empty()) line("ended:", fmt::format("{} (exit status {})", d.end_reason(), d.exit_code()));
  if (!d.console_log().empty()) line("console log:", d.console_log());
  line("vmm log:", d.vmm_log());
  return out;
}

namespace {

// " 1:120 2-3:4 512-1023:2": a histogram's non-empty buckets, items:calls.
std::string batches_row(const google::protobuf::RepeatedPtrField<api::BatchBucket>& buckets) {
  std::string row;
  for (const auto& b : buckets) {
    std::string items = b.min_items() == b.max_items() ? fmt::format("{}", b.min_items())
                                                       : fmt::format("{}-{}", b.min_items(), b.max_items());
    row += fmt::format(" {}:{}", items, b.calls());
  }
  return row;
}

// The page-table kinds as "alone  in multicall" pairs, the multicall
// entries by hypercall, and each batch-size histogram on one line.
std::string page_table_text(const api::DomainStats& s) {
  std::string out;
  if (!s.mmu_requests_by_kind().empty()) {
    out += fmt::format("{:<28} {:>14} {:>14}\n", "page-table requests", "alone", "in multicall");
  }
  for (const auto& k : s.mmu_requests_by_kind()) {
    out += fmt::format("  {:<26} {:>14} {:>14}\n", k.kind(), k.alone(), k.in_multicall());
  }
  std::map<std::string, uint64_t> entries(s.multicall_entries_by_op().begin(), s.multicall_entries_by_op().end());
  for (const auto& [op, n] : entries) out += fmt::format("{:<28} {:>14}\n", "multicall entries " + op, n);
  auto batches = [&out](const char* name, const google::protobuf::RepeatedPtrField<api::BatchBucket>& buckets) {
    if (!buckets.empty()) out += fmt::format("{:<28}{}\n", fmt::format("{} batches", name), batches_row(buckets));
  };
  batches("mmu_update", s.mmu_update_batches());
  batches("mmuext_op", s.mmuext_op_batches());
  batches("multicall", s.multicall_batches());
  return out;
}

}  // namespace

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
  row("batches carried by iret", s.carried_batches());
  out += page_table_text(s);
  row("block reads", s.block_reads());
  row("  bytes read", s.block_read_bytes());
  row("block writes", s.block_writes());
  row("  bytes written", s.block_write_bytes());
  row("block flushes, discards", s.block_other());
  row("net frames sent", s.net_tx_frames());
  row("  bytes sent", s.net_tx_bytes());
  row("net frames received", s.net_rx_frames());
  row("  bytes received", s.net_rx_bytes());
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
