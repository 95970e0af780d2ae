// Everything a domain is, apart from its memory, as plain data: what a
// save captures from a paused domain and what a restore builds one from
// (domain_snapshot.cpp, domain_restore.cpp). The image format
// (domain_image.h) turns this into records and back; nothing here knows
// about files or protobuf, so the VMM library stays free of both.
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <tortuga/vcpu.h>

#include "console_ring.h"
#include "devices/device_state.h"
#include "domain/domain_builder.h"
#include "events/event_channels.h"
#include "memory/grant_table.h"
#include "mmu/page_types.h"
#include "store/store.h"
#include "store/store_ring.h"
#include "vcpu/vcpu_state.h"

namespace tortuga {

constexpr uint64_t kNoBasePointer = ~0ULL;

struct SegmentSnapshot {
  uint16_t selector = 0;
  uint64_t base = 0;
};

struct CpuRegistersSnapshot {
  kvm_regs regs{};
  SegmentSnapshot cs, ss, ds, es, fs, gs;
  uint64_t cr2 = 0, cr3 = 0;
  std::vector<uint8_t> xsave;  // struct kvm_xsave's region, empty if KVM has none
  std::vector<std::pair<uint32_t, uint64_t>> xcrs;
  std::vector<std::pair<uint32_t, uint64_t>> msrs;
};

struct VcpuSnapshot {
  uint32_t id = 0;
  bool up = false;
  bool initialised = false;
  bool restart_hypercall = false;
  bool mask_events = false;
  CpuRegistersSnapshot cpu;
  VirtualCpuState virt{};
  bool nmi_pending = false, nmi_active = false;
  uint64_t timer_deadline_ns = 0;
  uint64_t kernel_base_gfn = kNoBasePointer, user_base_gfn = kNoBasePointer;
  std::array<uint64_t, TG_NR_RUNSTATES> runstate_time{};
};

struct PageTypesSnapshot {
  std::vector<std::pair<uint64_t, unsigned>> pins;  // gfn, level
  std::vector<uint64_t> absent;
  std::vector<std::pair<uint64_t, PageType>> typed;  // every frame not writable
};

struct DomainState {
  // What the domain was started with (DomainConfig's saveable part).
  std::string name, cmdline, kernel, initramfs;
  std::string toolstack_config;
  uint64_t memory_mib = 0;
  uint32_t vcpus = 0;

  BootLayout layout;
  uint64_t system_time_ns = 0;   // the guest's clock when it stopped
  uint64_t saved_realtime_ns = 0;
  uint64_t tsc_khz = 0;
  std::vector<VcpuSnapshot> vcpu;
  PageTypesSnapshot page_types;
  std::vector<EventPortSnapshot> ports;
  uint32_t console_port = 0, store_port = 0;
  std::vector<uint64_t> grant_frames;
  std::vector<GrantMapSnapshot> grant_maps;
  StoreState store;
  StoreRingState store_ring;
  ConsoleRingState console_ring;
  std::vector<DeviceSnapshot> devices;  // quiesced: no request in flight
};

}  // namespace tortuga
