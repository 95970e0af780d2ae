// Fuzz target: privileged_instruction_name reads guest code bytes; it must
// never read past them, and a name it returns is never empty.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vcpu/privileged_instruction.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto name = tortuga::privileged_instruction_name(std::span<const uint8_t>(data, size));
  if (name && name->empty()) std::abort();
  return 0;
}
