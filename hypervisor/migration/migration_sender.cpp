#include "migration/migration_sender.h"

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "domain/domain.h"
#include "events/host_clock.h"
#include "migration/switch_over.h"

namespace tortuga {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kPage = 4096;
// A destination that stops reading this long fails the migration (the
// domain may be paused, waiting on it).
constexpr int kSendTimeoutS = 30;
// The destination builds the domain after the end record: validation of
// every table, no memory copying (that came with the stream).
constexpr int kReadyTimeoutMs = 60000;
constexpr int kRunningTimeoutMs = 30000;
// After a failed write, how long to look for the destination's REFUSED.
constexpr int kRefusalPeekMs = 200;
// The bucket holds a tenth of a second at the rate, at most one page
// batch: a batch that is larger puts the sender in debt, which it waits off.
constexpr uint64_t kMaxBurstBytes = kMaxPagesPerBatch * kWireBytesPerPage;
uint64_t burst_bytes(uint64_t bytes_per_s) { return std::min(kMaxBurstBytes, bytes_per_s / 10); }

std::vector<uint64_t> merged(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  std::vector<uint64_t> out;
  std::set_union(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

// A failed write's cause is often the destination's refusal, sent just
// before it closed: read it if it is there.
std::string destination_refusal(int fd) {
  try {
    await_switch_over(fd, migration::SwitchOver::READY, kRefusalPeekMs);
  } catch (const SwitchOverError& e) {
    std::string what = e.what();
    if (what.starts_with("the destination refused")) return what;
  }
  return "";
}

}  // namespace

class MigrationSender::Cancelled : public std::runtime_error {
 public:
  Cancelled() : std::runtime_error("cancelled") {}
};

std::string migration_phase_name(MigrationPhase p) {
  switch (p) {
    case MigrationPhase::kNone: return "none";
    case MigrationPhase::kPrecopy: return "precopy";
    case MigrationPhase::kStopAndCopy: return "stop-and-copy";
    case MigrationPhase::kSwitchOver: return "switch-over";
    case MigrationPhase::kDone: return "done";
    case MigrationPhase::kFailed: return "failed";
    case MigrationPhase::kCancelled: return "cancelled";
  }
  return "?";
}

MigrationSender::MigrationSender(Domain& domain, UniqueFd stream, const MigrationRequest& request)
    : domain_(domain),
      stream_(std::move(stream)),
      policy_(PrecopyLimits::from_request(request.max_rounds, request.max_downtime_ms)),
      bucket_(request.bandwidth_mib_s << 20, burst_bytes(request.bandwidth_mib_s << 20), Clock::now()),
      started_(Clock::now()) {
  timeval tv{kSendTimeoutS, 0};
  ::setsockopt(stream_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  status_.phase = MigrationPhase::kPrecopy;
  thread_ = std::thread([this] { run(); });
}

MigrationSender::~MigrationSender() {
  cancel();
  thread_.join();
}

MigrationStatus MigrationSender::status() const {
  std::lock_guard lock(mutex_);
  MigrationStatus s = status_;
  if (!s.finished()) s.total_ms = elapsed_ms(started_);
  return s;
}

bool MigrationSender::cancel() {
  std::lock_guard lock(mutex_);
  if (go_committed_) return false;
  if (status_.finished()) return true;
  cancel_requested_ = true;
  // Wakes a thread blocked on the socket; its I/O fails and it sees the flag.
  ::shutdown(stream_.get(), SHUT_RDWR);
  changed_.notify_all();
  return true;
}

MigrationStatus MigrationSender::wait() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return status_.finished(); });
  return status_;
}

void MigrationSender::note(const std::function<void(MigrationStatus&)>& change) {
  std::lock_guard lock(mutex_);
  change(status_);
  changed_.notify_all();
}

uint64_t MigrationSender::elapsed_ms(Clock::time_point since) const {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count());
}

void MigrationSender::check_cancelled() {
  std::lock_guard lock(mutex_);
  if (cancel_requested_) throw Cancelled();
}

// Waits off the bucket's debt, waking early for a cancel.
void MigrationSender::throttle(uint64_t bytes) {
  auto wait = bucket_.take(bytes, Clock::now());
  if (wait.count() == 0) return;
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [this] { return cancel_requested_; });
  if (cancel_requested_) throw Cancelled();
}

void MigrationSender::run() {
  try {
    domain_.start_dirty_log();
    dirty_logging_ = true;
    last_take_ = Clock::now();
    ImageWriter writer(stream_.get());
    precopy(writer);
    stop_and_copy(writer);
    switch_over();
  } catch (const Cancelled&) {
    failed("cancelled", true);
  } catch (const std::exception& e) {
    bool cancelled;
    {
      std::lock_guard lock(mutex_);
      cancelled = cancel_requested_;
    }
    if (cancelled) {
      failed("cancelled", true);
    } else {
      std::string refusal = go_committed_ ? "" : destination_refusal(stream_.get());
      failed(refusal.empty() ? e.what() : refusal, false);
    }
  }
}

// Every frame that is RAM and holds something: a new domain's memory is
// zeros, so zero pages need not travel in the first round (a page written
// later is in a later round's dirty set).
std::vector<uint64_t> MigrationSender::populated_pages() const {
  const GuestMemory& memory = domain_.memory();
  std::vector<bool> absent(memory.ram_pages());
  {
    std::lock_guard lock(domain_.mmu().frame_lock());
    const FrameTable& frames = domain_.mmu().frames();
    for (uint64_t gfn = 0; gfn < frames.nr_frames() && gfn < absent.size(); ++gfn) absent[gfn] = frames.at(gfn).absent;
  }
  std::vector<uint64_t> out;
  for (uint64_t gfn = 0; gfn < memory.ram_pages(); ++gfn) {
    if (!absent[gfn] && !page_is_zero(memory.ram(gfn * kPage, kPage))) out.push_back(gfn);
  }
  return out;
}

// Batch by batch, each paced by the bucket and flushed, so that the
// figures follow the wire and a cancel is seen within a batch.
void MigrationSender::send_pages(ImageWriter& writer, std::span<const uint64_t> gfns) {
  for (size_t at = 0; at < gfns.size(); at += kMaxPagesPerBatch) {
    check_cancelled();
    auto batch = gfns.subspan(at, std::min<size_t>(kMaxPagesPerBatch, gfns.size() - at));
    throttle(batch.size() * kWireBytesPerPage);
    write_page_batches(writer, domain_.memory(), batch, figures_);
    writer.flush();
    note([&](MigrationStatus& s) {
      s.pages_sent = figures_.pages;
      s.bytes_sent = writer.bytes();
    });
  }
}

void MigrationSender::precopy(ImageWriter& writer) {
  DomainState head;
  const DomainConfig& c = domain_.config();
  head.name = c.name;
  head.cmdline = c.cmdline;
  head.kernel = c.kernel;
  head.initramfs = c.initramfs;
  head.memory_mib = c.memory_mib;
  head.vcpus = c.vcpus;
  head.layout = domain_.layout();
  head.time.saved_realtime_ns = host_clock_ns(CLOCK_REALTIME);  // the time record has the moment it stopped
  write_image_head(writer, head, domain_.memory());
  std::vector<uint64_t> pages = populated_pages();
  for (uint32_t round = 1;; ++round) {
    note([&](MigrationStatus& s) { s.round = round; });
    auto sent_from = Clock::now();
    uint64_t bytes_before = writer.bytes();
    send_pages(writer, pages);
    double send_s = std::chrono::duration<double>(Clock::now() - sent_from).count();
    double since_take_s = std::chrono::duration<double>(Clock::now() - last_take_).count();
    std::vector<uint64_t> dirty = domain_.take_dirty_pages();
    last_take_ = Clock::now();
    PrecopyDecision decision = policy_.after_round(writer.bytes() - bytes_before, send_s, dirty.size());
    uint64_t rate = since_take_s > 0 ? static_cast<uint64_t>(static_cast<double>(dirty.size()) / since_take_s) : 0;
    uint64_t estimate = policy_.estimated_downtime_ms(dirty.size());
    note([&](MigrationStatus& s) {
      s.pages_per_round.push_back(pages.size());
      s.pages_dirty = dirty.size();
      s.dirty_pages_per_s = rate;
      s.estimated_downtime_ms = estimate;
    });
    fmt::print(stderr,
               "tortuga-vmm: {}: migration round {}: {} pages sent, {} dirty ({} pages/s), "
               "estimated downtime {} ms: {}\n",
               c.name, round, pages.size(), dirty.size(), rate, estimate, precopy_decision_name(decision));
    if (decision != PrecopyDecision::kAnotherRound) {
      carried_ = std::move(dirty);
      return;
    }
    pages = std::move(dirty);
  }
}

// Paused: the state first (it drains the rings, and what that writes is
// in the frames sent every round), then the pages dirtied since the last
// take, then the state's records and the end record.
void MigrationSender::stop_and_copy(ImageWriter& writer) {
  check_cancelled();
  note([](MigrationStatus& s) { s.phase = MigrationPhase::kStopAndCopy; });
  paused_at_ = Clock::now();
  if (!domain_.paused()) {
    if (!domain_.pause()) throw std::runtime_error("the domain is stopping");
    we_paused_ = true;
  }
  DomainState state = domain_.save();
  std::vector<uint64_t> last = merged(carried_, domain_.take_dirty_pages());
  note([&](MigrationStatus& s) { s.round += 1; });
  send_pages(writer, last);
  write_image_state(writer, state, figures_);
  domain_.stop_dirty_log();
  dirty_logging_ = false;
  note([&](MigrationStatus& s) {
    s.pages_per_round.push_back(last.size());
    s.pages_dirty = 0;
    s.bytes_sent = writer.bytes();
    s.phase = MigrationPhase::kSwitchOver;
  });
  fmt::print(stderr,
             "tortuga-vmm: {}: migration stop-and-copy: {} pages, {} bytes in all; waiting for the destination\n",
             domain_.config().name, last.size(), writer.bytes());
}

void MigrationSender::switch_over() {
  await_switch_over(stream_.get(), migration::SwitchOver::READY, kReadyTimeoutMs);
  {
    std::lock_guard lock(mutex_);
    if (cancel_requested_) throw Cancelled();
    go_committed_ = true;
  }
  try {
    send_switch_over(stream_.get(), migration::SwitchOver::GO, kRunningTimeoutMs);
  } catch (const SwitchOverError&) {
    // send() failed, so no byte of "go" left: the destination cannot run it.
    std::lock_guard lock(mutex_);
    go_committed_ = false;
    throw;
  }
  try {
    await_switch_over(stream_.get(), migration::SwitchOver::RUNNING, kRunningTimeoutMs);
  } catch (const SwitchOverError& e) {
    throw std::runtime_error(fmt::format(
        "outcome unknown: 'go' was sent but the destination did not say it runs the domain ({}); the domain is "
        "left paused here: resume it only if the destination does not run it",
        e.what()));
  }
  uint64_t downtime = elapsed_ms(paused_at_);
  note([&](MigrationStatus& s) {
    s.downtime_ms = downtime;
    s.total_ms = elapsed_ms(started_);
    s.phase = MigrationPhase::kDone;
  });
  domain_.migrated(downtime);
}

// Before "go": back to how it was, the domain running (unless the
// toolstack had paused it). After: paused, for the toolstack to decide.
void MigrationSender::failed(const std::string& why, bool cancelled) {
  if (dirty_logging_) {
    try {
      domain_.stop_dirty_log();
    } catch (const std::exception&) {
    }
    dirty_logging_ = false;
  }
  ::shutdown(stream_.get(), SHUT_RDWR);
  bool resume = we_paused_ && !go_committed_;
  if (resume) domain_.unpause();
  note([&](MigrationStatus& s) {
    s.phase = cancelled ? MigrationPhase::kCancelled : MigrationPhase::kFailed;
    s.error = cancelled ? "cancelled" : why;
    s.total_ms = elapsed_ms(started_);
  });
  fmt::print(stderr, "tortuga-vmm: {}: migration {}: {}{}\n", domain_.config().name, cancelled ? "cancelled" : "failed",
             why, go_committed_ ? "" : "; the domain runs on here");
}

}  // namespace tortuga
