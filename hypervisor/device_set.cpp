#include "device_set.h"

#include <filesystem>

#include <fmt/format.h>
#include <tortuga/io/blkif.h>
#include <tortuga/io/netif.h>

#include "block_device.h"
#include "block_image.h"
#include "host_bridge.h"
#include "net_device.h"
#include "tap_device.h"

namespace tortuga {
namespace {

// The same image file under two names is still one file.
std::string canonical(const std::string& path) {
  std::error_code ec;
  auto c = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : c.string();
}

}  // namespace

// Declaration order is destruction order reversed: the split device (and
// its backend's threads) goes before the image or TAP it uses.
struct DeviceSet::Plugged {
  DeviceInfo info;  // what does not change while plugged
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
  if (auto it = devices_.find(key); it != devices_.end()) {
    throw DeviceSpecError(fmt::format("{} {} ({}) is already attached", key.first, key.second, it->second->info.name));
  }
  for (const auto& [k, d] : devices_) {
    if (k.first == key.first && d->host_key == host_key) {
      throw DeviceSpecError(fmt::format("{} is already attached as {} {} ({})",
                                        key.first == TG_BLKIF_DEVTYPE ? "image " + d->info.backend : "TAP " + d->info.name,
                                        k.first, k.second, d->info.name));
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
  d->host_key = canonical(spec.path);
  refuse_duplicate_locked(key, d->host_key);
  d->image = std::make_unique<BlockImage>(spec.path, spec.read_only);
  d->device = make_block_device(device_parts(key.first, id), p_.grants, *d->image, p_.domid, id,
                                spec.uring ? BlockEngine::kUring : BlockEngine::kThreads, p_.io);
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
  d->host_key = spec.tap;
  refuse_duplicate_locked(key, d->host_key);
  // The TAP is made here and not persistent: it goes when its fd closes.
  d->tap = std::make_unique<TapDevice>(spec.tap);
  if (!spec.bridge.empty()) join_bridge(spec.bridge, spec.tap);
  d->device = make_net_device(device_parts(key.first, id), p_.grants, *d->tap, mac, p_.domid, id, p_.io);
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
