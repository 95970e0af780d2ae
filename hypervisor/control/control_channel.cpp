#include "control/control_channel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ctime>

#include <fmt/format.h>

#include <tortuga/io/blkif.h>
#include <tortuga/io/netif.h>
#include <tortuga/io/store.h>

#include "domain/domain.h"
#include "image/domain_image.h"
#include "framing.h"
#include "unix_socket.h"

namespace tortuga {
namespace {

// A request must arrive whole this soon after its first byte: a stuck
// peer cannot hold the channel.
constexpr int kRequestTimeoutMs = 5000;
// How long a detach waits for the guest to let go, unless told (the
// daemon's own deadline for a call must cover it), and the most it may ask.
constexpr uint32_t kDefaultDetachTimeoutMs = 2000;
constexpr uint32_t kMaxDetachTimeoutMs = 60000;
// What a migrate_send may ask (beyond them a request is a mistake).
constexpr uint32_t kMaxMigrationRounds = 1000;
constexpr uint64_t kMaxMigrationDowntimeMs = 3'600'000;
constexpr uint64_t kMaxMigrationMibS = 1'000'000;

uint64_t process_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

// Waits until `fd` is readable (true) or the stop event fired (false).
bool wait_readable(int fd, int stop_fd) {
  pollfd p[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
  for (;;) {
    int r = ::poll(p, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (p[1].revents & POLLIN)) return false;
    if (p[0].revents) return true;
  }
}

void add_request_kind(api::DomainStats& out, const std::string& kind, const uint64_t (&n)[kCallContexts]) {
  if (n[kAlone] == 0 && n[kInMulticall] == 0) return;
  api::MmuRequestCount* count = out.add_mmu_requests_by_kind();
  count->set_kind(kind);
  count->set_alone(n[kAlone]);
  count->set_in_multicall(n[kInMulticall]);
}

void add_batches(google::protobuf::RepeatedPtrField<api::BatchBucket>& out, const BatchHistogram& h) {
  for (unsigned b = 0; b < BatchHistogram::kBuckets; ++b) {
    if (h.calls[b] == 0) continue;
    api::BatchBucket* bucket = out.Add();
    bucket->set_min_items(BatchHistogram::bucket_min(b));
    bucket->set_max_items(BatchHistogram::bucket_max(b));
    bucket->set_calls(h.calls[b]);
  }
}

// The page-table counters of issue 15: kinds, multicall entries, batch sizes.
void add_page_table_stats(const ExitStats& s, api::DomainStats& out) {
  for (unsigned k = 0; k < kMmuUpdateKinds; ++k) {
    add_request_kind(out, fmt::format("mmu_update {}", mmu_update_kind_name(k)), s.mmu_updates[k]);
  }
  for (unsigned k = 0; k < kMmuextKinds; ++k) {
    add_request_kind(out, fmt::format("mmuext {}", mmuext_kind_name(k)), s.mmuext_ops[k]);
  }
  add_request_kind(out, "update_va_mapping", s.update_va_mappings);
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    if (s.multicall_calls[nr] == 0) continue;
    (*out.mutable_multicall_entries_by_op())[hypercall_name(nr)] = s.multicall_calls[nr];
  }
  add_batches(*out.mutable_mmu_update_batches(), s.mmu_update_batches);
  add_batches(*out.mutable_mmuext_op_batches(), s.mmuext_op_batches);
  add_batches(*out.mutable_multicall_batches(), s.multicall_batches);
}

}  // namespace

api::DomainStats to_domain_stats(const ExitStats& s, uint64_t uptime_ns) {
  api::DomainStats out;
  out.set_exits(s.exits);
  out.set_kicks(s.kicks);
  out.set_hypercalls(s.hypercall_total());
  for (uint64_t nr = 0; nr < TG_NR_HYPERCALLS; ++nr) {
    if (s.hypercalls[nr] != 0) (*out.mutable_hypercalls_by_op())[hypercall_name(nr)] = s.hypercalls[nr];
  }
  out.set_bad_hypercalls(s.bad_hypercalls);
  for (uint32_t v = 0; v < TG_NR_EXCEPTION_VECTORS; ++v) {
    if (s.exceptions[v] != 0) (*out.mutable_exceptions_by_vector())[v] = s.exceptions[v];
  }
  out.set_syscall_bounces(s.syscall_bounces);
  out.set_upcalls(s.upcalls);
  out.set_blocks(s.blocks);
  out.set_doorbell_misses(s.doorbell_misses);
  out.set_other_exits(s.other);
  out.set_mmu_requests(s.mmu_requests);
  out.set_multicall_entries(s.multicall_entries);
  out.set_apply_routines(s.apply_routines);
  out.set_apply_exits(s.apply_exits);
  out.set_applied_entries(s.applied_entries);
  out.set_tlb_flushes(s.tlb_flushes);
  out.set_carried_batches(s.carried_batches);
  add_page_table_stats(s, out);
  out.set_cpu_ns(process_cpu_ns());
  out.set_uptime_ns(uptime_ns);
  return out;
}

void add_io_stats(const IoCounters& io, api::DomainStats& out) {
  auto get = [](const std::atomic<uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  out.set_block_reads(get(io.block_reads));
  out.set_block_read_bytes(get(io.block_read_bytes));
  out.set_block_writes(get(io.block_writes));
  out.set_block_write_bytes(get(io.block_write_bytes));
  out.set_block_other(get(io.block_other));
  out.set_net_tx_frames(get(io.net_tx_frames));
  out.set_net_tx_bytes(get(io.net_tx_bytes));
  out.set_net_rx_frames(get(io.net_rx_frames));
  out.set_net_rx_bytes(get(io.net_rx_bytes));
}

ControlChannel::ControlChannel(Domain& domain, const std::string& path)
    : domain_(domain), path_(path), listener_(listen_unix(path, 0600)), stop_event_(::eventfd(0, EFD_CLOEXEC)) {
  if (!stop_event_.valid()) throw std::runtime_error("eventfd for the control channel");
  thread_ = std::thread([this] { serve(); });
}

ControlChannel::~ControlChannel() {
  uint64_t one = 1;
  (void)!::write(stop_event_.get(), &one, sizeof one);
  thread_.join();
  migration_.reset();  // cancelled unless past "go"; its thread joined
  ::unlink(path_.c_str());
}

void ControlChannel::serve() {
  while (wait_readable(listener_.get(), stop_event_.get())) {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    // Only our own user (the daemon that started us) may steer the domain.
    if (peer_uid(conn.get()) != static_cast<long>(::geteuid())) continue;
    serve_connection(conn.get());
  }
}

void ControlChannel::serve_connection(int fd) {
  while (wait_readable(fd, stop_event_.get())) {
    api::VmmRequest request;
    api::VmmReply reply;
    try {
      // A migration's stream socket rides on its request (SCM_RIGHTS);
      // one that comes with any other request is closed here.
      UniqueFd passed;
      if (!receive_message_with_fd(fd, request, passed, kRequestTimeoutMs)) return;  // the daemon hung up
      reply = handle(request, std::move(passed));
    } catch (const FramingError& e) {
      // The stream may be out of step: answer once, then drop the connection.
      reply.set_error(e.what());
      try {
        send_message(fd, reply, kRequestTimeoutMs);
      } catch (const FramingError&) {
      }
      return;
    }
    try {
      send_message(fd, reply, kRequestTimeoutMs);
    } catch (const FramingError&) {
      return;
    }
  }
}

// Save (ABI.md 21): pause, write the image beside `path` and rename it
// into place, then resume (keep_running) or end the domain with exit code
// 6, "saved to PATH". A failed save leaves no file and the domain as it
// was (running, or paused if the toolstack had paused it).
void ControlChannel::save(const api::SaveRequest& request, api::VmmReply& reply) {
  bool was_paused = domain_.paused();
  if (!domain_.pause()) {
    reply.set_error("the domain is stopping");
    return;
  }
  try {
    if (!request.toolstack_config().empty()) domain_.set_toolstack_config(request.toolstack_config());
    SaveFigures f = save_domain_image(domain_, request.path());
    reply.set_saved_bytes(f.bytes);
    reply.set_saved_pages(f.pages);
  } catch (const std::exception& e) {
    if (!was_paused) domain_.unpause();
    reply.set_error(fmt::format("save failed: {}", e.what()));
    return;
  }
  if (!request.keep_running()) {
    domain_.saved_and_stopped(request.path());
  } else if (!was_paused) {
    domain_.unpause();
  }
}

api::MigrationProgress ControlChannel::migration_progress() const {
  return migration_ ? to_migration_progress(migration_->status()) : api::MigrationProgress{};
}

api::VmmReply ControlChannel::handle(const api::VmmRequest& request, UniqueFd stream) {
  api::VmmReply reply;
  try {
    perform(request, std::move(stream), reply);
  } catch (const std::exception& e) {
    // Every refusal (bad spec, missing image, unknown bridge, a guest that
    // did not let go) is one line; the domain is as it was.
    reply.set_error(e.what());
  }
  reply.set_paused(domain_.paused());
  reply.set_pid(static_cast<int32_t>(::getpid()));
  reply.set_name(domain_.config().name);
  *reply.mutable_stats() = to_domain_stats(domain_.stats(), domain_.system_time_ns());
  add_io_stats(domain_.io(), *reply.mutable_stats());
  reply.set_memory_target_kib(domain_.memory_target_kib());
  reply.set_memory_current_kib(domain_.memory_current_kib());
  for (const DeviceInfo& d : domain_.devices()) *reply.add_devices() = to_device_status(d);
  if (migration_) *reply.mutable_migration() = to_migration_progress(migration_->status());
  return reply;
}

bool ControlChannel::migrating() const { return migration_ && !migration_->status().finished(); }

void ControlChannel::perform(const api::VmmRequest& request, UniqueFd stream, api::VmmReply& reply) {
  // While a migration runs, the domain's run state and devices are the
  // migration's: a pause or an unpause would undo its stop-and-copy.
  bool steers = request.has_pause() || request.has_unpause() || request.has_save() || request.has_attach_disk() ||
                request.has_attach_nic() || request.has_detach() || request.has_migrate_send();
  if (steers && migrating()) {
    reply.set_error("a live migration is under way (migrate_cancel stops it)");
    return;
  }
  switch (request.op_case()) {
    case api::VmmRequest::kStatus: break;
    case api::VmmRequest::kPause:
      if (!domain_.pause()) reply.set_error("the domain is stopping");
      break;
    case api::VmmRequest::kUnpause: domain_.unpause(); break;
    case api::VmmRequest::kShutdown:
      reply.set_shutdown_delivered(domain_.request_shutdown(TG_STORE_SHUTDOWN_POWEROFF));
      break;
    case api::VmmRequest::kReboot:
      reply.set_shutdown_delivered(domain_.request_shutdown(TG_STORE_SHUTDOWN_REBOOT));
      break;
    case api::VmmRequest::kDestroy: domain_.destroy("by the toolstack"); break;
    case api::VmmRequest::kMemoryTargetMib: set_memory_target(request.memory_target_mib()); break;
    case api::VmmRequest::kSave: save(request.save(), reply); break;
    case api::VmmRequest::kAttachDisk: domain_.attach_disk(to_disk_spec(request.attach_disk())); break;
    case api::VmmRequest::kAttachNic: domain_.attach_nic(to_nic_spec(request.attach_nic())); break;
    case api::VmmRequest::kDetach: detach(request.detach()); break;
    case api::VmmRequest::kMigrateSend: migrate_send(request.migrate_send(), std::move(stream)); break;
    case api::VmmRequest::kMigrateCancel: migrate_cancel(); break;
    case api::VmmRequest::OP_NOT_SET: reply.set_error("empty request (no operation set)"); break;
  }
}

// Answered at once: the migration runs on the sender's thread and the
// progress is in every reply from here on.
void ControlChannel::migrate_send(const api::MigrateSend& request, UniqueFd stream) {
  if (!stream.valid()) throw std::runtime_error("migrate_send needs the stream socket as SCM_RIGHTS with the request");
  // The sender's writes wait (with its timeouts), whatever mode the sending
  // daemon's event loop left on the connection.
  if (int flags = ::fcntl(stream.get(), F_GETFL);
      flags < 0 || ::fcntl(stream.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
    throw std::runtime_error("cannot make the migration's socket blocking");
  }
  if (request.max_rounds() > kMaxMigrationRounds || request.max_downtime_ms() > kMaxMigrationDowntimeMs ||
      request.bandwidth_mib_s() > kMaxMigrationMibS) {
    throw std::runtime_error(fmt::format("migrate_send limits: at most {} rounds, {} ms of downtime, {} MiB/s",
                                         kMaxMigrationRounds, kMaxMigrationDowntimeMs, kMaxMigrationMibS));
  }
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(stream.get(), SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    throw std::runtime_error("the descriptor sent with migrate_send is not a stream socket");
  }
  sockaddr_storage peer{};
  socklen_t peer_len = sizeof peer;
  if (::getpeername(stream.get(), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) {
    throw std::runtime_error("the stream socket sent with migrate_send is not connected");
  }
  if (domain_.stopping()) throw std::runtime_error("the domain is stopping");
  migration_.reset();  // a finished one: its thread is joined
  MigrationRequest r{request.max_rounds(), request.max_downtime_ms(), request.bandwidth_mib_s()};
  migration_ = std::make_unique<MigrationSender>(domain_, std::move(stream), r);
}

void ControlChannel::migrate_cancel() {
  if (!migrating()) throw std::runtime_error("no live migration is under way");
  if (!migration_->cancel()) {
    throw std::runtime_error("too late to cancel: 'go' was sent, the destination may be running the domain");
  }
  migration_->wait();  // back to running before the reply says so
}

void ControlChannel::set_memory_target(uint64_t mib) {
  // Checked here first: MiB times 1024 must not wrap.
  uint64_t max_mib = domain_.config().memory_mib;
  if (mib < 1 || mib > max_mib) {
    throw std::runtime_error(fmt::format("memory target must be between 1 and {} MiB, not {}", max_mib, mib));
  }
  domain_.set_memory_target_kib(mib * 1024);
}

void ControlChannel::detach(const api::DeviceDetach& d) {
  if (d.type() != TG_BLKIF_DEVTYPE && d.type() != TG_NETIF_DEVTYPE) {
    throw std::runtime_error(fmt::format("unknown device type '{}' (vbd or vif)", d.type()));
  }
  if (d.timeout_ms() > kMaxDetachTimeoutMs) {
    throw std::runtime_error(fmt::format("detach timeout {} ms is above {} ms", d.timeout_ms(), kMaxDetachTimeoutMs));
  }
  uint32_t timeout = d.timeout_ms() == 0 ? kDefaultDetachTimeoutMs : d.timeout_ms();
  domain_.detach_device(d.type(), d.id(), d.force(), std::chrono::milliseconds(timeout));
}

DiskSpec to_disk_spec(const api::DiskAttach& a) {
  DiskSpec spec;
  spec.path = a.path();
  spec.vdev = a.vdev();
  spec.read_only = a.readonly();
  return spec;
}

NicSpec to_nic_spec(const api::NicAttach& a) {
  NicSpec spec;
  spec.tap = a.tap();
  spec.mac = a.mac();
  spec.bridge = a.bridge();
  spec.id = a.id();
  return spec;
}

api::MigrationProgress to_migration_progress(const MigrationStatus& s) {
  using P = api::MigrationProgress;
  static constexpr P::Phase kPhase[] = {P::NONE, P::PRECOPY, P::STOP_AND_COPY, P::SWITCH_OVER,
                                        P::DONE, P::FAILED,  P::CANCELLED};
  P out;
  out.set_phase(kPhase[static_cast<int>(s.phase)]);
  out.set_round(s.round);
  out.set_pages_sent(s.pages_sent);
  out.set_pages_dirty(s.pages_dirty);
  out.set_dirty_pages_per_s(s.dirty_pages_per_s);
  out.set_estimated_downtime_ms(s.estimated_downtime_ms);
  out.set_bytes_sent(s.bytes_sent);
  for (uint64_t n : s.pages_per_round) out.add_pages_per_round(n);
  out.set_downtime_ms(s.downtime_ms);
  out.set_total_ms(s.total_ms);
  out.set_error(s.error);
  return out;
}

api::DeviceStatus to_device_status(const DeviceInfo& d) {
  api::DeviceStatus out;
  out.set_type(d.type);
  out.set_id(d.id);
  out.set_name(d.name);
  out.set_backend(d.backend);
  out.set_state(d.state);
  out.set_frontend_state(d.frontend_state);
  out.set_readonly(d.read_only);
  out.set_mac(d.mac);
  return out;
}

}  // namespace tortuga
