// Asynchronous file I/O for the block backend through io_uring: requests
// are queued by the submitting thread (one at a time: the caller
// serialises submit calls) and completions are reaped on a thread of this
// class's own, which calls `done(tag, result)` (result as the syscall
// would return it: bytes, 0, or -errno). Destruction waits for every
// submitted request to complete first.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace tortuga {

class BlockUring {
 public:
  using Done = std::function<void(void* tag, int result)>;

  // Throws std::runtime_error when io_uring is not available.
  BlockUring(int fd, unsigned entries, Done done);
  ~BlockUring();
  BlockUring(const BlockUring&) = delete;
  BlockUring& operator=(const BlockUring&) = delete;

  // The iovecs must stay valid until the completion.
  void read(uint64_t offset, const iovec* iov, unsigned n, void* tag);
  void write(uint64_t offset, const iovec* iov, unsigned n, void* tag);
  void datasync(void* tag);
  void punch_hole(uint64_t offset, uint64_t length, void* tag);

 private:
  struct Ring;
  void reap();
  void submitted();

  int fd_;
  Done done_;
  std::unique_ptr<Ring> ring_;
  std::mutex mutex_;
  std::condition_variable drained_;
  uint64_t in_flight_ = 0;
  std::thread reaper_;
};

}  // namespace tortuga
