// list, info, stats, top.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "commands.h"
#include "output.h"

namespace tortuga::cli {
namespace {

api::DomainList fetch_list(const Context& context) {
  api::Request request;
  request.mutable_list();
  return ApiClient(context).call(request).list();
}

api::DomainInfo fetch_info(const Context& context, const std::string& domain) {
  api::Request request;
  request.mutable_info()->set_domain(domain);
  return ApiClient(context).call(request).domain();
}

struct Sample {
  uint64_t cpu_ns, uptime_ns, exits, hypercalls, events;
  uint64_t block_requests, block_bytes, net_frames, net_bytes;
};

Sample sample_of(const api::DomainStats& s) {
  return {s.cpu_ns(),
          s.uptime_ns(),
          s.exits(),
          s.hypercalls(),
          s.upcalls(),
          s.block_reads() + s.block_writes() + s.block_other(),
          s.block_read_bytes() + s.block_write_bytes(),
          s.net_tx_frames() + s.net_rx_frames(),
          s.net_tx_bytes() + s.net_rx_bytes()};
}

// Rates between two samples of the same VMM, per second of its uptime.
api::DomainRates rates_of(const api::DomainInfo& d, const Sample* before) {
  api::DomainRates r;
  r.set_name(d.config().name());
  r.set_domid(d.domid());
  r.set_state(d.state());
  Sample now = sample_of(d.stats());
  if (before == nullptr || now.uptime_ns <= before->uptime_ns) return r;
  double secs = static_cast<double>(now.uptime_ns - before->uptime_ns) / 1e9;
  auto rate = [secs](uint64_t a, uint64_t b) { return b >= a ? static_cast<double>(b - a) / secs : 0.0; };
  r.set_rates_known(true);
  r.set_cpu_percent(rate(before->cpu_ns, now.cpu_ns) / 1e7);
  r.set_exits_per_s(rate(before->exits, now.exits));
  r.set_hypercalls_per_s(rate(before->hypercalls, now.hypercalls));
  r.set_events_per_s(rate(before->events, now.events));
  r.set_block_iops(rate(before->block_requests, now.block_requests));
  r.set_block_mib_per_s(rate(before->block_bytes, now.block_bytes) / (1 << 20));
  r.set_net_frames_per_s(rate(before->net_frames, now.net_frames));
  r.set_net_mib_per_s(rate(before->net_bytes, now.net_bytes) / (1 << 20));
  return r;
}

std::string top_row(const api::DomainRates& r) {
  auto shown = [&r](double v, const char* format) {
    return r.rates_known() ? fmt::format(fmt::runtime(format), v) : "-";
  };
  return fmt::format("{:<24} {:>5} {:>9} {:>7} {:>10} {:>12} {:>10} {:>9} {:>9} {:>9} {:>9}\n", r.name(), r.domid(),
                     state_word(r.state()), shown(r.cpu_percent(), "{:.1f}"), shown(r.exits_per_s(), "{:.0f}"),
                     shown(r.hypercalls_per_s(), "{:.0f}"), shown(r.events_per_s(), "{:.0f}"),
                     shown(r.block_iops(), "{:.0f}"), shown(r.block_mib_per_s(), "{:.1f}"),
                     shown(r.net_frames_per_s(), "{:.0f}"), shown(r.net_mib_per_s(), "{:.1f}"));
}

void run_top(const Context& context, double delay_s, int iterations) {
  bool tty = ::isatty(STDOUT_FILENO) && !context.json;
  std::map<std::string, Sample> last;
  for (int i = 0; iterations <= 0 || i < iterations; ++i) {
    api::DomainList list = fetch_list(context);
    api::TopSample sample;
    std::map<std::string, Sample> next;
    for (const auto& d : list.domains()) {
      // A new VMM (restart) starts its counters again: no rate across it.
      std::string key = fmt::format("{}/{}/{}", d.config().name(), d.domid(), d.pid());
      auto it = last.find(key);
      *sample.add_domains() = rates_of(d, d.pid() > 0 && it != last.end() ? &it->second : nullptr);
      next[key] = sample_of(d.stats());
    }
    std::string screen = tty ? "\x1b[H\x1b[2J" : "";
    if (context.json) {
      screen = to_json(sample);
    } else {
      screen +=
          fmt::format("{:<24} {:>5} {:>9} {:>7} {:>10} {:>12} {:>10} {:>9} {:>9} {:>9} {:>9}\n", "NAME", "ID", "STATE",
                      "CPU(%)", "EXITS/s", "HCALLS/s", "EVENTS/s", "BLKIO/s", "BLKMiB/s", "NETPK/s", "NETMiB/s");
      for (const auto& r : sample.domains()) screen += top_row(r);
      if (!tty) screen += "\n";
    }
    std::cout << screen << std::flush;
    last = std::move(next);
    if (iterations <= 0 || i + 1 < iterations) {
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(delay_s * 1000)));
    }
  }
}

}  // namespace

void add_query_commands(CLI::App& app, Context& context) {
  auto* list = app.add_subcommand("list", "list domains (Name ID Mem VCPUs State Time(s))");
  list->alias("ls");
  auto only = std::make_shared<std::vector<std::string>>();
  list->add_option("domains", *only, "only these (names or ids)");
  list->callback([&context, only] {
    api::DomainList all = fetch_list(context), domains;
    for (const auto& d : all.domains()) {
      bool wanted = only->empty();
      for (const auto& key : *only) wanted = wanted || key == d.config().name() || key == std::to_string(d.domid());
      if (wanted) *domains.add_domains() = d;
    }
    for (const auto& key : *only) {
      bool found = false;
      for (const auto& d : domains.domains())
        found = found || key == d.config().name() || key == std::to_string(d.domid());
      if (!found) throw CliError(fmt::format("no domain '{}'", key));
    }
    if (context.json) {
      std::cout << to_json(domains);
      return;
    }
    std::cout << list_header();
    for (const auto& d : domains.domains()) std::cout << list_row(d);
  });

  auto domain = std::make_shared<std::string>();
  auto* info = app.add_subcommand("info", "a domain's config, state and how it last ended");
  info->add_option("domain", *domain, "name or id")->required();
  info->callback([&context, domain] {
    api::DomainInfo d = fetch_info(context, *domain);
    std::cout << (context.json ? to_json(d) : info_text(d));
  });

  auto stats_domain = std::make_shared<std::string>();
  auto* stats = app.add_subcommand("stats", "a domain's VMM counters: exits, hypercalls by operation, events");
  stats->add_option("domain", *stats_domain, "name or id")->required();
  stats->callback([&context, stats_domain] {
    api::Request request;
    request.mutable_stats()->set_domain(*stats_domain);
    api::DomainInfo d = ApiClient(context).call(request).domain();
    std::cout << (context.json ? to_json(d.stats()) : stats_text(d.stats()));
  });

  auto delay = std::make_shared<double>(1.0);
  auto iterations = std::make_shared<int>(0);
  auto* top =
      app.add_subcommand("top", "per domain: CPU, exits/s, hypercalls/s, events/s, block and network I/O, refreshed");
  top->add_option("-d,--delay", *delay, "seconds between refreshes")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  top->add_option("-n,--iterations", *iterations, "stop after this many refreshes (0 = until Ctrl-C)")
      ->capture_default_str();
  top->callback([&context, delay, iterations] { run_top(context, *delay, *iterations); });
}

}  // namespace tortuga::cli
