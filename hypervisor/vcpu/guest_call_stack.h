// The guest kernel's likely return addresses at a hypercall, read from its
// stack without its unwind tables: the word at rsp (the hypercall page slot
// returns there, so it is the caller of the slot), then words above it that
// point into the kernel half just after a call instruction. A guess, as
// Linux's own "guess" unwinder is: a stale return address left in a frame
// is reported too. Unreadable memory ends the scan; nothing here throws.
#pragma once

#include <cstdint>
#include <vector>

#include "mmu/guest_address_space.h"

namespace tortuga {

struct CallStackLimits {
  unsigned frames = 6;  // addresses returned at most, the one at rsp included
  unsigned words = 64;  // stack words read above rsp at most
};

std::vector<uint64_t> guest_return_addresses(const GuestAddressSpace& kernel, uint64_t rsp,
                                             CallStackLimits limits = {});

// Whether the bytes before `address` end with a call instruction: call
// rel32, call *disp32(%rip), call *%reg (with or without REX), or call
// through a register plus displacement.
bool follows_call_instruction(const GuestAddressSpace& kernel, uint64_t address);

}  // namespace tortuga
