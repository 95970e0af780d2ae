// The split devices of a domain (ABI.md 17-19), keyed by (type, id): disks
// over image files and NICs over TAP interfaces, plugged in when the domain
// is built (cold) or while it runs (hot), and unplugged while it runs.
// Each device owns what it uses on the host (the image's fd, the TAP) and
// gives it back when it goes: a hot-unplugged TAP vanishes from the host.
//
// Thread-safe: the control channel's thread attaches, detaches and lists
// while the vCPUs run. A failed attach leaves nothing behind and the
// domain as it was.
//
// Save and restore (ABI.md 21): quiesce() holds every device (split_device.h)
// until resume(), and refuses attach and detach meanwhile; save() is what
// the image records. restore() re-creates the devices of a restored
// domain from their state: the same image file (which must be there, of
// the same size) or a TAP of the same name (or the one `taps` maps it to).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "devices/device_spec.h"
#include "devices/device_state.h"
#include "events/doorbells.h"
#include "events/event_channels.h"
#include "grant_access.h"
#include "io_counters.h"
#include "devices/split_device.h"
#include "store/store_ring.h"

namespace tortuga {

// One device as the toolstack sees it (vmm_control.proto's DeviceStatus).
struct DeviceInfo {
  std::string type;  // "vbd", "vif"
  uint32_t id = 0;
  std::string name;     // vdev or TAP
  std::string backend;  // image path, or bridge ("" = none)
  int state = 0;        // the backend's (ABI.md 17.2)
  int frontend_state = 0;
  bool read_only = false;
  std::string mac;  // vif only
};

class DeviceSet {
 public:
  struct Parts {
    StoreRing& store;
    EventChannels& events;
    Doorbells& doorbells;
    GrantAccess& grants;
    uint16_t domid;
    std::string domain_name;   // for the VMM's stderr lines
    IoCounters* io = nullptr;  // the domain's I/O totals, which every backend adds to
  };

  explicit DeviceSet(Parts parts);
  // shutdown() if not done.
  ~DeviceSet();
  DeviceSet(const DeviceSet&) = delete;
  DeviceSet& operator=(const DeviceSet&) = delete;

  // Both throw std::runtime_error (DeviceSpecError, BlockImageError,
  // TapError) with one line for the user. A disk without a vdev takes the
  // first free one.
  void attach_disk(DiskSpec spec);
  void attach_nic(const NicSpec& spec);
  // Hot-unplug (ABI.md 17.3). Throws DeviceSpecError (no such device, or
  // the guest did not let go in time and force is false: the device then
  // stays plugged, online again).
  void detach(const std::string& type, uint32_t id, bool force, std::chrono::milliseconds timeout);
  std::vector<DeviceInfo> list() const;
  // Stops every device's threads: before the doorbell thread stops.
  void shutdown();

  // Throws std::runtime_error (a device is being detached); then nothing
  // is quiesced. Idempotent, as is resume().
  void quiesce();
  void resume();
  DeviceSetState save() const;  // while quiesced
  // Throws RestoreError naming the first device that cannot come back and
  // what is wrong.
  void restore(const DeviceSetState& state, const std::map<std::string, std::string>& taps);
  // After a restore, once the vCPUs run: every backend looks at its rings
  // (requests the guest queued before the save), and every NIC announces
  // the guest's MAC on its TAP (net_announce.h).
  void resumed_after_restore();

 private:
  struct Plugged;
  using Key = std::pair<std::string, uint32_t>;
  void plug(const Key& key, std::unique_ptr<Plugged> device);
  void refuse_duplicate_locked(const Key& key, const std::string& host_name) const;
  void restore_device(const DeviceState& saved, const std::map<std::string, std::string>& taps);
  void restore_disk(const DeviceState& saved);
  void restore_nic(const DeviceState& saved, const std::map<std::string, std::string>& taps);
  SplitDevice::Parts device_parts(const std::string& type, uint32_t id);

  Parts p_;
  mutable std::mutex mutex_;
  std::map<Key, std::unique_ptr<Plugged>> devices_;
  bool shut_down_ = false;
  bool quiesced_ = false;
};

}  // namespace tortuga
