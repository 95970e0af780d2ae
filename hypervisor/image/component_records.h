// Each component's State as its image record and back (README.md, "Saving
// a component"; IMAGE.md has the records). One pair per record, in a file
// named for the component (vcpu_record.cpp, store_record.cpp, ...):
// to_record() cannot fail; from_record() checks what the format bounds
// (counts, sizes, ranges) and throws ImageError naming what is wrong, and
// leaves what a value means to the component's restore(). domain_image.cpp
// puts the records in order on the writer and takes them off the reader.
#pragma once

#include <cstdint>

#include "domain/domain_state.h"
#include "domain_image.pb.h"

namespace tortuga {

// vcpu_record.cpp
image::Vcpu to_record(const VcpuState& vcpu);
VcpuState from_record(const image::Vcpu& record);

// page_types_record.cpp: memory_bytes bounds the released gfns.
image::PageTypes to_record(const PageTypesState& types);
PageTypesState from_record(const image::PageTypes& record, uint64_t memory_bytes);

// event_channels_record.cpp: the record also names the domain's console
// and store ports.
image::EventChannels to_record(const EventChannelsState& events, uint32_t console_port, uint32_t store_port);
EventChannelsState from_record(const image::EventChannels& record, uint32_t& console_port, uint32_t& store_port);

// grant_table_record.cpp
image::GrantTable to_record(const GrantTableState& grants);
GrantTableState from_record(const image::GrantTable& record);

// time_record.cpp: realtime 0 (an older image) is left for the reader to
// take from the header.
image::Time to_record(const DomainState::Time& time);
DomainState::Time from_record(const image::Time& record);

// store_record.cpp
image::Store to_record(const StoreState& store);
StoreState from_record(const image::Store& record);

// store_ring_record.cpp: the ring's VMM side only; the store behind it has
// a record of its own (store_record.cpp), and from_record leaves it empty.
image::StoreRing to_record(const StoreRingState& ring);
StoreRingState from_record(const image::StoreRing& record);

// console_ring_record.cpp
image::ConsoleRing to_record(const ConsoleRingState& ring);
ConsoleRingState from_record(const image::ConsoleRing& record);

// devices_record.cpp
image::Devices to_record(const DeviceSetState& devices);
DeviceSetState from_record(const image::Devices& record);

// platform_record.cpp: the boot layout.
image::Platform to_record(const BootLayout& layout);
BootLayout from_record(const image::Platform& record);

}  // namespace tortuga
