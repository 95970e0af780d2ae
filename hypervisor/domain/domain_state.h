// What a save records of a domain, apart from its memory, as plain data
// (README.md, "Saving a component"): the domain's own part (its config,
// boot layout, clock and the ports of its console and store) and the State
// of each of its components, each taken by the component's save() and
// given back to its restore(). Domain::save() (domain_save.cpp) fills it
// from a paused domain, Domain's restoring constructor (domain_restore.cpp)
// builds one from it. The image (image/) turns each part into its record
// and back; nothing here knows about files or protobuf, so the VMM library
// stays free of both.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "console_ring.h"
#include "devices/device_state.h"
#include "domain/domain_builder.h"
#include "events/event_channels.h"
#include "memory/grant_table.h"
#include "mmu/page_types.h"
#include "store/store_ring.h"
#include "vcpu/vcpu_state.h"

namespace tortuga {

struct DomainState {
  // The domain's clock when it stopped (the time record).
  struct Time {
    uint64_t system_time_ns = 0;  // the guest's clock
    uint64_t saved_realtime_ns = 0;
    uint64_t tsc_khz = 0;
  };

  // What the domain was started with (DomainConfig's saveable part).
  std::string name, cmdline, kernel, initramfs;
  std::string toolstack_config;
  uint64_t memory_mib = 0;
  uint32_t vcpus = 0;

  BootLayout layout;
  Time time;
  uint32_t console_port = 0, store_port = 0;

  std::vector<VcpuState> vcpu;
  PageTypesState page_types;
  EventChannelsState events;
  GrantTableState grants;
  StoreRingState store_ring;  // with the store behind it
  ConsoleRingState console_ring;
  DeviceSetState devices;
};

}  // namespace tortuga
