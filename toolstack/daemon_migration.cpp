// tortugad's live migration (ABI.md 21, hypervisor/migration/MIGRATION.md). The
// daemons agree (MigrationOffer / MigrationAnswer on a TCP connection from
// the source daemon to the destination's migration listener); then the
// connection is handed over: the destination's new VMM inherits it
// (--incoming-fd), the source's VMM receives it with its migrate_send
// request (SCM_RIGHTS), and the two VMMs move the domain. The source
// daemon follows the progress; its VMM ends with exit code 8 once the
// destination runs the domain, and the domain is forgotten here.
#include <fmt/format.h>

#include "config.h"
#include "daemon.h"
#include "devices.h"
#include "framing.h"
#include "migration_handshake.pb.h"
#include "unix_socket.h"
#include "vmm_client.h"
#include "vmm_reply.h"

namespace tortuga::toolstack {
namespace {

using State = api::DomainInfo;
using namespace std::chrono_literals;

constexpr uint32_t kMigrationHandshakeVersion = 1;
constexpr auto kHandshakeTimeout = 30s;
constexpr auto kProgressInterval = 200ms;
// The destination's VMM answers on its control socket once the whole
// stream is in: as long as the pre-copy rounds take.
constexpr auto kIncomingTimeout = 30min;

bool finished(api::MigrationProgress::Phase phase) {
  return phase == api::MigrationProgress::DONE || phase == api::MigrationProgress::FAILED ||
         phase == api::MigrationProgress::CANCELLED;
}

// Closes the socket when the deadline passes: whatever waits on it ends.
class SocketDeadline {
 public:
  SocketDeadline(TcpSocket& socket, std::chrono::steady_clock::duration after)
      : timer_(std::make_shared<asio::steady_timer>(socket.get_executor(), after)), expired_(std::make_shared<bool>()) {
    timer_->async_wait([&socket, expired = expired_](boost::system::error_code ec) {
      if (ec) return;
      *expired = true;
      boost::system::error_code ignored;
      socket.close(ignored);
    });
  }
  ~SocketDeadline() { timer_->cancel(); }
  bool expired() const { return *expired_; }

 private:
  std::shared_ptr<asio::steady_timer> timer_;
  std::shared_ptr<bool> expired_;
};

awaitable<void> pause_for(std::chrono::milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
}

}  // namespace

awaitable<api::Response> Daemon::migrate_out(const api::MigrateRequest& req) {
  api::DomainRecord* r = table_.find(req.domain());
  if (r == nullptr) co_return error_response(fmt::format("no domain '{}'", req.domain()));
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  if (r->info().state() != State::RUNNING && r->info().state() != State::PAUSED) {
    co_return error_response(fmt::format("{} is {}, not running", domain_label(name), state_name(r->info().state())));
  }
  if (auto m = migrations_.find(name); m != migrations_.end() && !finished(m->second.phase())) {
    co_return error_response(fmt::format("{} is being migrated already", domain_label(name)));
  }
  if (req.host().empty()) co_return error_response(fmt::format("{}: no destination host", domain_label(name)));
  const uint16_t port = static_cast<uint16_t>(req.port() != 0 ? req.port() : kDefaultMigrationPort);
  const std::string where = fmt::format("{}:{}", req.host(), port);

  // The agreement between the daemons.
  auto executor = co_await asio::this_coro::executor;
  TcpSocket socket(executor);
  api::MigrationAnswer answer;
  std::string failed;
  {
    SocketDeadline deadline(socket, kHandshakeTimeout);
    try {
      asio::ip::tcp::resolver resolver(executor);
      boost::system::error_code ec;
      auto endpoints =
          co_await resolver.async_resolve(req.host(), std::to_string(port), asio::redirect_error(use_awaitable, ec));
      if (ec) throw std::runtime_error(fmt::format("cannot resolve {}: {}", req.host(), ec.message()));
      co_await asio::async_connect(socket, endpoints, asio::redirect_error(use_awaitable, ec));
      if (ec) throw std::runtime_error(fmt::format("cannot connect to {}: {}", where, ec.message()));
      api::MigrationOffer offer;
      offer.set_version(kMigrationHandshakeVersion);
      *offer.mutable_config() = r->info().config();
      offer.set_source_domid(domid);
      co_await async_send(socket, offer);
      if (!co_await async_receive(socket, answer)) throw std::runtime_error(fmt::format("{} hung up", where));
      if (!answer.accepted()) failed = fmt::format("{} refused it: {}", where, clean_line(answer.error()));
    } catch (const std::exception& e) {
      failed = deadline.expired() ? fmt::format("{} did not answer within {} s", where, kHandshakeTimeout.count())
                                  : std::string(e.what());
    }
  }
  if (!failed.empty()) co_return error_response(fmt::format("{}: {}", domain_label(name), failed));

  // The connection goes to the source VMM with its request.
  r = table_.find(name);
  if (r == nullptr || r->info().domid() != domid)
    co_return error_response(fmt::format("{} was destroyed", domain_label(name)));
  api::VmmRequest request;
  api::MigrateSend& send = *request.mutable_migrate_send();
  send.set_max_rounds(req.max_rounds());
  send.set_max_downtime_ms(req.max_downtime_ms());
  send.set_bandwidth_mib_s(req.bandwidth_mib_s());
  api::VmmReply reply;
  try {
    UniqueFd control = connect_unix(r->control_socket());
    send_message_with_fd(control.get(), request, socket.native_handle(), 5000);
    if (!receive_message(control.get(), reply, 5000)) throw std::runtime_error("the VMM closed its control channel");
  } catch (const std::exception& e) {
    failed = e.what();
  }
  boost::system::error_code ignored;
  socket.close(ignored);  // the VMM has its own copy; the destination's VMM sees EOF if it has none
  if (failed.empty()) failed = clean_line(reply.error());
  if (!failed.empty()) co_return error_response(fmt::format("{}: {}", domain_label(name), failed));
  migrations_[name] = reply.migration();
  note(name, spdlog::level::info, fmt::format("migrating to {} (id {} there)", where, answer.domid()));
  asio::co_spawn(executor, follow_migration(name, domid), asio::detached);
  api::Response response;
  *response.mutable_migration() = reply.migration();
  co_return response;
}

awaitable<void> Daemon::follow_migration(std::string name, uint32_t domid) {
  for (;;) {
    co_await pause_for(kProgressInterval);
    api::DomainRecord* r = table_.find(name);
    // Gone: it ended (migrated: on_vmm_exit marked it DONE) or was destroyed.
    if (r == nullptr || r->info().domid() != domid || !has_vmm(*r)) co_return;
    try {
      api::VmmRequest status;
      status.mutable_status();
      api::VmmReply reply = co_await call_vmm(r->control_socket(), status);
      migrations_[name] = reply.migration();
      r = table_.find(name);
      if (r != nullptr && r->info().domid() == domid) apply_vmm_reply(reply, *r->mutable_info());
      if (finished(reply.migration().phase())) co_return;
    } catch (const VmmCallError&) {
      // ending, most likely: the next round finds out
    }
  }
}

api::Response Daemon::migration_status(const std::string& ref) {
  api::DomainRecord* r = table_.find(ref);
  const std::string name = r != nullptr ? r->info().config().name() : ref;
  auto m = migrations_.find(name);
  if (m == migrations_.end()) return error_response(fmt::format("no migration of domain '{}' here", ref));
  api::Response response;
  *response.mutable_migration() = m->second;
  return response;
}

awaitable<void> Daemon::accept_migration(TcpSocket socket) {
  api::MigrationOffer offer;
  api::MigrationAnswer answer;
  {
    SocketDeadline deadline(socket, kHandshakeTimeout);
    try {
      if (!co_await async_receive(socket, offer)) co_return;
    } catch (const std::exception& e) {
      spdlog::warn("migration listener: a bad offer: {}", e.what());
      co_return;
    }
  }
  api::DomainConfig config = offer.config();
  std::string refused;
  try {
    if (offer.version() != kMigrationHandshakeVersion) {
      throw ConfigError(
          fmt::format("handshake version {} (this tortugad speaks {})", offer.version(), kMigrationHandshakeVersion));
    }
    apply_defaults(config);
    validate_config(config, false);  // the kernel is in the stream
    validate_devices(config, true);  // but its disk images and bridges must be here
    if (table_.find(config.name()) != nullptr) throw ConfigError("a domain of that name exists here");
  } catch (const ConfigError& e) {
    refused = fmt::format("{}: {}", domain_label(config.name()), e.what());
  }
  api::DomainRecord* r = nullptr;
  if (refused.empty()) {
    api::DomainRecord fresh;
    *fresh.mutable_info()->mutable_config() = config;
    fresh.mutable_info()->set_state(State::STARTING);
    fresh.mutable_info()->set_created_unix(static_cast<int64_t>(std::time(nullptr)));
    r = table_.insert(std::move(fresh));
    if (r == nullptr) refused = fmt::format("{}: a domain of that name exists here", domain_label(config.name()));
  }
  answer.set_accepted(refused.empty());
  answer.set_error(refused);
  if (r != nullptr) answer.set_domid(r->info().domid());
  const std::string name = config.name();
  const uint32_t domid = r != nullptr ? r->info().domid() : 0;
  try {
    SocketDeadline deadline(socket, kHandshakeTimeout);
    co_await async_send(socket, answer);
  } catch (const std::exception& e) {
    if (r != nullptr) forget(name);
    co_return;
  }
  if (r == nullptr) {
    spdlog::info("migration listener: refused {}", refused);
    co_return;
  }
  incoming_.insert(name);
  try {
    // The connection becomes the new VMM's fd 3; ours closes with `socket`.
    start_vmm(*r, "", offer.source_domid(), socket.native_handle());
  } catch (const std::exception& e) {
    note(name, spdlog::level::warn, fmt::format("cannot start tortuga-vmm for an incoming migration: {}", e.what()));
    forget(name);
    co_return;
  }
  boost::system::error_code ignored;
  socket.close(ignored);
  note(name, spdlog::level::info, "receiving a live migration");
  std::string failed = co_await wait_until_up(name, domid, kIncomingTimeout);
  r = table_.find(name);
  if (r == nullptr || r->info().domid() != domid) co_return;
  if (!failed.empty()) {
    note(name, spdlog::level::warn, fmt::format("incoming migration failed: {}", failed));
    co_await stop_vmm(name, domid);
    co_return;
  }
  incoming_.erase(name);
  note(name, spdlog::level::info, "migrated in");
}

}  // namespace tortuga::toolstack
