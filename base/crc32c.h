// CRC-32C (Castagnoli), the checksum of every record of a domain image.
// Chosen over CRC-32 because x86-64 computes it in hardware (SSE4.2), which
// keeps checksumming a large image well below the cost of writing it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace tortuga {

class Crc32c {
 public:
  void update(std::span<const uint8_t> bytes);
  uint32_t value() const { return ~state_; }

 private:
  uint32_t state_ = 0xffffffffu;
};

uint32_t crc32c(std::span<const uint8_t> bytes);

}  // namespace tortuga
