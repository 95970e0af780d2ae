// An anonymous or file mapping owned by one object: unmapped when it dies.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace tortuga {

class HostMapping {
 public:
  HostMapping() = default;
  HostMapping(void* addr, size_t size) : addr_(addr), size_(size) {}
  HostMapping(const HostMapping&) = delete;
  HostMapping& operator=(const HostMapping&) = delete;
  HostMapping(HostMapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  HostMapping& operator=(HostMapping&& o) noexcept {
    if (this != &o) {
      release();
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~HostMapping() { release(); }

  // Maps zeroed, private-to-this-process anonymous memory (shared with KVM).
  static HostMapping anonymous(size_t size);

  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }
  size_t size() const { return size_; }

 private:
  void release() {
    if (addr_ != nullptr) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }
  void* addr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tortuga
