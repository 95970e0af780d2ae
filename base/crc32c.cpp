#include "crc32c.h"

#include <cstring>

#include <array>

namespace tortuga {
namespace {

// The portable path: bytewise with a table, on the reflected polynomial,
// the same state the SSE4.2 instruction keeps.
constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

uint32_t update_portable(uint32_t state, const uint8_t* p, size_t n) {
  for (; n > 0; ++p, --n) state = kTable[(state ^ *p) & 0xff] ^ (state >> 8);
  return state;
}

__attribute__((target("sse4.2"))) uint32_t update_sse42(uint32_t state, const uint8_t* p, size_t n) {
  uint64_t s = state;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    s = __builtin_ia32_crc32di(s, word);
  }
  uint32_t s32 = static_cast<uint32_t>(s);
  for (; n > 0; ++p, --n) s32 = __builtin_ia32_crc32qi(s32, *p);
  return s32;
}

bool has_sse42() {
  static const bool yes = __builtin_cpu_supports("sse4.2");
  return yes;
}

}  // namespace

void Crc32c::update(std::span<const uint8_t> bytes) {
  state_ = has_sse42() ? update_sse42(state_, bytes.data(), bytes.size())
                       : update_portable(state_, bytes.data(), bytes.size());
}

uint32_t crc32c(std::span<const uint8_t> bytes) {
  Crc32c c;
  c.update(bytes);
  return c.value();
}

}  // namespace tortuga
