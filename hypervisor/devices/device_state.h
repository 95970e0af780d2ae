// What a save records of a domain's split devices (ABI.md 17-19, 21;
// README.md, "Saving a component"), as plain data: taken from quiesced
// devices (DeviceSet::save, SplitDevice::save), written as the devices
// record (image/devices_record.cpp), and given back to a DeviceSet that
// re-creates them (DeviceSet::restore, SplitDevice's restoring
// constructor). Everything here is hostile when it comes from an image:
// the device set checks it as an attach would, and the split device as
// the handshake would.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "devices/device_spec.h"
#include "split_backend.h"

namespace tortuga {

// One SplitDevice's side of the handshake (ABI.md 17.3). Saved only in
// InitWait, Connected or Closed (a device being unplugged is not saved).
struct SplitDeviceState {
  int state = 0;
  // Connected: the frontend's port the backend bound, the frontend's keys
  // the backend connected with (ring refs, event-channel), and where the
  // backend stands on its rings. A restored device binds and uses these
  // again without a new handshake: the frontend notices nothing.
  uint32_t port = 0;
  std::map<std::string, uint64_t> frontend_keys;
  BackendPosition position;
  // The feature keys the backend published; a restored backend must
  // publish the same (the frontend read them once, at connection).
  std::vector<std::pair<std::string, std::string>> features;
};

// One plugged device.
struct DeviceState {
  std::string type;  // "vbd", "vif"
  uint32_t id = 0;
  DiskSpec disk;            // vbd: as attached (vdev filled in)
  uint64_t disk_bytes = 0;  // vbd: the image's size at the save
  NicSpec nic;              // vif: as attached (id and MAC filled in)
  SplitDeviceState split;
};

// Every device of the set, quiesced: no request in flight.
struct DeviceSetState {
  std::vector<DeviceState> plugged;
};

}  // namespace tortuga
