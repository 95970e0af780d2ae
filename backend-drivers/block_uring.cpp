#include "block_uring.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <liburing.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace tortuga {
namespace {

// The tag of the request that tells the reaper to stop.
void* const kStop = reinterpret_cast<void*>(~uintptr_t{0});

}  // namespace

struct BlockUring::Ring {
  io_uring ring;
};

BlockUring::BlockUring(int fd, unsigned entries, Done done)
    : fd_(fd), done_(std::move(done)), ring_(std::make_unique<Ring>()) {
  if (int err = io_uring_queue_init(entries, &ring_->ring, 0); err < 0) {
    throw std::runtime_error(std::string("io_uring_queue_init: ") + std::strerror(-err));
  }
  reaper_ = std::thread([this] { reap(); });
}

BlockUring::~BlockUring() {
  // Completions come in any order: wait for all, then wake the reaper with a NOP.
  {
    std::unique_lock lock(mutex_);
    drained_.wait(lock, [&] { return in_flight_ == 0; });
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_->ring);
  while (sqe == nullptr) {
    io_uring_submit(&ring_->ring);
    sqe = io_uring_get_sqe(&ring_->ring);
  }
  io_uring_prep_nop(sqe);
  io_uring_sqe_set_data(sqe, kStop);
  io_uring_submit(&ring_->ring);
  reaper_.join();
  io_uring_queue_exit(&ring_->ring);
}

// The submission queue has as many entries as requests can be in flight
// (the ring's slots), so a free entry is always there; if not, what is
// queued is submitted to make room.
static io_uring_sqe* next_sqe(io_uring* ring) {
  io_uring_sqe* sqe = io_uring_get_sqe(ring);
  while (sqe == nullptr) {
    io_uring_submit(ring);
    sqe = io_uring_get_sqe(ring);
  }
  return sqe;
}

void BlockUring::submitted() {
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  io_uring_submit(&ring_->ring);
}

void BlockUring::read(uint64_t offset, const iovec* iov, unsigned n, void* tag) {
  io_uring_sqe* sqe = next_sqe(&ring_->ring);
  io_uring_prep_readv(sqe, fd_, iov, n, offset);
  io_uring_sqe_set_data(sqe, tag);
  submitted();
}

void BlockUring::write(uint64_t offset, const iovec* iov, unsigned n, void* tag) {
  io_uring_sqe* sqe = next_sqe(&ring_->ring);
  io_uring_prep_writev(sqe, fd_, iov, n, offset);
  io_uring_sqe_set_data(sqe, tag);
  submitted();
}

void BlockUring::datasync(void* tag) {
  io_uring_sqe* sqe = next_sqe(&ring_->ring);
  io_uring_prep_fsync(sqe, fd_, IORING_FSYNC_DATASYNC);
  io_uring_sqe_set_data(sqe, tag);
  submitted();
}

void BlockUring::punch_hole(uint64_t offset, uint64_t length, void* tag) {
  io_uring_sqe* sqe = next_sqe(&ring_->ring);
  io_uring_prep_fallocate(sqe, fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
  io_uring_sqe_set_data(sqe, tag);
  submitted();
}

void BlockUring::reap() {
  for (;;) {
    io_uring_cqe* cqe = nullptr;
    int err = io_uring_wait_cqe(&ring_->ring, &cqe);
    if (err == -EINTR) continue;
    if (err < 0) return;  // the ring is unusable: nothing more will complete
    void* tag = io_uring_cqe_get_data(cqe);
    int res = cqe->res;
    io_uring_cqe_seen(&ring_->ring, cqe);
    if (tag == kStop) return;  // queued only once nothing else was in flight
    done_(tag, res);
    std::lock_guard lock(mutex_);
    if (--in_flight_ == 0) drained_.notify_all();
  }
}

}  // namespace tortuga
