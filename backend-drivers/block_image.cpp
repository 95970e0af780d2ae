#include "block_image.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <tortuga/errno.h>
#include <tortuga/io/blkif.h>

namespace tortuga {

BlockImage::BlockImage(const std::string& path, bool read_only) : path_(path), read_only_(read_only) {
  fd_.reset(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd_.valid()) throw BlockImageError("cannot open disk image " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw BlockImageError("disk image " + path + " is not a regular file");
  }
  sectors_ = static_cast<uint64_t>(st.st_size) / TG_BLKIF_SECTOR_SIZE;
}

// preadv/pwritev may transfer less than asked (signals, end of file for a
// read): carry on from where they stopped.
int BlockImage::transfer(bool write, uint64_t offset, std::span<const iovec> iov) const {
  std::vector<iovec> rest(iov.begin(), iov.end());
  size_t first = 0;
  while (first < rest.size()) {
    ssize_t n =
        write ? ::pwritev(fd_.get(), &rest[first], static_cast<int>(rest.size() - first), static_cast<off_t>(offset))
              : ::preadv(fd_.get(), &rest[first], static_cast<int>(rest.size() - first), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return -TG_EIO;  // 0: the file shrank under us
    offset += static_cast<uint64_t>(n);
    auto done = static_cast<size_t>(n);
    while (first < rest.size() && done >= rest[first].iov_len) done -= rest[first++].iov_len;
    if (first < rest.size()) {
      rest[first].iov_base = static_cast<uint8_t*>(rest[first].iov_base) + done;
      rest[first].iov_len -= done;
    }
  }
  return 0;
}

int BlockImage::read(uint64_t offset, std::span<const iovec> iov) const { return transfer(false, offset, iov); }

int BlockImage::write(uint64_t offset, std::span<const iovec> iov) const {
  if (read_only_) return -TG_EPERM;
  return transfer(true, offset, iov);
}

int BlockImage::flush() const { return ::fdatasync(fd_.get()) == 0 ? 0 : -TG_EIO; }

int BlockImage::discard(uint64_t offset, uint64_t length) const {
  if (read_only_) return -TG_EPERM;
  if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(length)) == 0) {
    return 0;
  }
  return errno == EOPNOTSUPP ? -TG_EOPNOTSUPP : -TG_EIO;
}

}  // namespace tortuga
