#include "daemon.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "atomic_file.h"
#include "config.h"
#include "vmm_client.h"
#include "vmm_control.pb.h"
#include "vmm_process.h"
#include "vmm_reply.h"
#include "devices.h"

namespace tortuga::toolstack {
namespace {

using State = api::DomainInfo;
using namespace std::chrono_literals;

constexpr size_t kMaxExitRecordBytes = 64 * 1024;
constexpr auto kPollInterval = 20ms;
// tortuga-vmm's exit codes (README, ABI.md "Domain exit").
constexpr int kExitPoweroff = 0, kExitReboot = 4, kExitSuspend = 6, kExitDestroyed = 7, kExitMigrated = 8,
              kMaxExitCode = 8;

api::Response domain_response(const api::DomainRecord& record) {
  api::Response r;
  *r.mutable_domain() = record.info();
  return r;
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = sigabbrev_np(sig);
    return fmt::format("tortuga-vmm was killed by signal {} (SIG{})", sig, name ? name : "?");
  }
  return fmt::format("tortuga-vmm exited with status {}", WEXITSTATUS(status));
}

std::optional<api::VmmExitRecord> read_exit_record(const std::string& path) {
  try {
    std::string data;
    if (path.empty() || !read_small_file(path, data, kMaxExitRecordBytes)) return std::nullopt;
    api::VmmExitRecord record;
    if (!record.ParseFromString(data)) return std::nullopt;
    if (record.exit_code() < 0 || record.exit_code() > kMaxExitCode) return std::nullopt;
    record.set_reason(clean_line(record.reason()));
    return record;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

bool is_live(State::State s) {
  return s == State::STARTING || s == State::RUNNING || s == State::PAUSED || s == State::STOPPING;
}

awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

// Runs the tasks concurrently on this coroutine's executor and returns when
// every one has finished (each handles its own errors).
awaitable<void> all_of(std::vector<awaitable<void>> tasks) {
  auto executor = co_await asio::this_coro::executor;
  auto remaining = std::make_shared<size_t>(tasks.size());
  auto all_done = std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
  for (auto& task : tasks) {
    asio::co_spawn(
        executor,
        [task = std::move(task), remaining, all_done]() mutable -> awaitable<void> {
          try {
            co_await std::move(task);
          } catch (const std::exception& e) {
            spdlog::warn("a concurrent task failed: {}", e.what());
          }
          if (--*remaining == 0) all_done->cancel();
        },
        asio::detached);
  }
  if (*remaining != 0) {
    boost::system::error_code ec;
    co_await all_done->async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

}  // namespace

std::string domain_label(const std::string& name) { return fmt::format("domain '{}'", name); }

api::Response error_response(std::string text) {
  api::Response r;
  r.set_error(std::move(text));
  return r;
}

const char* state_name(State::State s) {
  switch (s) {
    case State::STARTING: return "starting";
    case State::RUNNING: return "running";
    case State::PAUSED: return "paused";
    case State::SHUTOFF: return "shutoff";
    case State::CRASHED: return "crashed";
    case State::LOST: return "lost";
    case State::STOPPING: return "stopping";
    default: return "unknown";
  }
}

Daemon::Daemon(asio::io_context& io, DaemonOptions options)
    : io_(io),
      options_(std::move(options)),
      store_(options_.state_dir),
      supervisor_(io, [this](pid_t pid, std::optional<int> status) { on_vmm_exit(pid, status); }) {}

void Daemon::save(const api::DomainRecord& record) {
  try {
    store_.save(record);
  } catch (const std::exception& e) {
    spdlog::error("{}: cannot persist its record: {}", domain_label(record.info().config().name()), e.what());
  }
}

void Daemon::note(const std::string& name, spdlog::level::level_enum level, const std::string& text) {
  spdlog::log(level, "{}: {}", domain_label(name), text);
  // The domain's own log tells its whole story next to what its VMM said.
  std::ofstream log(store_.vmm_log(name), std::ios::app);
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
  log << stamp << " tortugad: " << text << "\n";
}

void Daemon::forget(const std::string& name) {
  table_.erase(name);
  store_.remove(name);
  store_.remove_run_dir(name);
  destroying_.erase(name);
  end_notes_.erase(name);
  saving_.erase(name);
  incoming_.erase(name);
}

// ---- recovery -------------------------------------------------------------

awaitable<pid_t> Daemon::pid_behind_control_socket(const api::DomainRecord& record) {
  if (record.control_socket().empty()) co_return 0;
  try {
    api::VmmRequest status;
    status.mutable_status();
    api::VmmReply reply = co_await call_vmm(record.control_socket(), status, std::chrono::milliseconds(1000));
    if (reply.name() != record.info().config().name() || reply.pid() <= 0) co_return 0;
    if (!process_start_time(reply.pid())) co_return 0;
    co_return reply.pid();
  } catch (const VmmCallError&) {
    co_return 0;
  }
}

awaitable<void> Daemon::recover() {
  StateStore::Loaded loaded = store_.load_all();
  for (const auto& problem : loaded.problems) spdlog::error("skipping a damaged record: {}", problem);
  for (auto& r : loaded.records) {
    const std::string name = r.info().config().name();
    api::DomainRecord* record = table_.insert(std::move(r));
    if (record == nullptr) {
      spdlog::error("{}: its id is taken by another record; skipped", domain_label(name));
      continue;
    }
    if (!is_live(record->info().state())) continue;
    pid_t pid = record->info().pid();
    auto start = process_start_time(pid);
    bool same_process = start && *start == record->pid_start_time();
    if (!same_process) {
      // Killed between spawning a VMM and recording its pid: the VMM
      // still answers on its control socket and says who it is.
      pid_t found = co_await pid_behind_control_socket(*record);
      if (found > 0) {
        pid = found;
        record->mutable_info()->set_pid(pid);
        record->set_pid_start_time(process_start_time(pid).value_or(0));
        same_process = true;
      }
    }
    if (same_process && supervisor_.watch(pid, false)) {
      const uint32_t domid = record->info().domid();
      // The operation that was starting or stopping it died with the old
      // daemon: the VMM says where it is now.
      if (record->info().state() == State::STOPPING) record->mutable_info()->set_state(State::RUNNING);
      if (record->info().state() == State::STARTING) {
        asio::co_spawn(io_, settle_start(name, domid), asio::detached);
      } else {
        co_await refresh(name, domid);
      }
      note(name, spdlog::level::info, fmt::format("re-adopted tortuga-vmm pid {}", pid));
      continue;
    }
    // Gone while we were not looking: its exit record, if it left one, says how.
    if (auto exit = read_exit_record(record->exit_record())) {
      record->mutable_info()->set_exit_code(exit->exit_code());
      record->mutable_info()->set_end_reason(exit->reason());
      *record->mutable_info()->mutable_stats() = sanitized(exit->stats());
      bool clean = exit->exit_code() == kExitPoweroff || exit->exit_code() == kExitSuspend ||
                   exit->exit_code() == kExitDestroyed || exit->exit_code() == kExitMigrated;
      record->mutable_info()->set_state(clean ? State::SHUTOFF : State::CRASHED);
    } else {
      record->mutable_info()->set_state(State::LOST);
      record->mutable_info()->set_exit_code(-1);
      record->mutable_info()->set_end_reason(
          fmt::format("tortuga-vmm (pid {}) ended while tortugad was not running and left no exit record", pid));
    }
    record->mutable_info()->set_pid(0);
    store_.remove_run_dir(name);
    save(*record);
    note(name, spdlog::level::warn,
         fmt::format("{} ({})", state_name(record->info().state()), record->info().end_reason()));
  }
}

// ---- starting and stopping VMMs -------------------------------------------

void Daemon::start_vmm(api::DomainRecord& record, const std::string& restore_image, uint32_t saved_domid,
                       int incoming_fd) {
  const api::DomainConfig& c = record.info().config();
  const std::string& name = c.name();
  std::string run = store_.make_run_dir(name);
  record.set_control_socket(run + "/control.sock");
  record.set_exit_record(run + "/exit");
  record.set_console_fifo(run + "/console.in");
  make_fifo(record.console_fifo());
  const bool logged = c.console() != api::DomainConfig::none;
  record.set_console_offset(logged ? file_size(store_.console_log(name)) : 0);
  record.mutable_info()->set_console_log(logged ? store_.console_log(name) : "");
  record.mutable_info()->set_vmm_log(store_.vmm_log(name));

  VmmLaunch launch;
  launch.vmm_path = options_.vmm_path;
  // --opt=value: a value that starts with '-' stays a value.
  launch.args = {fmt::format("--name={}", name), fmt::format("--control={}", record.control_socket()),
                 fmt::format("--exit-record={}", record.exit_record())};
  if (c.weight() != 0) launch.args.push_back(fmt::format("--weight={}", c.weight()));
  if (c.cap() != 0) launch.args.push_back(fmt::format("--cap={}", c.cap()));
  if (!restore_image.empty() || incoming_fd >= 0) {
    // Memory, vCPUs, the command line and the devices come from the image.
    if (incoming_fd >= 0) {
      launch.args.push_back(fmt::format("--incoming-fd={}", VmmLaunch::kPassedFd));
      launch.passed_fd = incoming_fd;
    } else {
      launch.args.push_back(fmt::format("--restore={}", restore_image));
    }
    // Its TAPs come back under this domain's names, not the saver's.
    for (const auto& nic : c.nics()) {
      const uint32_t domid = record.info().domid();
      if (saved_domid == 0 || saved_domid == domid) break;
      launch.args.push_back(
          fmt::format("--restore-nic-tap={}={}", tap_name(saved_domid, nic.devid()), tap_name(domid, nic.devid())));
    }
  } else {
    launch.args.push_back(fmt::format("--kernel={}", c.kernel()));
    launch.args.push_back(fmt::format("--memory={}", c.memory_mib()));
    launch.args.push_back(fmt::format("--vcpus={}", c.vcpus()));
    if (!c.cmdline().empty()) launch.args.push_back(fmt::format("--cmdline={}", c.cmdline()));
    if (!c.initramfs().empty()) launch.args.push_back(fmt::format("--initramfs={}", c.initramfs()));
    for (auto& arg : vmm_device_args(c, record.info().domid())) launch.args.push_back(std::move(arg));
  }
  launch.stdin_fifo = record.console_fifo();
  launch.stdout_path = logged ? store_.console_log(name) : "";
  launch.stderr_path = store_.vmm_log(name);

  // Recorded before the spawn: a daemon killed right after it still knows
  // where the new VMM's control socket is (recover()).
  record.mutable_info()->set_pid(0);
  record.set_pid_start_time(0);
  record.mutable_info()->set_state(State::STARTING);
  save(record);
  pid_t pid = spawn_vmm(launch);
  record.mutable_info()->set_pid(pid);
  record.set_pid_start_time(process_start_time(pid).value_or(0));
  record.mutable_info()->set_state(State::STARTING);
  supervisor_.watch(pid, true);
  save(record);
  note(name, spdlog::level::info, fmt::format("started tortuga-vmm pid {}", pid));
}

awaitable<std::string> Daemon::wait_until_up(std::string name, uint32_t domid,
                                             std::optional<std::chrono::milliseconds> timeout) {
  const auto limit = timeout.value_or(options_.start_timeout);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    api::DomainRecord* r = table_.find(name);
    if (r == nullptr || r->info().domid() != domid) co_return "destroyed while it was starting";
    if (r->info().state() != State::STARTING) co_return r->info().end_reason();
    try {
      api::VmmRequest status;
      status.mutable_status();
      api::VmmReply reply = co_await call_vmm(r->control_socket(), status, 1000ms);
      r = table_.find(name);
      if (r == nullptr || r->info().domid() != domid || r->info().state() != State::STARTING) continue;
      r->mutable_info()->set_state(reply.paused() ? State::PAUSED : State::RUNNING);
      *r->mutable_info()->mutable_stats() = sanitized(reply.stats());
      save(*r);
      co_return "";
    } catch (const VmmCallError&) {
      // not listening yet
    }
    co_await sleep_for(kPollInterval);
  }
  co_return fmt::format("tortuga-vmm did not open its control socket within {} ms", limit.count());
}

awaitable<void> Daemon::settle_start(std::string name, uint32_t domid) {
  std::string failed = co_await wait_until_up(name, domid);
  if (failed.empty()) co_return;
  api::DomainRecord* r = table_.find(name);
  if (r == nullptr || r->info().domid() != domid) co_return;
  note(name, spdlog::level::warn, fmt::format("did not start: {}", failed));
  if (!has_vmm(*r)) co_return;  // it ended, and its end is recorded
  // Hung before its control socket answered: crashed, with that as the cause.
  end_notes_[name] = fmt::format("did not start: {}", failed);
  co_await stop_vmm(name, domid);
}

awaitable<bool> Daemon::wait_for_exit(std::string name, uint32_t domid, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    api::DomainRecord* r = table_.find(name);
    if (r == nullptr || r->info().domid() != domid || !has_vmm(*r)) co_return true;
    if (std::chrono::steady_clock::now() >= deadline) co_return false;
    co_await sleep_for(kPollInterval);
  }
}

awaitable<void> Daemon::stop_vmm(std::string name, uint32_t domid) {
  api::DomainRecord* r = table_.find(name);
  if (r == nullptr || !has_vmm(*r)) co_return;
  // SIGTERM is the VMM's own destroy (tortuga_vmm_main.cpp): it writes its
  // exit record and counters on the way out.
  supervisor_.signal(r->info().pid(), SIGTERM);
  if (co_await wait_for_exit(name, domid, options_.destroy_grace)) co_return;
  r = table_.find(name);
  if (r == nullptr || !has_vmm(*r)) co_return;
  note(name, spdlog::level::warn,
       fmt::format("tortuga-vmm ignored SIGTERM for {} ms; SIGKILL", options_.destroy_grace.count()));
  supervisor_.signal(r->info().pid(), SIGKILL);
  co_await wait_for_exit(name, domid, std::chrono::hours(1));
}

awaitable<void> Daemon::refresh(std::string name, uint32_t domid) {
  api::DomainRecord* r = table_.find(name);
  if (r == nullptr || !has_vmm(*r) || r->info().state() == State::STARTING) co_return;
  try {
    api::VmmRequest status;
    status.mutable_status();
    api::VmmReply reply = co_await call_vmm(r->control_socket(), status);
    r = table_.find(name);
    if (r == nullptr || r->info().domid() != domid || !has_vmm(*r)) co_return;
    if (apply_vmm_reply(reply, *r->mutable_info())) save(*r);
  } catch (const VmmCallError& e) {
    spdlog::warn("{}: no status from its VMM: {}", domain_label(name), e.what());
  }
}

void Daemon::on_vmm_exit(pid_t pid, std::optional<int> wait_status) {
  api::DomainRecord* r = table_.find_by_pid(pid);
  if (r == nullptr) return;
  const std::string name = r->info().config().name();
  api::DomainInfo& info = *r->mutable_info();
  auto exit = read_exit_record(r->exit_record());
  int code = -1;
  std::string reason;
  if (wait_status && !WIFEXITED(*wait_status)) {
    reason = describe_wait_status(*wait_status);  // no record can be trusted: it died
  } else if (exit && (!wait_status || WEXITSTATUS(*wait_status) == exit->exit_code())) {
    code = exit->exit_code();
    reason = exit->reason();
    *info.mutable_stats() = sanitized(exit->stats());
  } else if (wait_status) {
    code = WEXITSTATUS(*wait_status);
    reason = describe_wait_status(*wait_status);
    // vmm_process.cpp's child exits with these before it becomes the VMM.
    if (code == 127) reason = fmt::format("cannot execute {}", options_.vmm_path);
    if (code == 126) reason = "cannot open the domain's console FIFO or log files";
  } else {
    reason = "tortuga-vmm ended and left no exit record";
  }
  if (auto note = end_notes_.find(name); note != end_notes_.end()) reason = note->second + " (" + reason + ")";
  info.set_exit_code(code);
  info.set_end_reason(reason);
  info.set_pid(0);
  store_.remove_run_dir(name);
  const State::State was = info.state();
  note(name, spdlog::level::info, fmt::format("tortuga-vmm pid {} ended: {}", pid, reason));

  if (destroying_.count(name) != 0) {
    forget(name);
    return;
  }
  if (code == kExitMigrated && was != State::STARTING) {
    note(name, spdlog::level::info, fmt::format("migrated away ({}); forgotten here", reason));
    // The VMM's own last word on it (the daemon's last poll may be a round behind).
    if (exit && exit->has_migration()) migrations_[name] = exit->migration();
    migrations_[name].set_phase(api::MigrationProgress::DONE);
    forget(name);
    return;
  }
  if (incoming_.count(name) != 0) {
    note(name, spdlog::level::warn, fmt::format("incoming migration failed: {}; forgotten", reason));
    forget(name);
    return;
  }
  if (auto saved = saving_.find(name); saved != saving_.end()) {
    if (code == kExitSuspend) {
      note(name, spdlog::level::info, fmt::format("saved to {}; forgotten", saved->second));
      forget(name);
      return;
    }
    saving_.erase(saved);  // it ended some other way: as any end
  }
  end_notes_.erase(name);
  if (was == State::STARTING) {
    info.set_state(State::CRASHED);  // create (or a restart) reports it
    save(*r);
    return;
  }
  if (code == kExitPoweroff || code == kExitSuspend || code == kExitDestroyed) {
    info.set_state(State::SHUTOFF);
    save(*r);
    return;
  }
  // A reboot starts it again; anything else is a crash and its policy decides.
  auto policy = r->info().config().on_crash();
  if (code != kExitReboot && policy == api::DomainConfig::destroy) {
    note(name, spdlog::level::warn, fmt::format("crashed ({}); on_crash=destroy: forgotten", reason));
    forget(name);
    return;
  }
  bool restart = code == kExitReboot || policy == api::DomainConfig::restart;
  if (restart && info.restarts() < options_.max_restarts) {
    info.set_restarts(info.restarts() + 1);
    try {
      start_vmm(*r);
      asio::co_spawn(io_, settle_start(name, info.domid()), asio::detached);
      return;
    } catch (const std::exception& e) {
      info.set_end_reason(fmt::format("{}; restart failed: {}", reason, e.what()));
    }
  } else if (restart) {
    info.set_end_reason(fmt::format("{}; not restarted: {} restarts already", reason, info.restarts()));
  }
  info.set_state(State::CRASHED);
  save(*r);
}

// ---- operations -------------------------------------------------------------

awaitable<api::Response> Daemon::handle(const api::Request& request) {
  switch (request.op_case()) {
    case api::Request::kCreate: co_return co_await create(request.create().config());
    case api::Request::kList: co_return co_await list();
    case api::Request::kInfo: co_return co_await info(request.info().domain());
    case api::Request::kStats: co_return co_await info(request.stats().domain());
    case api::Request::kPause: co_return co_await set_paused(request.pause().domain(), true);
    case api::Request::kUnpause: co_return co_await set_paused(request.unpause().domain(), false);
    case api::Request::kShutdown:
      if (request.shutdown().reboot()) co_return co_await reboot(request.shutdown().domain());
      co_return co_await shutdown(request.shutdown().domain(), request.shutdown().timeout_s());
    case api::Request::kDestroy: co_return co_await destroy(request.destroy().domain());
    case api::Request::kMemSet: co_return co_await mem_set(request.mem_set().domain(), request.mem_set().memory_mib());
    case api::Request::kBlockAttach:
      co_return co_await block_attach(request.block_attach().domain(), request.block_attach().disk());
    case api::Request::kBlockDetach: {
      const auto& d = request.block_detach();
      co_return co_await block_detach(d.domain(), d.vdev(), d.force());
    }
    case api::Request::kNetworkAttach:
      co_return co_await network_attach(request.network_attach().domain(), request.network_attach().nic());
    case api::Request::kNetworkDetach: {
      const auto& d = request.network_detach();
      co_return co_await network_detach(d.domain(), d.device(), d.force());
    }
    case api::Request::kSave:
      co_return co_await save_domain(request.save().domain(), request.save().path(), request.save().keep());
    case api::Request::kRestore: co_return co_await restore_domain(request.restore().path(), request.restore().name());
    case api::Request::kMigrate: co_return co_await migrate_out(request.migrate());
    case api::Request::kMigrationStatus: co_return migration_status(request.migration_status().domain());
    case api::Request::kMigrateCancel: {
      api::VmmRequest cancel;
      cancel.mutable_migrate_cancel();
      co_return co_await vmm_operation(request.migrate_cancel().domain(), cancel);
    }
    case api::Request::kConsole:
    case api::Request::kConsoleInput:
      co_return error_response("console messages need a console attachment (ConsoleRequest first)");
    case api::Request::OP_NOT_SET: break;
  }
  co_return error_response("empty request: no operation set");
}

awaitable<api::Response> Daemon::create(api::DomainConfig config) {
  apply_defaults(config);
  try {
    validate_config(config, true);
  } catch (const ConfigError& e) {
    co_return error_response(fmt::format("{}: {}", domain_label(config.name()), e.what()));
  }
  const std::string name = config.name();
  api::DomainRecord fresh;
  *fresh.mutable_info()->mutable_config() = config;
  fresh.mutable_info()->set_state(State::STARTING);
  fresh.mutable_info()->set_created_unix(static_cast<int64_t>(std::time(nullptr)));
  // The check and the claim of the name happen with no co_await between them.
  api::DomainRecord* r = table_.insert(std::move(fresh));
  if (r == nullptr) co_return error_response(fmt::format("{} already exists", domain_label(name)));
  const uint32_t domid = r->info().domid();
  assign_nic_identities(*r->mutable_info()->mutable_config(), domid);
  try {
    start_vmm(*r);
  } catch (const std::exception& e) {
    forget(name);
    co_return error_response(fmt::format("{}: cannot start tortuga-vmm: {}", domain_label(name), e.what()));
  }
  co_return co_await finish_start(name, domid);
}

awaitable<api::Response> Daemon::finish_start(std::string name, uint32_t domid) {
  std::string failed = co_await wait_until_up(name, domid);
  if (!failed.empty()) {
    co_await stop_vmm(name, domid);
    api::DomainRecord* r = table_.find(name);
    if (r != nullptr && r->info().domid() == domid) forget(name);
    co_return error_response(fmt::format("{}: did not start: {}", domain_label(name), failed));
  }
  api::DomainRecord* r = table_.find(name);
  if (r == nullptr || r->info().domid() != domid)
    co_return error_response(fmt::format("{} was destroyed", domain_label(name)));
  co_return domain_response(*r);
}

awaitable<api::Response> Daemon::list() {
  std::vector<std::pair<std::string, uint32_t>> running;
  for (auto* r : table_.all()) {
    if (has_vmm(*r)) running.emplace_back(r->info().config().name(), r->info().domid());
  }
  // All at once: one slow VMM costs the listing its own deadline, not the
  // sum of everyone's round trips.
  std::vector<awaitable<void>> refreshes;
  for (auto& [name, domid] : running) refreshes.push_back(refresh(name, domid));
  co_await all_of(std::move(refreshes));
  api::Response response;
  api::DomainList& domains = *response.mutable_list();  // set even when empty
  for (auto* r : table_.all()) *domains.add_domains() = r->info();
  co_return response;
}

awaitable<api::Response> Daemon::info(const std::string& ref) {
  api::DomainRecord* r = table_.find(ref);
  if (r == nullptr) co_return error_response(fmt::format("no domain '{}'", ref));
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  co_await refresh(name, domid);
  r = table_.find(name);
  if (r == nullptr) co_return error_response(fmt::format("{} was destroyed meanwhile", domain_label(name)));
  co_return domain_response(*r);
}

awaitable<api::Response> Daemon::set_paused(const std::string& ref, bool pause) {
  api::VmmRequest request;
  if (pause)
    request.mutable_pause();
  else
    request.mutable_unpause();
  co_return co_await vmm_operation(ref, request);
}

const Daemon::OnVmmSuccess Daemon::kNoConfigChange;

awaitable<api::Response> Daemon::vmm_operation(const std::string& ref, const api::VmmRequest& request,
                                               const OnVmmSuccess& on_success) {
  api::DomainRecord* r = table_.find(ref);
  if (r == nullptr) co_return error_response(fmt::format("no domain '{}'", ref));
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  State::State s = r->info().state();
  if (s != State::RUNNING && s != State::PAUSED) {
    co_return error_response(fmt::format("{} is {}, not running", domain_label(name), state_name(s)));
  }
  try {
    api::VmmReply reply = co_await call_vmm(r->control_socket(), request);
    r = table_.find(name);
    if (r == nullptr || r->info().domid() != domid)
      co_return error_response(fmt::format("{} was destroyed", domain_label(name)));
    if (!reply.error().empty())
      co_return error_response(fmt::format("{}: {}", domain_label(name), clean_line(reply.error())));
    apply_vmm_reply(reply, *r->mutable_info());
    std::string failed = on_success ? on_success(reply, *r->mutable_info()->mutable_config()) : "";
    save(*r);
    if (!failed.empty()) co_return error_response(fmt::format("{}: {}", domain_label(name), failed));
    co_return domain_response(*r);
  } catch (const VmmCallError& e) {
    co_return error_response(fmt::format("{}: {}", domain_label(name), e.what()));
  }
}

awaitable<api::Response> Daemon::shutdown(const std::string& ref, uint32_t timeout_s) {
  api::DomainRecord* r = table_.find(ref);
  if (r == nullptr) co_return error_response(fmt::format("no domain '{}'", ref));
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  State::State s = r->info().state();
  if (s != State::RUNNING && s != State::PAUSED) {
    co_return error_response(fmt::format("{} is {}, not running", domain_label(name), state_name(s)));
  }
  if (timeout_s == 0) timeout_s = 30;
  api::Response response;
  api::ShutdownResult& result = *response.mutable_shutdown();
  try {
    api::VmmRequest request;
    request.mutable_shutdown();
    api::VmmReply reply = co_await call_vmm(r->control_socket(), request);
    result.set_guest_asked(reply.error().empty() && reply.shutdown_delivered());
  } catch (const VmmCallError& e) {
    spdlog::warn("{}: shutdown request: {}", domain_label(name), e.what());
  }
  if (co_await wait_for_exit(name, domid, std::chrono::seconds(timeout_s))) {
    result.set_note(fmt::format("{} shut down", domain_label(name)));
  } else {
    r = table_.find(name);
    if (r != nullptr && r->info().domid() == domid) {
      end_notes_[name] = fmt::format("shutdown: no stop within {} s, destroyed", timeout_s);
      r->mutable_info()->set_state(State::STOPPING);
    }
    co_await stop_vmm(name, domid);
    result.set_destroyed(true);
    result.set_note(fmt::format("{}: {}; destroyed after {} s", domain_label(name),
                                result.guest_asked() ? "the guest did not stop"
                                                     : "the guest cannot be asked (it does not watch control/shutdown)",
                                timeout_s));
  }
  co_return response;
}

// Like `xl reboot`: the guest is asked through the store and reboots on its
// own (its VMM ends with the reboot status and the daemon starts a new one).
awaitable<api::Response> Daemon::reboot(const std::string& ref) {
  api::VmmRequest request;
  request.mutable_reboot();
  const OnVmmSuccess refused_unless_delivered = [](const api::VmmReply& reply, api::DomainConfig&) {
    return std::string(
        reply.shutdown_delivered() ? "" : "the guest cannot be asked to reboot (it does not watch control/shutdown)");
  };
  co_return co_await vmm_operation(ref, request, refused_unless_delivered);
}

awaitable<api::Response> Daemon::destroy(const std::string& ref) {
  api::DomainRecord* r = table_.find(ref);
  if (r == nullptr) co_return error_response(fmt::format("no domain '{}'", ref));
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  api::Response response;
  *response.mutable_domain() = r->info();
  if (!has_vmm(*r)) {
    forget(name);
    co_return response;
  }
  destroying_.insert(name);
  r->mutable_info()->set_state(State::STOPPING);
  save(*r);
  co_await stop_vmm(name, domid);
  co_return response;
}

}  // namespace tortuga::toolstack
