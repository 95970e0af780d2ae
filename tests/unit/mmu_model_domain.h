// A model domain for the PV MMU tests: guest RAM of a few frames, a PvMmu
// over it and the ApplyProgram that carries the validated writes. Tables
// are built directly in RAM while their frames are untyped (they are
// ordinary memory then), then pinned or linked through the PvMmu; commit()
// performs the program's writes as the vCPU's routine would.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include <tortuga/memory.h>

#include "mmu/apply_program.h"
#include "memory/guest_memory.h"
#include "mmu/pending_writes.h"
#include "mmu/pv_mmu.h"
#include "vcpu/reserved_area.h"

namespace tortuga::test {

constexpr uint64_t kP = TG_PTE_P;
constexpr uint64_t kRW = TG_PTE_RW;
constexpr uint64_t kUS = TG_PTE_US;
constexpr uint64_t kA = TG_PTE_A;
constexpr uint64_t kD = TG_PTE_D;
constexpr uint64_t kG = TG_PTE_G;
constexpr uint64_t kPS = TG_PTE_PS;
// How the tests link tables and map pages. US is set because the VMM
// stores every present entry with US = 1 (ABI.md 8.4).
constexpr uint64_t kTable = kP | kRW | kUS;
constexpr uint64_t kPageRw = kP | kRW | kUS;
constexpr uint64_t kPageRo = kP | kUS;

constexpr uint64_t pte_to(uint64_t gfn, uint64_t flags) { return (gfn << 12) | flags; }
constexpr uint64_t entry_gpa(uint64_t gfn, unsigned index) { return (gfn << 12) + 8 * uint64_t{index}; }

class MmuModelDomain {
 public:
  static constexpr uint64_t kFrames = 64;

  explicit MmuModelDomain(uint64_t frames = kFrames)
      : memory(frames * 4096, reserved_area::kGpa, reserved_area::kSize), mmu(memory, 1) {}

  // An entry in RAM, for building a table while its frame is untyped.
  uint64_t& ram(uint64_t gfn, unsigned index) {
    auto* e = memory.ram_object<uint64_t>(entry_gpa(gfn, index));
    if (e == nullptr) throw std::logic_error("test entry outside RAM");
    return *e;
  }
  // An entry as the VMM sees it: RAM with the pending writes over it.
  uint64_t entry(uint64_t gfn, unsigned index) const {
    auto v = read_entry(memory, &mmu.pending(), entry_gpa(gfn, index));
    if (!v) throw std::logic_error("test entry outside RAM");
    return *v;
  }

  int update(uint64_t gfn, unsigned index, uint64_t val, uint64_t kind = TG_MMU_NORMAL_PT_UPDATE,
             uint64_t* previous = nullptr) {
    return mmu.update(entry_gpa(gfn, index) | kind, val, program, previous);
  }
  int pin(uint64_t gfn, unsigned level) { return mmu.pin(gfn, level, program); }
  int unpin(uint64_t gfn) { return mmu.unpin(gfn); }
  bool release(uint64_t gfn) { return mmu.release(gfn, program); }

  // The vCPU ran the program: RAM is current, nothing is pending.
  void commit() {
    program.apply_to(memory);
    mmu.applied();
    program.clear();
  }

  const FrameInfo& frame(uint64_t gfn) const { return mmu.frames().at(gfn); }
  std::string invariants() const { return mmu.check_invariants(); }

  // Writes (in RAM) the chain l4[0] -> l3, l3[0] -> l2, l2[0] -> l1; zero
  // frames are skipped.
  void chain(uint64_t l4, uint64_t l3, uint64_t l2, uint64_t l1) {
    if (l4 && l3) ram(l4, 0) = pte_to(l3, kTable);
    if (l3 && l2) ram(l3, 0) = pte_to(l2, kTable);
    if (l2 && l1) ram(l2, 0) = pte_to(l1, kTable);
  }

  GuestMemory memory;
  PvMmu mmu;
  ApplyProgram program;
};

}  // namespace tortuga::test
