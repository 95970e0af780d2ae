// Names the privileged instruction at the start of a byte sequence, for the
// one-line reason given when a guest kernel executes one (it runs at CPL3,
// so the CPU raises #GP and the VMM kills the domain).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace tortuga {

// The mnemonic ("cli", "mov to cr3", "out", ...) when `code` starts with a
// privileged instruction, after any legacy and REX prefixes.
std::optional<std::string> privileged_instruction_name(std::span<const uint8_t> code);

}  // namespace tortuga
