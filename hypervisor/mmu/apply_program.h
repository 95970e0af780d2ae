// The page-table writes and TLB flushes that one vCPU has validated and not
// yet applied, and the CPL0 machine code that applies them inside the guest.
//
// Why machine code: KVM's shadow MMU only notices page-table writes made by
// the guest's own CPU (PLATFORM.md), so the VMM never writes a live table
// from user space. It resumes the vCPU at CPL0 in its reserved area, in a
// routine generated for this one batch, that does the writes through the
// area's supervisor map of guest RAM, flushes, and returns to the guest
// with iretq. On this host CPL0 code is emulated at 1-2 µs an instruction,
// so the routine is straight-line code: two instructions per isolated
// entry, one `rep movsq` per run of consecutive entries, no loop overhead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "memory/guest_memory.h"

namespace tortuga {

class ApplyProgram {
 public:
  // Writes one routine can carry. A program may hold more (pinning a big
  // tree rewrites many entries); the VMM then runs it in chunks of this
  // many with take_front(), each but the last costing an exit.
  static constexpr size_t kCapacity = 6144;
  // INVLPGs beyond this many become one full flush, which is cheaper.
  static constexpr size_t kMaxInvlpgs = 64;
  // Code bytes the largest routine can need (see encode()).
  static constexpr size_t kMaxCodeBytes = kCapacity * 20 + kMaxInvlpgs * 13 + 128;

  struct Store {
    uint64_t gpa;  // 8-byte aligned entry in guest RAM
    uint64_t value;
  };

  void store(uint64_t gpa, uint64_t value);
  void invlpg(uint64_t va);
  void flush_tlb() { flush_tlb_ = true; }

  bool empty() const { return stores_.empty() && invlpgs_.empty() && !flush_tlb_; }
  // True when one routine can carry the whole program.
  bool fits() const { return stores_.size() <= kCapacity; }
  size_t room() const { return fits() ? kCapacity - stores_.size() : 0; }
  // Moves the first n writes (no TLB work) into a program of their own.
  ApplyProgram take_front(size_t n);
  size_t store_count() const { return stores_.size(); }
  bool flushes_tlb() const { return flush_tlb_; }
  const std::vector<Store>& stores() const { return stores_; }
  const std::vector<uint64_t>& invlpgs() const { return invlpgs_; }
  void clear();

  // Where the routine lives and what it can reach, as guest VAs.
  struct Layout {
    uint64_t code_va;     // the routine's first instruction
    uint64_t values_va;   // where encode() put the values of runs
    uint64_t ram_map_va;  // VA of guest-physical 0 in the supervisor RAM map
  };
  // How the routine ends: iretq to the guest (through the frame the VMM put
  // at rsp) after restoring the registers it used, or an `out` to the VMM.
  enum class Ending { kIretToGuest, kExitToVmm };
  struct GuestRegisters {
    uint64_t rax, rcx, rsi, rdi;
    // Nonzero: the page table to load before returning (a NEW_BASEPTR of
    // this batch). The routine runs on the table the guest exited from,
    // because a new L4's VMM slot may be among the writes it applies. The
    // load flushes the TLB, so no other flush is emitted then.
    uint64_t cr3 = 0;
  };
  struct Encoded {
    size_t code_bytes = 0;
    size_t values = 0;
    uint64_t exit_rip = 0;  // kExitToVmm: rip right after the final `out`
  };
  // Writes the routine into code (at least kMaxCodeBytes) and the values of
  // its runs into values (at least kCapacity). The program must fit().
  Encoded encode(uint8_t* code, uint64_t* values, const Layout& layout, Ending ending, const GuestRegisters& restore,
                 uint8_t exit_port) const;

  // Performs the writes directly on guest memory, as the routine would:
  // before the domain first runs, and in tests.
  void apply_to(const GuestMemory& memory) const;

 private:
  std::vector<Store> stores_;
  std::vector<uint64_t> invlpgs_;
  bool flush_tlb_ = false;
};

}  // namespace tortuga
