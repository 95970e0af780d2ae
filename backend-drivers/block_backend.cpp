#include "block_backend.h"

#include <sys/uio.h>

#include <cerrno>

#include <tortuga/errno.h>
#include <tortuga/event_channel.h>

namespace tortuga {

BlockBackend::BlockBackend(BlockImage& image, GrantAccess& grants, uint32_t ring_ref, RaisePort raise, Broken broken,
                           BlockEngine engine, unsigned workers)
    : image_(image), grants_(grants), ring_ref_(ring_ref), raise_(std::move(raise)), broken_(std::move(broken)) {
  disk_.sectors = image.sectors();
  disk_.read_only = image.read_only();
  if (engine == BlockEngine::kUring) {
    try {
      uring_ = std::make_unique<BlockUring>(image.fd(), Ring::kSlots,
                                            [this](void* tag, int result) { uring_done(tag, result); });
      return;
    } catch (const std::exception&) {
      // no io_uring here (old kernel, seccomp): the threads do the same job
    }
  }
  for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { worker(); });
}

// The workers finish what is queued first: a closing device completes the
// requests it holds (ABI.md 17.3), and their grants end with them.
BlockBackend::~BlockBackend() {
  uring_.reset();  // waits for what it has in flight, which completes through the ring
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

BlockBackendStats BlockBackend::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool BlockBackend::is_broken() const {
  std::lock_guard lock(mutex_);
  return broken_state_;
}

void BlockBackend::fail(const std::string& reason) {
  if (broken_state_) return;
  broken_state_ = true;
  broken_(reason);
}

void BlockBackend::notified() {
  std::lock_guard lock(mutex_);
  ++stats_.notifications;
  if (broken_state_ || quiesced_) return;  // resume() looks at the ring again
  // The ring page is used like any grant: held only while we look at it.
  GrantUse ring = grants_.use(TG_DOMID_VMM, ring_ref_, true);
  if (!ring.ok()) {
    fail("the ring page's grant was refused (error " + std::to_string(ring.error()) + ")");
    return;
  }
  auto& s = *reinterpret_cast<tg_blkif_sring*>(ring.page());
  if (!attached_) {
    ring_.attach(s);
    attached_ = true;
  }
  bool respond = false;
  take_requests(s, &respond);
  if (respond && !broken_state_) publish(s);
}

void BlockBackend::quiesce() {
  std::unique_lock lock(mutex_);
  quiesced_ = true;
  idle_.wait(lock, [&] { return in_flight_ == 0; });
}

void BlockBackend::resume() {
  {
    std::lock_guard lock(mutex_);
    quiesced_ = false;
  }
  notified();
}

BackendPosition BlockBackend::position() const {
  std::lock_guard lock(mutex_);
  return {{attached_, ring_.req_cons(), ring_.rsp_prod_pvt()}};
}

void BlockBackend::restore_position(const BackendPosition& at) {
  check_saved_position(at, 1);
  std::lock_guard lock(mutex_);
  attached_ = at[0].attached;
  ring_.resume(at[0].req_cons, at[0].rsp_prod_pvt);
}

void BlockBackend::take_requests(tg_blkif_sring& s, bool* respond) {
  do {
    tg_blkif_request req;
    for (;;) {
      RingRead r = ring_.next_request(s, &req);
      if (r == RingRead::kEmpty) break;
      if (r == RingRead::kRunaway) {
        fail("the frontend's request producer index ran away (more requests than the ring holds)");
        return;
      }
      ++stats_.requests;
      BlockPlan plan;
      int status = check_block_request(req, disk_, &plan);
      if (status == 0) status = start(plan);
      if (status != 0) {
        answer(s, plan.id, plan.op, status);
        *respond = true;
      }
    }
  } while (ring_.more_requests(s));
}

int BlockBackend::start(const BlockPlan& plan) {
  count(plan);
  Job job{plan, {}, {}};
  bool to_memory = plan.op == TG_BLKIF_OP_READ;  // a read writes the granted pages
  for (uint32_t i = 0; i < plan.nr_segments; ++i) {
    GrantUse page = grants_.use(TG_DOMID_VMM, plan.seg[i].gref, to_memory);
    if (!page.ok()) return -TG_EACCES;  // the pages taken so far are released with job
    job.pages.push_back(std::move(page));
  }
  ++in_flight_;  // under mutex_, as complete()'s decrement
  if (uring_) {
    submit_uring(std::make_unique<Job>(std::move(job)));
    return 0;
  }
  {
    std::lock_guard lock(queue_mutex_);
    queue_.push_back(std::move(job));
  }
  queue_cv_.notify_one();
  return 0;
}

void BlockBackend::count(const BlockPlan& plan) {
  if (io_ == nullptr) return;
  if (plan.op == TG_BLKIF_OP_READ) {
    IoCounters::add(io_->block_reads, 1);
    IoCounters::add(io_->block_read_bytes, plan.length);
  } else if (plan.op == TG_BLKIF_OP_WRITE) {
    IoCounters::add(io_->block_writes, 1);
    IoCounters::add(io_->block_write_bytes, plan.length);
  } else {
    IoCounters::add(io_->block_other, 1);
  }
}

void BlockBackend::answer(tg_blkif_sring& s, uint64_t id, uint8_t op, int status) {
  tg_blkif_response rsp{};
  rsp.id = id;
  rsp.op = op;
  rsp.status = static_cast<int16_t>(status);
  if (status != 0) ++stats_.errors;
  ring_.put_response(s, rsp);
}

void BlockBackend::publish(tg_blkif_sring& s) {
  if (ring_.push_responses(s)) {
    ++stats_.events;
    raise_();
  }
}

void BlockBackend::worker() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(queue_mutex_);
      queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to finish
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    complete(job, run(job));
  }
}

int BlockBackend::run(Job& job) {
  const BlockPlan& p = job.plan;
  switch (p.op) {
    case TG_BLKIF_OP_FLUSH: return image_.flush();
    case TG_BLKIF_OP_DISCARD: return image_.discard(p.offset, p.length);
    default: {
      iovec iov[TG_BLKIF_MAX_SEGMENTS];
      for (uint32_t i = 0; i < p.nr_segments; ++i) {
        iov[i] = {job.pages[i].page() + p.seg[i].offset, p.seg[i].length};
      }
      std::span<const iovec> v(iov, p.nr_segments);
      return p.op == TG_BLKIF_OP_READ ? image_.read(p.offset, v) : image_.write(p.offset, v);
    }
  }
}

// The job's ownership travels with the request as its tag.
void BlockBackend::submit_uring(std::unique_ptr<Job> job) {
  const BlockPlan& p = job->plan;
  for (uint32_t i = 0; i < p.nr_segments; ++i) job->iov[i] = {job->pages[i].page() + p.seg[i].offset, p.seg[i].length};
  Job* tag = job.release();
  switch (p.op) {
    case TG_BLKIF_OP_FLUSH: return uring_->datasync(tag);
    case TG_BLKIF_OP_DISCARD: return uring_->punch_hole(p.offset, p.length, tag);
    case TG_BLKIF_OP_READ: return uring_->read(p.offset, tag->iov, p.nr_segments, tag);
    default: return uring_->write(p.offset, tag->iov, p.nr_segments, tag);
  }
}

// A short transfer (a signal, the file shrinking) is redone the slow way.
void BlockBackend::uring_done(void* tag, int result) {
  std::unique_ptr<Job> job(static_cast<Job*>(tag));
  const BlockPlan& p = job->plan;
  int status;
  if (p.op == TG_BLKIF_OP_READ || p.op == TG_BLKIF_OP_WRITE) {
    status = result == static_cast<int>(p.length) ? 0 : run(*job);
  } else {
    status = result == 0 ? 0 : result == -EOPNOTSUPP ? -TG_EOPNOTSUPP : -TG_EIO;
  }
  complete(*job, status);
}

void BlockBackend::complete(Job& job, int status) {
  job.pages.clear();  // grants end before the frontend can see the response
  std::lock_guard lock(mutex_);
  answer_locked(job.plan, status);
  if (--in_flight_ == 0) idle_.notify_all();
}

void BlockBackend::answer_locked(const BlockPlan& plan, int status) {
  if (broken_state_) return;
  GrantUse ring = grants_.use(TG_DOMID_VMM, ring_ref_, true);
  if (!ring.ok()) {
    fail("the ring page's grant was revoked with requests in flight");
    return;
  }
  auto& s = *reinterpret_cast<tg_blkif_sring*>(ring.page());
  answer(s, plan.id, plan.op, status);
  publish(s);
}

}  // namespace tortuga
