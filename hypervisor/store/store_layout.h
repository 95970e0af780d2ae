// What a domain's store holds when it starts (ABI.md 16.1, 16.4): its
// home with domid and name, the balloon target, and the directories the
// guest may write (device/, control/, memory/, data/), everything owned by
// the VMM and readable by the guest.
#pragma once

#include <cstdint>
#include <string>

#include "store/store.h"

namespace tortuga {

void fill_domain_store(Store& store, const std::string& name, uint64_t memory_kib);

// Makes path (and its missing parents) owned by the VMM, with access
// ('r' or 'b') for the domain.
void vmm_node(Store& store, const std::string& path, const std::string& value, char guest_access);

}  // namespace tortuga
