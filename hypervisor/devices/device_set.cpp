#include "devices/device_set.h"

#include <filesystem>

#include <fmt/format.h>
#include <tortuga/io/blkif.h>
#include <tortuga/io/netif.h>

#include <sys/stat.h>

#include "devices/block_device.h"
#include "block_image.h"
#include "host_bridge.h"
#include "net_announce.h"
#include "devices/net_device.h"
#include "domain/restore_source.h"
#include "tap_device.h"

namespace tortuga {
namespace {

// The same image file under two names is still one file.
std::string canonical(const std::string& path) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : c.string();
}

uint64_t file_bytes(const BlockImage& image) {
  struct stat st {};
  return ::fstat(image.fd(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

// Declaration order is destruction order reversed: the split device (and
// its backend's threads) goes before the image or TAP it uses.
struct DeviceSet::Plugged {
  DeviceInfo info;  // what does not change while plugged
  DiskSpec disk;    // as attached, for a save
  NicSpec nic;
  std::string host_key;  // canonical image path or TAP name, for duplicates
  std::unique_ptr<BlockImage> image;
  std::unique_ptr<TapDevice> tap;
  std::unique_ptr<SplitDevice> device;
  bool detaching = false;
};

DeviceSet::DeviceSet(Parts parts) : p_(std::move(parts)) {}

DeviceSet::~DeviceSet() { shutdown(); }

void DeviceSet::shutdown() {
  std::lock_guard lock(mutex_);
  shut_down_ = true;
  for (auto& [key, d] : devices_) d->device->shutdown();
}

SplitDevice::Parts DeviceSet::device_parts(const std::string& type, uint32_t id) {
  return {p_.store, p_.events, p_.doorbells, [name = p_.domain_name, type, id](const std::string& what) {
            fmt::print(stderr, "tortuga-vmm: {}: {} {}: {}\n", name, type, id, what);
          }};
}

void DeviceSet::refuse_duplicate_locked(const Key& key, const std::string& host_key) const {
  if (shut_down_) throw DeviceSpecError("the domain is stopping");
  if (quiesced_) throw DeviceSpecError("the domain is being saved");
  if (auto it = devices_.find(key); it != devices_.end()) {
    throw DeviceSpecError(fmt::format("{} {} ({}) is already attached", key.first, key.second, it->second->info.name));
  }
  for (const auto& [k, d] : devices_) {
    if (k.first == key.first && d->host_key == host_key) {
      throw DeviceSpecError(
          fmt::format("{} is already attached as {} {} ({})",
                      key.first == TG_BLKIF_DEVTYPE ? "image " + d->info.backend : "TAP " + d->info.name, k.first,
                      k.second, d->info.name));
    }
  }
}

void DeviceSet::attach_disk(DiskSpec spec) {
  std::lock_guard lock(mutex_);
  // No vdev: the first one no disk has (xvda, xvdb, ...).
  for (uint32_t n = 0; spec.vdev.empty() && n < kMaxDisks; ++n) {
    if (!devices_.count({TG_BLKIF_DEVTYPE, kFirstDiskId + 16 * n})) spec.vdev = vdev_from_vbd_id(kFirstDiskId + 16 * n);
  }
  if (spec.vdev.empty()) throw DeviceSpecError(fmt::format("no free vdev: {} disks attached", kMaxDisks));
  check_disk_spec(spec);
  uint32_t id = vbd_id_from_vdev(spec.vdev);
  Key key{TG_BLKIF_DEVTYPE, id};
  auto d = std::make_unique<Plugged>();
  d->info = {key.first, id, spec.vdev, spec.path, 0, 0, spec.read_only, ""};
  d->disk = spec;
  d->host_key = canonical(spec.path);
  refuse_duplicate_locked(key, d->host_key);
  d->image = std::make_unique<BlockImage>(spec.path, spec.read_only);
  d->device = make_block_device(device_parts(key.first, id), p_.grants, *d->image, p_.domid, id,
                                spec.uring ? BlockEngine::kUring : BlockEngine::kThreads, nullptr, p_.io);
  devices_.emplace(key, std::move(d));
}

void DeviceSet::attach_nic(const NicSpec& spec) {
  std::lock_guard lock(mutex_);
  check_nic_spec(spec);
  uint32_t id = *spec.id;
  Key key{TG_NETIF_DEVTYPE, id};
  std::string mac = spec.mac.empty() ? default_mac(p_.domid, id) : spec.mac;
  auto d = std::make_unique<Plugged>();
  d->info = {key.first, id, spec.tap, spec.bridge, 0, 0, false, mac};
  d->nic = spec;
  d->nic.mac = mac;
  d->host_key = spec.tap;
  refuse_duplicate_locked(key, d->host_key);
  // The TAP is made here and not persistent: it goes when its fd closes.
  d->tap = std::make_unique<TapDevice>(spec.tap);
  if (!spec.bridge.empty()) join_bridge(spec.bridge, spec.tap);
  d->device = make_net_device(device_parts(key.first, id), p_.grants, *d->tap, mac, p_.domid, id, nullptr, p_.io);
  devices_.emplace(key, std::move(d));
}

void DeviceSet::detach(const std::string& type, uint32_t id, bool force, std::chrono::milliseconds timeout) {
  Key key{type, id};
  Plugged* d = nullptr;
  {
    std::lock_guard lock(mutex_);
    auto it = devices_.find(key);
    if (it == devices_.end()) throw DeviceSpecError(fmt::format("no {} {} in this domain", type, id));
    if (it->second->detaching) throw DeviceSpecError(fmt::format("{} {} is being detached already", type, id));
    if (shut_down_) throw DeviceSpecError("the domain is stopping");
    if (quiesced_) throw DeviceSpecError("the domain is being saved");
    d = it->second.get();
    d->detaching = true;  // from here only this call touches or removes it
  }
  if (!d->device->unplug(timeout) && !force) {
    d->device->cancel_unplug();
    int front = d->device->frontend_state();
    std::lock_guard lock(mutex_);
    d->detaching = false;
    throw DeviceSpecError(fmt::format(
        "the guest did not let go of {} {} ({}) within {} ms (frontend state {}); it stays attached (force removes it "
        "anyway)",
        type, id, d->info.name, timeout.count(), front));
  }
  d->device->shutdown();
  d->device->remove_directories();
  std::unique_ptr<Plugged> gone;
  {
    std::lock_guard lock(mutex_);
    auto it = devices_.find(key);
    gone = std::move(it->second);
    devices_.erase(it);
  }
  gone.reset();  // the image's fd, or the TAP (it vanishes from the host)
}

void DeviceSet::quiesce() {
  std::lock_guard lock(mutex_);
  if (quiesced_) return;
  for (const auto& [key, d] : devices_) {
    if (d->detaching) {
      throw std::runtime_error(fmt::format("{} {} ({}) is being detached", key.first, key.second, d->info.name));
    }
  }
  quiesced_ = true;
  for (auto& [key, d] : devices_) d->device->quiesce();
}

void DeviceSet::resume() {
  std::lock_guard lock(mutex_);
  if (!quiesced_) return;
  quiesced_ = false;
  for (auto& [key, d] : devices_) d->device->resume();
}

DeviceSetState DeviceSet::save() const {
  std::lock_guard lock(mutex_);
  if (!quiesced_) throw std::logic_error("device snapshot of devices not quiesced");
  DeviceSetState out;
  for (const auto& [key, d] : devices_) {
    DeviceState s{key.first, key.second, d->disk, 0, d->nic, d->device->save()};
    if (d->image) s.disk_bytes = file_bytes(*d->image);
    out.plugged.push_back(std::move(s));
  }
  return out;
}

void DeviceSet::restore(const DeviceSetState& state, const std::map<std::string, std::string>& taps) {
  for (const DeviceState& d : state.plugged) restore_device(d, taps);
}

void DeviceSet::restore_device(const DeviceState& saved, const std::map<std::string, std::string>& taps) {
  std::lock_guard lock(mutex_);
  try {
    if (saved.type == TG_BLKIF_DEVTYPE) {
      restore_disk(saved);
    } else if (saved.type == TG_NETIF_DEVTYPE) {
      restore_nic(saved, taps);
    } else {
      throw DeviceSpecError("no such device type");
    }
  } catch (const std::exception& e) {
    std::string name = saved.type == TG_NETIF_DEVTYPE ? saved.nic.tap : saved.disk.vdev;
    throw RestoreError(fmt::format("{} {} ({}): {}", saved.type, saved.id, name, e.what()));
  }
}

// The same image file, of the same size: the disk is shared between the
// hosts (ABI.md 21), and the guest knows its size.
void DeviceSet::restore_disk(const DeviceState& saved) {
  const DiskSpec& spec = saved.disk;
  check_disk_spec(spec);
  uint32_t id = vbd_id_from_vdev(spec.vdev);
  if (id != saved.id) throw DeviceSpecError(fmt::format("{} is not vbd {}", spec.vdev, saved.id));
  Key key{TG_BLKIF_DEVTYPE, id};
  auto d = std::make_unique<Plugged>();
  d->info = {key.first, id, spec.vdev, spec.path, 0, 0, spec.read_only, ""};
  d->disk = spec;
  d->host_key = canonical(spec.path);
  refuse_duplicate_locked(key, d->host_key);
  d->image = std::make_unique<BlockImage>(spec.path, spec.read_only);
  if (uint64_t bytes = file_bytes(*d->image); bytes != saved.disk_bytes) {
    throw DeviceSpecError(
        fmt::format("the image {} is {} bytes; the saved disk was {} bytes", spec.path, bytes, saved.disk_bytes));
  }
  d->device = make_block_device(device_parts(key.first, id), p_.grants, *d->image, p_.domid, id,
                                spec.uring ? BlockEngine::kUring : BlockEngine::kThreads, &saved.split, p_.io);
  devices_.emplace(key, std::move(d));
}

// A TAP of the saved name, or the one the restore maps it to (a TAP is not
// persistent: the saving VMM's went with it), in the saved bridge.
void DeviceSet::restore_nic(const DeviceState& saved, const std::map<std::string, std::string>& taps) {
  NicSpec spec = saved.nic;
  if (auto it = taps.find(spec.tap); it != taps.end()) spec.tap = it->second;
  check_nic_spec(spec);
  if (*spec.id != saved.id) throw DeviceSpecError(fmt::format("the saved NIC says vif {}", *spec.id));
  if (!parse_mac_address(spec.mac)) throw DeviceSpecError(fmt::format("bad MAC '{}'", spec.mac));
  Key key{TG_NETIF_DEVTYPE, saved.id};
  auto d = std::make_unique<Plugged>();
  d->info = {key.first, saved.id, spec.tap, spec.bridge, 0, 0, false, spec.mac};
  d->nic = spec;
  d->host_key = spec.tap;
  refuse_duplicate_locked(key, d->host_key);
  d->tap = std::make_unique<TapDevice>(spec.tap);
  if (!spec.bridge.empty()) join_bridge(spec.bridge, spec.tap);
  d->device = make_net_device(device_parts(key.first, saved.id), p_.grants, *d->tap, spec.mac, p_.domid, saved.id,
                              &saved.split, p_.io);
  devices_.emplace(key, std::move(d));
}

void DeviceSet::resumed_after_restore() {
  std::lock_guard lock(mutex_);
  for (auto& [key, d] : devices_) {
    d->device->resume();  // looks at the rings: requests queued before the save
    if (!d->tap) continue;
    if (auto mac = parse_mac_address(d->nic.mac)) d->tap->send(mac_announcement(*mac));
  }
}

std::vector<DeviceInfo> DeviceSet::list() const {
  std::lock_guard lock(mutex_);
  std::vector<DeviceInfo> out;
  for (const auto& [key, d] : devices_) {
    DeviceInfo info = d->info;
    info.state = d->device->state();
    info.frontend_state = d->device->frontend_state();
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace tortuga
