// A raw disk image file: the host side of a block backend. Positioned,
// vectored I/O that completes fully or reports -EIO; flush makes completed
// writes durable (fdatasync); discard punches a hole. The file descriptor
// is owned (closed on destruction).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "unique_fd.h"

namespace tortuga {

class BlockImageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class BlockImage {
 public:
  // Opens path (read-only when asked). Throws BlockImageError.
  BlockImage(const std::string& path, bool read_only);
  BlockImage(const BlockImage&) = delete;
  BlockImage& operator=(const BlockImage&) = delete;

  const std::string& path() const { return path_; }
  bool read_only() const { return read_only_; }
  // Whole 512-byte sectors (a trailing partial sector is not part of the disk).
  uint64_t sectors() const { return sectors_; }
  // For asynchronous I/O on the same file (block_uring.h).
  int fd() const { return fd_.get(); }

  // 0 or a negative TG_E* code (-EIO for any host failure).
  int read(uint64_t offset, std::span<const iovec> iov) const;
  int write(uint64_t offset, std::span<const iovec> iov) const;
  int flush() const;
  int discard(uint64_t offset, uint64_t length) const;

 private:
  int transfer(bool write, uint64_t offset, std::span<const iovec> iov) const;

  std::string path_;
  bool read_only_;
  UniqueFd fd_;
  uint64_t sectors_ = 0;
};

}  // namespace tortuga
