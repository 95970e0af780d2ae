// A TAP network interface on the host: Ethernet frames written here are
// received by the host's interface, frames the host sends through it are
// read here. The VMM creates it by name (or attaches to an existing one,
// e.g. made by the toolstack and put in a bridge) and brings it up.
#pragma once

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "unique_fd.h"

namespace tortuga {

class TapError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

class TapDevice {
 public:
  explicit TapDevice(const std::string& name);  // throws TapError
  TapDevice(const TapDevice&) = delete;
  TapDevice& operator=(const TapDevice&) = delete;

  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }
  // One frame; false when the host did not take it (queue full, link down).
  bool send(std::span<const uint8_t> frame);
  // One frame into buf, its length, or 0 when none is waiting.
  size_t receive(std::span<uint8_t> buf);

 private:
  std::string name_;
  UniqueFd fd_;
};

}  // namespace tortuga
