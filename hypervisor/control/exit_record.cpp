#include "control/exit_record.h"

#include <cstdio>

#include <fmt/format.h>

#include "atomic_file.h"
#include "control/control_channel.h"

namespace tortuga {
namespace {

void write_exit_record(const std::string& path, int code, const std::string& reason, const ExitStats& stats,
                       uint64_t uptime_ns, const api::MigrationProgress& migration) {
  if (path.empty()) return;
  api::VmmExitRecord record;
  record.set_exit_code(code);
  record.set_reason(reason);
  *record.mutable_stats() = to_domain_stats(stats, uptime_ns);
  if (migration.phase() != api::MigrationProgress::NONE) *record.mutable_migration() = migration;
  try {
    write_file_atomically(path, record.SerializeAsString());
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga-vmm: cannot write the exit record: {}\n", e.what());
  }
}

}  // namespace

int finish(const VmmEnding& ending, DomainExit exit, const std::string& reason, const ExitStats& stats,
           uint64_t uptime_ns, const api::MigrationProgress& migration) {
  fmt::print(stderr, "tortuga-vmm: {}: {}\n", ending.name, reason);
  write_exit_record(ending.record_path, static_cast<int>(exit), reason, stats, uptime_ns, migration);
  return static_cast<int>(exit);
}

}  // namespace tortuga
