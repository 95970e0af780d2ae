// What a save records of one vCPU, as plain data (README.md, "Saving a
// component"): Vcpu::save() fills it from a paused vCPU and
// Vcpu::restore() checks it and sets a new vCPU up from it
// (vcpu_state.cpp); image/vcpu_record.cpp turns it into a record and back.
// Only what the guest can influence travels: the VMM rebuilds descriptor
// tables, control registers and hidden segment parts itself.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include <tortuga/vcpu.h>

#include "vcpu/virtual_cpu_state.h"

namespace tortuga {

// A base pointer gfn that is not set.
constexpr uint64_t kNoBasePointer = ~0ULL;

struct VcpuState {
  struct Segment {
    uint16_t selector = 0;
    uint64_t base = 0;
  };
  // The CPU's registers, recorded only for an initialised vCPU.
  struct Registers {
    kvm_regs regs{};
    Segment cs, ss, ds, es, fs, gs;
    uint64_t cr2 = 0, cr3 = 0;
    std::vector<uint8_t> xsave;  // struct kvm_xsave's region, empty if KVM has none
    std::vector<std::pair<uint32_t, uint64_t>> xcrs;
    std::vector<std::pair<uint32_t, uint64_t>> msrs;
  };

  uint32_t id = 0;
  bool up = false;
  bool initialised = false;
  bool restart_hypercall = false;
  bool mask_events = false;
  Registers cpu;
  VirtualCpuState virt{};
  bool nmi_pending = false, nmi_active = false;
  uint64_t timer_deadline_ns = 0;
  uint64_t kernel_base_gfn = kNoBasePointer, user_base_gfn = kNoBasePointer;
  std::array<uint64_t, TG_NR_RUNSTATES> runstate_time{};
};

}  // namespace tortuga
