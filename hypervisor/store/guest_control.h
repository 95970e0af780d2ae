// What the toolstack asks of a running guest through its store (ABI.md
// 16.1): shut down or reboot (control/shutdown) and a balloon target
// (memory/target, KiB). A guest says it will act on them by writing
// control/feature-shutdown and control/feature-balloon = 1; everything it
// wrote is read back as hostile text.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include "store/store_ring.h"

namespace tortuga {

class GuestControlError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Writes `poweroff` or `reboot` to control/shutdown. True when the guest
// advertised control/feature-shutdown = 1 (it will act on it).
bool request_guest_shutdown(StoreRing& store, const std::string& what);

// Writes memory/target. Throws GuestControlError when the guest has no
// balloon driver (control/feature-balloon) or target_kib is outside
// 1 MiB .. max_kib.
void set_balloon_target(StoreRing& store, uint64_t target_kib, uint64_t max_kib);

// memory/target as the store holds it now, or nullopt if it is not a
// decimal number (the guest may write there).
std::optional<uint64_t> balloon_target_kib(StoreRing& store);

}  // namespace tortuga
