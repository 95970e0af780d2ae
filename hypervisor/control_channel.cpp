#include "control_channel.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <ctime>

#include <fmt/format.h>

#include "domain.h"
#include "domain_image.h"
#include "framing.h"
#include "unix_socket.h"

namespace tortuga {
namespace {

// A request must arrive whole this soon after its first byte: a stuck
// peer cannot hold the channel.
constexpr int kRequestTimeoutMs = 5000;

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
  out.set_cpu_ns(process_cpu_ns());
  out.set_uptime_ns(uptime_ns);
  return out;
}

ControlChannel::ControlChannel(Domain& domain, const std::string& path)
    : domain_(domain),
      path_(path),
      listener_(toolstack::listen_unix(path, 0600)),
      stop_event_(::eventfd(0, EFD_CLOEXEC)) {
  if (!stop_event_.valid()) throw std::runtime_error("eventfd for the control channel");
  thread_ = std::thread([this] { serve(); });
}

ControlChannel::~ControlChannel() {
  uint64_t one = 1;
  (void)!::write(stop_event_.get(), &one, sizeof one);
  thread_.join();
  ::unlink(path_.c_str());
}

void ControlChannel::serve() {
  while (wait_readable(listener_.get(), stop_event_.get())) {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) continue;
    // Only our own user (the daemon that started us) may steer the domain.
    if (toolstack::peer_uid(conn.get()) != static_cast<long>(::geteuid())) continue;
    serve_connection(conn.get());
  }
}

void ControlChannel::serve_connection(int fd) {
  while (wait_readable(fd, stop_event_.get())) {
    api::VmmRequest request;
    api::VmmReply reply;
    try {
      if (!toolstack::receive_message(fd, request, kRequestTimeoutMs)) return;  // the daemon hung up
      reply = handle(request);
    } catch (const toolstack::FramingError& e) {
      // The stream may be out of step: answer once, then drop the connection.
      reply.set_error(e.what());
      try {
        toolstack::send_message(fd, reply, kRequestTimeoutMs);
      } catch (const toolstack::FramingError&) {
      }
      return;
    }
    try {
      toolstack::send_message(fd, reply, kRequestTimeoutMs);
    } catch (const toolstack::FramingError&) {
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

api::VmmReply ControlChannel::handle(const api::VmmRequest& request) {
  api::VmmReply reply;
  switch (request.op_case()) {
    case api::VmmRequest::kStatus:
      break;
    case api::VmmRequest::kPause:
      if (!domain_.pause()) reply.set_error("the domain is stopping");
      break;
    case api::VmmRequest::kUnpause:
      domain_.unpause();
      break;
    case api::VmmRequest::kShutdown:
      // ABI.md 16: the request travels through the store's control/shutdown
      // key, and this VMM has no store yet. The daemon waits and destroys.
      reply.set_shutdown_delivered(false);
      break;
    case api::VmmRequest::kDestroy:
      domain_.destroy("by the toolstack");
      break;
    case api::VmmRequest::kMemoryTargetMib:
      reply.set_error(
          "not supported by this guest yet: a balloon target is written to the store, which this VMM does not "
          "have yet");
      break;
    case api::VmmRequest::kSave:
      save(request.save(), reply);
      break;
    case api::VmmRequest::kAttachDisk:
    case api::VmmRequest::kAttachNic:
    case api::VmmRequest::kDetach:
    case api::VmmRequest::kReboot:
      reply.set_error("not supported by this VMM yet");
      break;
    case api::VmmRequest::OP_NOT_SET:
      reply.set_error("empty request (no operation set)");
      break;
  }
  reply.set_paused(domain_.paused());
  reply.set_pid(static_cast<int32_t>(::getpid()));
  reply.set_name(domain_.config().name);
  *reply.mutable_stats() = to_domain_stats(domain_.stats(), domain_.system_time_ns());
  return reply;
}

}  // namespace tortuga
