#include "vcpu/guest_call_stack.h"

#include <optional>

namespace tortuga {
namespace {

constexpr uint64_t kKernelHalf = 0xffff800000000000ULL;
constexpr unsigned kLongestCall = 6;  // bytes of the longest call form recognised

// Reads a small value (at most a page, so on at most two pages) without
// throwing: both ends must translate.
template <typename T>
std::optional<T> try_read(const GuestAddressSpace& space, uint64_t va) {
  static_assert(sizeof(T) <= 4096);
  if (!space.translate(va, Access::kRead).ok() || !space.translate(va + sizeof(T) - 1, Access::kRead).ok()) {
    return std::nullopt;
  }
  return space.read<T>(va);
}

// b[i] is the byte at address - kLongestCall + i.
bool call_ends_at(const uint8_t (&b)[kLongestCall]) {
  // The byte `back` bytes before the address.
  auto at = [&b](unsigned back) { return b[kLongestCall - back]; };
  if (at(5) == 0xe8) return true;                                             // call rel32
  if (at(6) == 0xff && at(5) == 0x15) return true;                            // call *disp32(%rip)
  if (at(2) == 0xff && (at(1) & 0xf8) == 0xd0) return true;                   // call *%reg
  if (at(3) == 0xff && (at(2) & 0xf8) == 0x50 && at(2) != 0x54) return true;  // call *disp8(%reg)
  if (at(6) == 0xff && (at(5) & 0xf8) == 0x90 && at(5) != 0x94) return true;  // call *disp32(%reg)
  return false;
}

}  // namespace

bool follows_call_instruction(const GuestAddressSpace& kernel, uint64_t address) {
  struct Bytes {
    uint8_t b[kLongestCall];
  };
  std::optional<Bytes> before = try_read<Bytes>(kernel, address - kLongestCall);
  return before.has_value() && call_ends_at(before->b);
}

std::vector<uint64_t> guest_return_addresses(const GuestAddressSpace& kernel, uint64_t rsp, CallStackLimits limits) {
  std::vector<uint64_t> out;
  std::optional<uint64_t> top = try_read<uint64_t>(kernel, rsp);
  if (!top || limits.frames == 0) return out;
  out.push_back(*top);
  for (unsigned i = 1; i <= limits.words && out.size() < limits.frames; ++i) {
    std::optional<uint64_t> word = try_read<uint64_t>(kernel, rsp + 8 * i);
    if (!word) break;
    if (*word >= kKernelHalf && follows_call_instruction(kernel, *word)) out.push_back(*word);
  }
  return out;
}

}  // namespace tortuga
