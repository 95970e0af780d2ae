// The destination side of a live migration (`tortuga-vmm --incoming-fd N`,
// hypervisor/migration/MIGRATION.md): the domain is built from the image stream as a
// restore builds it (ImageSource: every record checked, page batches of
// every round into RAM, a later copy of a gfn winning), then the
// switch-over: "ready" out, "go" in, and "running" once the vCPUs started.
// Until "go" nothing of the domain has run; any failure before it ends the
// destination with nothing left behind.
#pragma once

#include <memory>
#include <string>

#include "domain/domain.h"

namespace tortuga {

class MigrationReceiver {
 public:
  // `fd`: the connected stream socket, owned by the caller. A source that
  // sends nothing for kIdleTimeoutS fails the read.
  explicit MigrationReceiver(int fd);

  // Reads the stream up to its end record and builds the domain (not
  // running). Throws ImageError, RestoreError, KvmError.
  std::unique_ptr<Domain> receive(Console& console, const RestoreOptions& options);
  // "ready", then waits for "go"; throws SwitchOverError.
  void ready_and_await_go();
  // "running"; false (and why in `error`) if the source cannot be told.
  bool running(std::string& error) noexcept;
  // Best effort: the source learns why before the destination exits.
  void refuse(const std::string& why) noexcept;

  static constexpr int kIdleTimeoutS = 60;

 private:
  int fd_;
};

}  // namespace tortuga
