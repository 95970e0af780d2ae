// The three ways tortuga-vmm gets its domain: booted from a kernel,
// restored from a saved image, or received from a live migration. Each
// returns the domain built and not yet running; a failure is one exception
// (ImageError, RestoreError, KernelImageError, ...), caught by main.
#pragma once

#include <memory>
#include <optional>

#include "control/vmm_options.h"
#include "devices/console.h"
#include "domain/domain.h"
#include "migration/migration_receiver.h"

namespace tortuga {

struct StartedDomain {
  std::unique_ptr<Domain> domain;
  // Set for an incoming migration: the switch-over is still to come.
  std::optional<MigrationReceiver> receiver;
};

// Boots, restores or receives, as the options say. options.config.name
// becomes the domain's own (a restored domain keeps its saved name unless
// --name renamed it).
StartedDomain start_domain(VmmOptions& options, Console& console);

}  // namespace tortuga
