// tortugad's operations on its domains: the domain table, the state store
// and the VMM supervisor, driven by API requests (control_server.h) and by
// VMM exits. Runs on one Asio thread: every check-and-change of the table
// happens between two co_awaits, so two clients racing to create the same
// name end with one domain.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "asio.h"
#include "control.pb.h"
#include "domain_table.h"
#include "state_store.h"
#include "vmm_control.pb.h"
#include "vmm_supervisor.h"

namespace tortuga::toolstack {

// Where a tortugad listens for live migrations unless told otherwise.
constexpr uint16_t kDefaultMigrationPort = 7575;

struct DaemonOptions {
  std::string state_dir;
  std::string vmm_path;
  std::chrono::milliseconds start_timeout{10000};  // VMM start to control socket up
  std::chrono::milliseconds destroy_grace{5000};   // SIGTERM, then SIGKILL
  uint32_t max_restarts = 5;                       // on_crash=restart, per domain
};

class Daemon {
 public:
  Daemon(asio::io_context& io, DaemonOptions options);

  // At start: reads every record and re-adopts the VMMs still running (same
  // pid and start time, control socket answering); the others are recorded
  // as ended (their exit record) or lost.
  awaitable<void> recover();

  // One request, one response (not console attachments).
  awaitable<api::Response> handle(const api::Request& request);

  api::DomainRecord* find(const std::string& name_or_id) { return table_.find(name_or_id); }
  const StateStore& store() const { return store_; }

 private:
  awaitable<api::Response> create(api::DomainConfig config);
  awaitable<api::Response> list();
  awaitable<api::Response> info(const std::string& ref);
  awaitable<api::Response> set_paused(const std::string& ref, bool pause);
  awaitable<api::Response> shutdown(const std::string& ref, uint32_t timeout_s);
  awaitable<api::Response> destroy(const std::string& ref);
  awaitable<api::Response> reboot(const std::string& ref);
  // Live migration (daemon_migration.cpp): out to another tortugad, and in
  // from one (accept_migration, called by the migration listener).
 public:
  awaitable<void> accept_migration(TcpSocket socket);

 private:
  awaitable<api::Response> migrate_out(const api::MigrateRequest& request);
  api::Response migration_status(const std::string& ref);
  // Polls the source VMM for progress until the migration ends either way.
  awaitable<void> follow_migration(std::string name, uint32_t domid);
  // Saved images (daemon_images.cpp).
  awaitable<api::Response> save_domain(const std::string& ref, const std::string& path, bool keep);
  awaitable<api::Response> restore_domain(const std::string& path, const std::string& name);
  // Devices and memory (daemon_devices.cpp).
  awaitable<api::Response> mem_set(const std::string& ref, uint32_t mib);
  awaitable<api::Response> block_attach(const std::string& ref, api::Disk disk);
  awaitable<api::Response> block_detach(const std::string& ref, const std::string& vdev, bool force);
  awaitable<api::Response> network_attach(const std::string& ref, api::Nic nic);
  awaitable<api::Response> network_detach(const std::string& ref, const std::string& device, bool force);

  // One request to a running (or paused) domain's VMM: the reply's counters
  // and devices go into its info; when the VMM did it, on_success may change
  // the config (a device attached or detached) or return an error for the
  // user ("" = none); the record is saved. Arguments by reference, held by
  // the awaiting caller: GCC 12 mishandles temporaries (a lambda made into
  // a std::function) that live across a co_await (tortugad crashed in free).
  using OnVmmSuccess = std::function<std::string(const api::VmmReply&, api::DomainConfig&)>;
  awaitable<api::Response> vmm_operation(const std::string& ref, const api::VmmRequest& request,
                                         const OnVmmSuccess& on_success = kNoConfigChange);
  static const OnVmmSuccess kNoConfigChange;  // empty

  // The pid a VMM reports on the record's control socket, 0 if none answers.
  awaitable<pid_t> pid_behind_control_socket(const api::DomainRecord& record);
  // Spawns the VMM for a record (state STARTING) and watches it.
  // restore_image: run the domain saved there (by the domain with id
  // saved_domid: its TAP names) instead of booting its kernel; incoming_fd:
  // receive it live on this connection (a migration), likewise.
  void start_vmm(api::DomainRecord& record, const std::string& restore_image = "", uint32_t saved_domid = 0,
                 int incoming_fd = -1);
  // Waits for a just-started VMM; on failure stops it and forgets the domain.
  awaitable<api::Response> finish_start(std::string name, uint32_t domid);
  // Waits until the VMM's control socket answers: "" when RUNNING, else why not.
  awaitable<std::string> wait_until_up(std::string name, uint32_t domid,
                                       std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // wait_until_up for a start nobody waits on (restarts, recovery): a VMM
  // that never answers is stopped and the domain recorded as crashed.
  awaitable<void> settle_start(std::string name, uint32_t domid);
  // Waits until the domain's VMM is gone (or the record is); false on timeout.
  awaitable<bool> wait_for_exit(std::string name, uint32_t domid, std::chrono::milliseconds timeout);
  // SIGTERM, the grace period, SIGKILL; returns once the VMM is gone.
  awaitable<void> stop_vmm(std::string name, uint32_t domid);
  // Refreshes a running domain's counters and paused state from its VMM.
  awaitable<void> refresh(std::string name, uint32_t domid);
  void on_vmm_exit(pid_t pid, std::optional<int> wait_status);
  // One line in the daemon's log and in the domain's VMM log.
  void note(const std::string& name, spdlog::level::level_enum level, const std::string& text);
  void forget(const std::string& name);
  void save(const api::DomainRecord& record);
  bool has_vmm(const api::DomainRecord& record) const { return record.info().pid() > 0; }

  asio::io_context& io_;
  DaemonOptions options_;
  StateStore store_;
  DomainTable table_;
  VmmSupervisor supervisor_;
  std::set<std::string> destroying_;                          // destroy: forget the domain when its VMM is gone
  std::map<std::string, std::string> end_notes_;              // why we stopped it, for its end reason
  std::map<std::string, std::string> saving_;                 // save without --keep: the image, until the VMM ends
  std::set<std::string> incoming_;                            // migrating in: its VMM receives the stream
  std::map<std::string, api::MigrationProgress> migrations_;  // the last migration out of each name
};

// "domain 'NAME'": how errors name a domain.
std::string domain_label(const std::string& name);
const char* state_name(api::DomainInfo::State state);
// A response that is only an error: one line naming the domain and the cause.
api::Response error_response(std::string text);

}  // namespace tortuga::toolstack
