#include "vcpu/privileged_instruction.h"

#include <fmt/format.h>

namespace tortuga {
namespace {

bool is_prefix(uint8_t b) {
  // Opcode tables read best a row per group.
  // clang-format off
  switch (b) {
    case 0x26: case 0x2e: case 0x36: case 0x3e: case 0x64: case 0x65:  // segment
    case 0x66: case 0x67: case 0xf0: case 0xf2: case 0xf3:             // size, lock, rep
      return true;
    default:
      return (b & 0xf0) == 0x40;  // REX
  }
  // clang-format on
}

std::optional<std::string> two_byte(std::span<const uint8_t> c) {
  if (c.empty()) return std::nullopt;
  uint8_t op = c[0];
  unsigned reg = c.size() > 1 ? (c[1] >> 3) & 7 : 0;
  switch (op) {
    case 0x00:
      if (reg == 2) return "lldt";
      if (reg == 3) return "ltr";
      return std::nullopt;
    case 0x01:
      if (c.size() > 1 && c[1] >= 0xc0) {  // register forms are distinct instructions
        switch (c[1]) {
          case 0xf8: return "swapgs";
          case 0xc8: return "monitor";
          case 0xc9: return "mwait";
          case 0xd1: return "xsetbv";
          case 0xca: return "clac";
          case 0xcb: return "stac";
          default: return std::nullopt;  // xgetbv, rdtscp, rdpkru, ...
        }
      }
      if (reg == 2) return "lgdt";
      if (reg == 3) return "lidt";
      if (reg == 6) return "lmsw";
      if (reg == 7) return "invlpg";
      return std::nullopt;
    case 0x06: return "clts";
    case 0x07: return "sysret";
    case 0x08: return "invd";
    case 0x09: return "wbinvd";
    case 0x20: return fmt::format("mov from cr{}", reg);
    case 0x21: return fmt::format("mov from dr{}", reg);
    case 0x22: return fmt::format("mov to cr{}", reg);
    case 0x23: return fmt::format("mov to dr{}", reg);
    case 0x30: return "wrmsr";
    case 0x32: return "rdmsr";
    case 0x35: return "sysexit";
    default: return std::nullopt;
  }
}

}  // namespace

std::optional<std::string> privileged_instruction_name(std::span<const uint8_t> code) {
  size_t i = 0;
  while (i < code.size() && i < 15 && is_prefix(code[i])) ++i;
  if (i >= code.size()) return std::nullopt;
  // clang-format off
  switch (code[i]) {
    case 0xfa: return "cli";
    case 0xfb: return "sti";
    case 0xf4: return "hlt";
    case 0xe4: case 0xe5: case 0xec: case 0xed: return "in";
    case 0xe6: case 0xe7: case 0xee: case 0xef: return "out";
    case 0x6c: case 0x6d: return "ins";
    case 0x6e: case 0x6f: return "outs";
    case 0xcd: return "int";
    case 0xcf: return "iret";
    case 0x0f: return two_byte(code.subspan(i + 1));
    default: return std::nullopt;
  }
  // clang-format on
}

}  // namespace tortuga
