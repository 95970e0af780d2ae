// How tortuga-vmm ends: one line on stderr, the exit record a supervising
// daemon reads (it may not be our parent any more after it restarted, so it
// cannot see our status), and the exit status (DomainExit).
#pragma once

#include <cstdint>
#include <string>

#include "domain/domain.h"
#include "vcpu/exit_stats.h"
#include "vmm_control.pb.h"

namespace tortuga {

struct VmmEnding {
  std::string name;         // the domain's, for the stderr line
  std::string record_path;  // --exit-record; empty: none
};

// Prints, records and returns the exit status for `exit`.
int finish(const VmmEnding& ending, DomainExit exit, const std::string& reason, const ExitStats& stats = {},
           uint64_t uptime_ns = 0, const api::MigrationProgress& migration = {});

}  // namespace tortuga
