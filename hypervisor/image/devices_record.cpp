// The devices record (IMAGE.md, type 30) from a DeviceSetState and back.
// The reader checks sizes only: what each value means is checked by the
// device set and the split device that take it (DeviceSet::restore).
#include "devices/device_spec.h"
#include "image/component_records.h"
#include "image_records.h"

namespace tortuga {
namespace {

namespace pb = image;

constexpr size_t kMaxDevices = kMaxDisks + kMaxNicId + 1;
constexpr size_t kMaxDeviceText = 4096;
constexpr int kMaxDeviceKeys = 16;

void set_disk(pb::Device& p, const DeviceState& d) {
  auto* disk = p.mutable_disk();
  disk->set_path(d.disk.path);
  disk->set_read_only(d.disk.read_only);
  disk->set_uring(d.disk.uring);
  disk->set_vdev(d.disk.vdev);
  disk->set_bytes(d.disk_bytes);
}

void set_nic(pb::Device& p, const NicSpec& n) {
  auto* nic = p.mutable_nic();
  nic->set_tap(n.tap);
  nic->set_mac(n.mac);
  nic->set_bridge(n.bridge);
}

void set_split(pb::SplitDeviceState& split, const SplitDeviceState& s) {
  split.set_state(static_cast<uint32_t>(s.state));
  for (const auto& [name, value] : s.frontend_keys) {
    auto* k = split.add_frontend_keys();
    k->set_name(name);
    k->set_value(value);
  }
  for (const RingPosition& r : s.position) {
    auto* ring = split.add_rings();
    ring->set_attached(r.attached);
    ring->set_req_cons(r.req_cons);
    ring->set_rsp_prod_pvt(r.rsp_prod_pvt);
  }
  for (const auto& [name, value] : s.features) {
    auto* f = split.add_features();
    f->set_name(name);
    f->set_value(value);
  }
}

pb::Device device_record(const DeviceState& d) {
  pb::Device p;
  p.set_type(d.type);
  p.set_id(d.id);
  if (!d.disk.path.empty()) set_disk(p, d);
  if (!d.nic.tap.empty()) set_nic(p, d.nic);
  set_split(*p.mutable_split(), d.split);
  return p;
}

const std::string& bounded(const std::string& text) {
  if (text.size() > kMaxDeviceText) throw ImageError("devices record with a string over its limit");
  return text;
}

SplitDeviceState split_from(const pb::SplitDeviceState& s) {
  if (s.frontend_keys_size() > kMaxDeviceKeys || s.features_size() > kMaxDeviceKeys || s.rings_size() > 2) {
    throw ImageError("devices record with too many keys or rings");
  }
  if (s.state() > 255) throw ImageError("devices record with a state out of range");
  SplitDeviceState split;
  split.state = static_cast<int>(s.state());
  for (const auto& k : s.frontend_keys()) {
    if (!split.frontend_keys.emplace(bounded(k.name()), k.value()).second) {
      throw ImageError("devices record with a frontend key twice");
    }
  }
  for (const auto& r : s.rings()) split.position.push_back({r.attached(), r.req_cons(), r.rsp_prod_pvt()});
  for (const auto& f : s.features()) split.features.emplace_back(bounded(f.name()), bounded(f.value()));
  return split;
}

DeviceState device_from(const pb::Device& p) {
  DeviceState d;
  d.type = bounded(p.type());
  d.id = p.id();
  d.disk = {bounded(p.disk().path()), p.disk().read_only(), p.disk().uring(), bounded(p.disk().vdev())};
  d.disk_bytes = p.disk().bytes();
  d.nic = {bounded(p.nic().tap()), bounded(p.nic().mac()), bounded(p.nic().bridge()), p.id()};
  d.split = split_from(p.split());
  return d;
}

}  // namespace

pb::Devices to_record(const DeviceSetState& s) {
  pb::Devices devices;
  for (const DeviceState& d : s.plugged) *devices.add_devices() = device_record(d);
  return devices;
}

DeviceSetState from_record(const pb::Devices& p) {
  if (static_cast<size_t>(p.devices_size()) > kMaxDevices) throw ImageError("devices record with too many devices");
  DeviceSetState s;
  for (const auto& d : p.devices()) s.plugged.push_back(device_from(d));
  return s;
}

}  // namespace tortuga
