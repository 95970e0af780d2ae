// The source side of a live migration (ABI.md 21, hypervisor/migration/MIGRATION.md):
// pre-copy rounds of the domain's memory on a stream socket while the
// guest runs, then stop-and-copy (the domain paused) of the last dirty
// pages and the rest of its state, then the switch-over. All on a thread
// of its own; status() is the progress for every control reply.
//
// Principle: never two copies running. Anything that goes wrong before
// "go" was sent (socket error, a refusing or dying destination, a cancel,
// a bad reply) stops dirty logging, resumes the domain if the migration
// paused it and leaves phase FAILED or CANCELLED; the source is as before
// and may migrate again. A link that breaks after "go" but before
// "running" leaves the domain paused: the destination may run it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "image/domain_image.h"
#include "migration/precopy_policy.h"
#include "migration/token_bucket.h"
#include "unique_fd.h"

namespace tortuga {

class Domain;

enum class MigrationPhase { kNone, kPrecopy, kStopAndCopy, kSwitchOver, kDone, kFailed, kCancelled };

struct MigrationRequest {
  uint32_t max_rounds = 0;       // 0: the default (PrecopyLimits)
  uint64_t max_downtime_ms = 0;  // 0: the default
  uint64_t bandwidth_mib_s = 0;  // 0: as fast as the link goes
};

struct MigrationStatus {
  MigrationPhase phase = MigrationPhase::kNone;
  uint32_t round = 0;
  uint64_t pages_sent = 0;
  uint64_t pages_dirty = 0;
  uint64_t dirty_pages_per_s = 0;
  uint64_t estimated_downtime_ms = 0;
  uint64_t bytes_sent = 0;
  std::vector<uint64_t> pages_per_round;
  uint64_t downtime_ms = 0;  // paused at the source to "running" received
  uint64_t total_ms = 0;
  std::string error;
  bool finished() const {
    return phase == MigrationPhase::kDone || phase == MigrationPhase::kFailed || phase == MigrationPhase::kCancelled;
  }
};

class MigrationSender {
 public:
  // Starts migrating `domain` (which must outlive this) on `stream`, a
  // connected stream socket to a destination VMM (`--incoming-fd`).
  MigrationSender(Domain& domain, UniqueFd stream, const MigrationRequest& request);
  // Cancels unless past "go", and waits for the thread.
  ~MigrationSender();
  MigrationSender(const MigrationSender&) = delete;
  MigrationSender& operator=(const MigrationSender&) = delete;

  MigrationStatus status() const;
  // Before "go": the migration stops, the domain runs on; true. After it:
  // false (too late, the destination may be running the domain).
  bool cancel();
  // Blocks until the migration finished (tests and benchmarks).
  MigrationStatus wait();

 private:
  class Cancelled;
  void run();
  void precopy(ImageWriter& writer);
  void stop_and_copy(ImageWriter& writer);
  void switch_over();
  void send_pages(ImageWriter& writer, std::span<const uint64_t> gfns);
  std::vector<uint64_t> populated_pages() const;
  void failed(const std::string& why, bool cancelled);
  void throttle(uint64_t bytes);
  void check_cancelled();
  void note(const std::function<void(MigrationStatus&)>& change);
  uint64_t elapsed_ms(std::chrono::steady_clock::time_point since) const;

  Domain& domain_;
  UniqueFd stream_;
  PrecopyPolicy policy_;
  TokenBucket bucket_;
  SaveFigures figures_;
  std::vector<uint64_t> carried_;  // dirty pages taken when the rounds stopped
  std::chrono::steady_clock::time_point started_, paused_at_, last_take_;
  bool we_paused_ = false;
  bool dirty_logging_ = false;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  MigrationStatus status_;
  bool cancel_requested_ = false;
  bool go_committed_ = false;  // from here on, cancel and failures leave the domain paused
  std::thread thread_;
};

std::string migration_phase_name(MigrationPhase phase);

}  // namespace tortuga
