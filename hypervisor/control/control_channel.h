// The per-domain control channel (`tortuga-vmm --control PATH`): a Unix
// socket that tortugad connects to, speaking length-prefixed protobuf
// (toolstack/proto/vmm_control.proto): status and counters, pause and
// unpause, shutdown and reboot requests, destroy, a memory target, and
// hot-plug of disks and NICs. Every reply carries the devices and the
// memory figures. One thread serves one connection at a time (a detach
// blocks it until the guest lets go or the timeout passes); a daemon that
// restarts reconnects.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "devices/device_set.h"
#include "devices/device_spec.h"
#include "migration/migration_sender.h"
#include "unique_fd.h"
#include "vmm_control.pb.h"

namespace tortuga {

class Domain;
struct ExitStats;

class ControlChannel {
 public:
  // Listens at `path` (mode 0600) and serves requests for `domain` until
  // destroyed; the socket file is removed then. Throws std::runtime_error.
  ControlChannel(Domain& domain, const std::string& path);
  ~ControlChannel();
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;

 private:
  void serve();
  void serve_connection(int fd);
  api::VmmReply handle(const api::VmmRequest& request, UniqueFd stream);

 public:
  // The progress of the last migration out (NONE when there was none).
  api::MigrationProgress migration_progress() const;

 private:
  void perform(const api::VmmRequest& request, UniqueFd stream, api::VmmReply& reply);
  void migrate_send(const api::MigrateSend& request, UniqueFd stream);
  void migrate_cancel();
  bool migrating() const;
  void set_memory_target(uint64_t mib);
  void detach(const api::DeviceDetach& d);
  void save(const api::SaveRequest& request, api::VmmReply& reply);

  Domain& domain_;
  std::string path_;
  UniqueFd listener_;
  UniqueFd stop_event_;  // eventfd: wakes the thread to end
  std::thread thread_;
  // The last migration, kept for its progress; only the serving thread
  // changes the pointer (its sender has a thread of its own).
  std::unique_ptr<MigrationSender> migration_;
};

// A migration's progress in the API's terms.
api::MigrationProgress to_migration_progress(const MigrationStatus& status);

// ExitStats and the process's CPU time in the API's terms.
api::DomainStats to_domain_stats(const ExitStats& stats, uint64_t uptime_ns);
// The backends' I/O totals into the same message.
void add_io_stats(const IoCounters& io, api::DomainStats& out);
// The API's device messages and the VMM's specs (checked by the domain).
DiskSpec to_disk_spec(const api::DiskAttach& a);
NicSpec to_nic_spec(const api::NicAttach& a);
api::DeviceStatus to_device_status(const DeviceInfo& d);

}  // namespace tortuga
