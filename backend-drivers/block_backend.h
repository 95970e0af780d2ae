// The block backend (ABI.md 18) of one disk: a ring of tg_blkif requests
// granted by the frontend, data pages reached only through grants, a raw
// image file underneath.
//
// Threads: notified() runs on the doorbell thread (the frontend rang the
// port's doorbell or sent on it). It copies requests out of the ring,
// checks them (check_block_request), answers bad ones at once and hands the
// rest to a few worker threads that run the host I/O, so neither the vCPU
// nor the doorbell thread ever waits for the disk. Workers answer through
// the ring and raise the port, with notification suppression (15.3).
//
// A request holds its data grants from the moment it is taken until just
// before its response is published, so the frontend can revoke them as
// soon as it sees the response, and cannot while the I/O runs.
//
// Save (split_backend.h): quiesce() leaves requests in the ring untaken
// and waits for the ones taken to complete; a FLUSH among them completes
// like any other, and acknowledged writes are on the image already.
//
// A frontend that breaks the ring itself (a runaway req_prod, a ring page
// whose grant it revoked) gets `broken(reason)`: the device stops, and the
// VMM's owner decides what happens to the domain (ABI.md 15.4).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tortuga/io/blkif.h>

#include "block_image.h"
#include "block_request.h"
#include "block_uring.h"
#include "grant_access.h"
#include "io_counters.h"
#include "shared_ring.h"
#include "split_backend.h"

namespace tortuga {

struct BlockBackendStats {
  uint64_t requests = 0;       // taken from the ring
  uint64_t errors = 0;         // answered with a nonzero status
  uint64_t notifications = 0;  // times the backend was notified
  uint64_t events = 0;         // times it raised the port
};

// How the host I/O runs: a few worker threads doing preadv/pwritev, or
// io_uring with one reaper thread.
enum class BlockEngine { kThreads, kUring };

class BlockBackend final : public SplitBackend {
 public:
  using RaisePort = std::function<void()>;
  using Broken = std::function<void(const std::string& reason)>;

  // ring_ref: the grant reference of the frontend's ring page.
  // kUring falls back to threads when io_uring cannot be set up.
  BlockBackend(BlockImage& image, GrantAccess& grants, uint32_t ring_ref, RaisePort raise, Broken broken,
               BlockEngine engine = BlockEngine::kThreads, unsigned workers = 4);
  ~BlockBackend() override;  // runs and answers the requests still queued (the device is closing)
  BlockBackend(const BlockBackend&) = delete;
  BlockBackend& operator=(const BlockBackend&) = delete;

  void notified() override;
  void quiesce() override;
  void resume() override;
  BackendPosition position() const override;
  void restore_position(const BackendPosition& at) override;
  const DiskGeometry& geometry() const { return disk_; }
  BlockBackendStats stats() const;
  // The domain's totals this backend adds its requests to (none by default).
  void count_io_in(IoCounters* io) { io_ = io; }
  bool is_broken() const;
  BlockEngine engine() const { return uring_ ? BlockEngine::kUring : BlockEngine::kThreads; }

 private:
  using Ring = BackRing<tg_blkif_sring, tg_blkif_request, tg_blkif_response>;
  struct Job {
    BlockPlan plan;
    std::vector<GrantUse> pages;
    iovec iov[TG_BLKIF_MAX_SEGMENTS];  // into the pages, for io_uring
  };

  // With mutex_ held and the ring page in hand.
  void take_requests(tg_blkif_sring& s, bool* respond);
  void answer(tg_blkif_sring& s, uint64_t id, uint8_t op, int status);
  // Starts a checked request: its grants, then the worker queue; or the
  // error to answer with.
  int start(const BlockPlan& plan);
  void count(const BlockPlan& plan);
  void publish(tg_blkif_sring& s);
  void fail(const std::string& reason);

  void worker();
  int run(Job& job);
  void submit_uring(std::unique_ptr<Job> job);
  void uring_done(void* tag, int result);
  void complete(Job& job, int status);
  // Its response, published (the ring held only for this).
  void answer_locked(const BlockPlan& plan, int status);

  BlockImage& image_;
  GrantAccess& grants_;
  uint32_t ring_ref_;
  RaisePort raise_;
  Broken broken_;
  DiskGeometry disk_;

  mutable std::mutex mutex_;  // the ring, its indices and the stats
  Ring ring_;
  bool attached_ = false;
  bool broken_state_ = false;
  bool quiesced_ = false;
  uint32_t in_flight_ = 0;        // started, not completed (their grants are held)
  std::condition_variable idle_;  // in_flight_ fell to 0
  BlockBackendStats stats_;
  IoCounters* io_ = nullptr;

  std::mutex queue_mutex_;
  std::condition_variable queue_cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  std::unique_ptr<BlockUring> uring_;  // when the engine is io_uring
};

}  // namespace tortuga
