#include "devices/device_spec.h"

#include <charconv>
#include <set>

#include <fmt/format.h>

namespace tortuga {
namespace {

constexpr size_t kMaxIfName = 15;  // IFNAMSIZ - 1

// A Linux interface name: 1..15 bytes, no '/', ':' or blanks, not "." or "..".
void check_ifname(const std::string& name, const char* what) {
  bool ok = !name.empty() && name.size() <= kMaxIfName && name != "." && name != "..";
  for (char c : name) ok = ok && c > ' ' && c < 0x7f && c != '/' && c != ':';
  if (!ok)
    throw DeviceSpecError(fmt::format("bad {} name '{}' (1-15 printable characters, no '/' or ':')", what, name));
}

std::optional<uint32_t> parse_u32(const std::string& s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Splits "base,opt,opt" from the end: each trailing part that `take`
// accepts is consumed; the rest (commas and all) is the base.
template <typename Take>
std::string strip_options(std::string text, Take take) {
  for (auto comma = text.rfind(','); comma != std::string::npos; comma = text.rfind(',')) {
    if (!take(text.substr(comma + 1))) break;
    text.resize(comma);
  }
  return text;
}

bool starts_with(const std::string& s, const char* prefix, std::string* rest) {
  std::string p(prefix);
  if (s.compare(0, p.size(), p) != 0) return false;
  *rest = s.substr(p.size());
  return true;
}

void check_nic_fields(const NicSpec& n) {
  check_ifname(n.tap, "TAP interface");
  if (!n.mac.empty() && !valid_mac(n.mac)) {
    throw DeviceSpecError(fmt::format("bad MAC '{}' (xx:xx:xx:xx:xx:xx, unicast)", n.mac));
  }
  if (!n.bridge.empty()) check_ifname(n.bridge, "bridge");
  if (n.id && *n.id > kMaxNicId) throw DeviceSpecError(fmt::format("vif id {} is above {}", *n.id, kMaxNicId));
}

}  // namespace

uint32_t vbd_id_from_vdev(const std::string& vdev) {
  if (vdev.size() != 4 || vdev.compare(0, 3, "xvd") != 0 || vdev[3] < 'a' || vdev[3] >= 'a' + int{kMaxDisks}) {
    throw DeviceSpecError(fmt::format("bad vdev '{}': must be xvda .. xvdp", vdev));
  }
  return kFirstDiskId + 16 * static_cast<uint32_t>(vdev[3] - 'a');
}

std::string vdev_from_vbd_id(uint32_t id) {
  return fmt::format("xvd{}", static_cast<char>('a' + (id - kFirstDiskId) / 16));
}

bool valid_mac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (size_t i = 0; i < mac.size(); ++i) {
    char c = mac[i];
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (i % 3 == 2 ? c != ':' : !hex) return false;
  }
  int first = std::stoi(mac.substr(0, 2), nullptr, 16);
  return (first & 1) == 0;
}

DiskSpec parse_disk_option(const std::string& text) {
  DiskSpec d;
  d.path = strip_options(text, [&](const std::string& opt) {
    std::string v;
    if (opt == "ro") {
      d.read_only = true;
    } else if (opt == "uring") {
      d.uring = true;
    } else if (starts_with(opt, "vdev=", &v)) {
      d.vdev = v;
    } else {
      return false;
    }
    return true;
  });
  if (d.path.empty()) throw DeviceSpecError(fmt::format("--disk '{}': no image path", text));
  if (!d.vdev.empty()) vbd_id_from_vdev(d.vdev);
  return d;
}

NicSpec parse_nic_option(const std::string& text) {
  NicSpec n;
  std::string bad_id;
  n.tap = strip_options(text, [&](const std::string& opt) {
    std::string v;
    if (starts_with(opt, "mac=", &v)) {
      n.mac = v;
    } else if (starts_with(opt, "bridge=", &v)) {
      n.bridge = v;
    } else if (starts_with(opt, "id=", &v)) {
      n.id = parse_u32(v);
      if (!n.id) bad_id = v;
    } else {
      return false;
    }
    return true;
  });
  if (!bad_id.empty()) throw DeviceSpecError(fmt::format("--nic '{}': bad id '{}'", text, bad_id));
  check_nic_fields(n);
  return n;
}

void check_disk_spec(const DiskSpec& d) {
  if (d.path.empty()) throw DeviceSpecError("no image path");
  vbd_id_from_vdev(d.vdev);
}

void check_nic_spec(const NicSpec& n) {
  if (!n.id) throw DeviceSpecError("no vif id");
  check_nic_fields(n);
}

void complete_device_specs(std::vector<DiskSpec>& disks, std::vector<NicSpec>& nics) {
  std::set<std::string> vdevs;
  for (const DiskSpec& d : disks) {
    if (!d.vdev.empty() && !vdevs.insert(d.vdev).second)
      throw DeviceSpecError(fmt::format("two disks named {}", d.vdev));
  }
  uint32_t next = 0;
  for (DiskSpec& d : disks) {
    if (!d.vdev.empty()) continue;
    while (next < kMaxDisks && vdevs.count(vdev_from_vbd_id(kFirstDiskId + 16 * next))) ++next;
    if (next == kMaxDisks) throw DeviceSpecError(fmt::format("more than {} disks", kMaxDisks));
    d.vdev = vdev_from_vbd_id(kFirstDiskId + 16 * next);
    vdevs.insert(d.vdev);
  }
  std::set<uint32_t> ids;
  std::set<std::string> taps;
  for (const NicSpec& n : nics) {
    if (n.id && !ids.insert(*n.id).second) throw DeviceSpecError(fmt::format("two NICs with vif id {}", *n.id));
    if (!taps.insert(n.tap).second) throw DeviceSpecError(fmt::format("two NICs on TAP {}", n.tap));
  }
  uint32_t id = 0;
  for (NicSpec& n : nics) {
    if (n.id) continue;
    while (ids.count(id)) ++id;
    n.id = id;
    ids.insert(id);
  }
}

}  // namespace tortuga
