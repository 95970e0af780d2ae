// migrate and migrate-cancel: live migration to another tortugad (ABI.md
// 21, hypervisor/migration/MIGRATION.md), with a progress line per pre-copy round
// like `xl migrate` and `virsh migrate --verbose`.
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "commands.h"
#include "output.h"

namespace tortuga::cli {
namespace {

using Progress = api::MigrationProgress;

std::string progress_line(const Progress& p) {
  const char* phase = p.phase() == Progress::PRECOPY         ? "pre-copy"
                      : p.phase() == Progress::STOP_AND_COPY ? "stop-and-copy"
                      : p.phase() == Progress::SWITCH_OVER   ? "switch-over"
                                                             : "";
  return fmt::format(
      "round {}: {} pages sent ({:.1f} MiB on the wire), {} dirty, dirtying {} pages/s, "
      "estimated downtime {} ms{}{}",
      p.round(), p.pages_sent(), static_cast<double>(p.bytes_sent()) / (1 << 20), p.pages_dirty(),
      p.dirty_pages_per_s(), p.estimated_downtime_ms(), *phase ? ", " : "", phase);
}

std::string rounds_text(const Progress& p) {
  std::string out;
  for (uint64_t pages : p.pages_per_round()) out += (out.empty() ? "" : " ") + std::to_string(pages);
  return out;
}

Progress poll(const Context& context, const std::string& domain) {
  api::Request r;
  r.mutable_migration_status()->set_domain(domain);
  return ApiClient(context).call(r).migration();
}

}  // namespace

void add_migrate_commands(CLI::App& app, Context& context) {
  struct Args {
    std::string domain, destination;
    uint32_t max_rounds = 0;
    uint64_t max_downtime_ms = 0, bandwidth = 0;
  };
  auto a = std::make_shared<Args>();
  auto* migrate = app.add_subcommand("migrate", "move a running domain to another tortugad, live (pre-copy)");
  migrate->add_option("domain", a->domain, "name or id")->required();
  migrate
      ->add_option("destination", a->destination, "HOST[:PORT] of the other tortugad's migration listener (port 7575)")
      ->required();
  migrate->add_option("--max-rounds", a->max_rounds, "pre-copy rounds before stop-and-copy (default 30)");
  migrate->add_option("--max-downtime", a->max_downtime_ms, "stop-and-copy once it would take less (ms, default 300)");
  migrate->add_option("--bandwidth", a->bandwidth, "cap the stream (MiB/s, default none)");
  migrate->callback([&context, a] {
    api::Request r;
    api::MigrateRequest& m = *r.mutable_migrate();
    m.set_domain(a->domain);
    std::string host = a->destination;
    uint32_t port = 0;
    // HOST:PORT, [V6]:PORT; a bare IPv6 address has several colons.
    if (auto colon = host.rfind(':'); colon != std::string::npos && host.find(':') == colon) {
      port = static_cast<uint32_t>(std::stoul(host.substr(colon + 1)));
      host = host.substr(0, colon);
    } else if (host.starts_with('[') && host.find("]:") != std::string::npos) {
      port = static_cast<uint32_t>(std::stoul(host.substr(host.find("]:") + 2)));
      host = host.substr(1, host.find("]:") - 1);
    }
    m.set_host(host);
    m.set_port(port);
    m.set_max_rounds(a->max_rounds);
    m.set_max_downtime_ms(a->max_downtime_ms);
    m.set_bandwidth_mib_s(a->bandwidth);
    ApiClient(context).call(r);
    uint32_t shown_round = 0;
    Progress p;
    for (;;) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      p = poll(context, a->domain);
      if (!context.json && p.round() != shown_round && p.phase() != Progress::DONE) {
        shown_round = p.round();
        fmt::print("{}\n", progress_line(p));
        std::fflush(stdout);
      }
      if (p.phase() == Progress::DONE || p.phase() == Progress::FAILED || p.phase() == Progress::CANCELLED) break;
    }
    if (context.json) std::cout << to_json(p);
    if (p.phase() != Progress::DONE) {
      throw CliError(fmt::format("domain '{}': {}{}", a->domain,
                                 p.phase() == Progress::CANCELLED ? "cancelled" : "failed",
                                 p.error().empty() ? "" : ": " + p.error()));
    }
    if (!context.json) {
      fmt::print("domain '{}' migrated to {}: {} ms in all, downtime {} ms, {} rounds (pages: {}), {:.1f} MiB sent\n",
                 a->domain, a->destination, p.total_ms(), p.downtime_ms(), p.pages_per_round_size(), rounds_text(p),
                 static_cast<double>(p.bytes_sent()) / (1 << 20));
    }
  });

  auto cancel_domain = std::make_shared<std::string>();
  auto* cancel =
      app.add_subcommand("migrate-cancel", "stop a live migration before the switch-over; the domain runs on here");
  cancel->add_option("domain", *cancel_domain, "name or id")->required();
  cancel->callback([&context, cancel_domain] {
    api::Request r;
    r.mutable_migrate_cancel()->set_domain(*cancel_domain);
    ApiClient(context).call(r);
    if (!context.json) fmt::print("domain '{}': migration cancelled\n", *cancel_domain);
  });
}

}  // namespace tortuga::cli
