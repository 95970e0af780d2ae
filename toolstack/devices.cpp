#include "devices.h"

#include <sys/stat.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "config.h"

namespace tortuga::toolstack {
namespace {

constexpr uint32_t kFirstXvdId = 51712;   // ABI.md 18: Linux's Xen disk numbering
constexpr size_t kInterfaceNameMax = 15;  // IFNAMSIZ - 1

bool hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

void require_image(const std::string& key, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw ConfigError(fmt::format("{}: no such file: {}", key, path));
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
    throw ConfigError(fmt::format("{}: not a regular file or block device: {}", key, path));
  }
}

void require_bridge(const std::string& key, const std::string& bridge) {
  struct stat st {};
  if (::stat(fmt::format("/sys/class/net/{}/bridge", bridge).c_str(), &st) != 0) {
    throw ConfigError(fmt::format("{}: no bridge '{}' on this host", key, bridge));
  }
}

}  // namespace

std::optional<uint32_t> vbd_id(const std::string& vdev) {
  if (vdev.size() != 4 || !vdev.starts_with("xvd") || vdev[3] < 'a' || vdev[3] >= 'a' + int(kMaxDisks)) {
    return std::nullopt;
  }
  return kFirstXvdId + 16 * static_cast<uint32_t>(vdev[3] - 'a');
}

bool valid_mac(const std::string& mac) {
  if (mac.size() != 17) return false;
  bool all_zero = true;
  for (size_t i = 0; i < mac.size(); ++i) {
    if (i % 3 == 2) {
      if (mac[i] != ':') return false;
    } else if (!hex_digit(mac[i])) {
      return false;
    } else if (mac[i] != '0') {
      all_zero = false;
    }
  }
  return !all_zero && (hex_value(mac[1]) & 1) == 0;  // bit 0 of the first byte: multicast
}

std::string default_mac(uint32_t domid, uint32_t devid) {
  // 02: locally administered unicast; 74:67 ("tg"); then the ids.
  return fmt::format("02:74:67:{:02x}:{:02x}:{:02x}", (domid >> 8) & 0xff, domid & 0xff, devid & 0xff);
}

std::string tap_name(uint32_t domid, uint32_t devid) { return fmt::format("tg{}.{}", domid, devid); }

bool valid_interface_name(const std::string& name) {
  if (name.empty() || name.size() > kInterfaceNameMax || name == "." || name == "..") return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\0' || c < 0x20 || c > 0x7e;
  });
}

void validate_disk(const api::Disk& d, const std::string& key, bool check_files) {
  if (d.path().empty()) throw ConfigError(fmt::format("{}.path: missing (the image file)", key));
  if (d.path()[0] != '/') throw ConfigError(fmt::format("{}.path: '{}' is not an absolute path", key, d.path()));
  // tortuga-vmm's --disk PATH,opt,...: a comma would start an option.
  if (d.path().find_first_of(",\n") != std::string::npos) {
    throw ConfigError(fmt::format("{}.path: '{}' contains a comma or newline", key, d.path()));
  }
  if (!vbd_id(d.vdev())) {
    throw ConfigError(fmt::format("{}.vdev: '{}' is not xvda..xvd{}", key, d.vdev(), char('a' + kMaxDisks - 1)));
  }
  if (check_files) require_image(key + ".path", d.path());
}

void validate_nic(const api::Nic& n, const std::string& key, bool check_files) {
  if (!n.mac().empty() && !valid_mac(n.mac())) {
    throw ConfigError(fmt::format("{}.mac: '{}' is not a unicast MAC address like 02:74:67:00:01:00", key, n.mac()));
  }
  if (!n.bridge().empty()) {
    if (!valid_interface_name(n.bridge())) {
      throw ConfigError(fmt::format("{}.bridge: '{}' is not an interface name", key, n.bridge()));
    }
    if (check_files) require_bridge(key + ".bridge", n.bridge());
  }
}

void validate_devices(const api::DomainConfig& c, bool check_files) {
  if (c.disks_size() > int(kMaxDisks)) throw ConfigError(fmt::format("disks: more than {}", kMaxDisks));
  if (c.nics_size() > int(kMaxNics)) throw ConfigError(fmt::format("nics: more than {}", kMaxNics));
  std::set<std::string> vdevs, paths, macs;
  for (int i = 0; i < c.disks_size(); ++i) {
    const std::string key = fmt::format("disks[{}]", i);
    validate_disk(c.disks(i), key, check_files);
    if (!vdevs.insert(c.disks(i).vdev()).second) {
      throw ConfigError(fmt::format("{}.vdev: {} is used twice", key, c.disks(i).vdev()));
    }
    if (!paths.insert(c.disks(i).path()).second) {
      throw ConfigError(fmt::format("{}.path: {} is attached twice", key, c.disks(i).path()));
    }
  }
  for (int i = 0; i < c.nics_size(); ++i) {
    const std::string key = fmt::format("nics[{}]", i);
    validate_nic(c.nics(i), key, check_files);
    if (!c.nics(i).mac().empty() && !macs.insert(c.nics(i).mac()).second) {
      throw ConfigError(fmt::format("{}.mac: {} is used twice", key, c.nics(i).mac()));
    }
  }
}

void assign_nic_identities(api::DomainConfig& c, uint32_t domid) {
  for (int i = 0; i < c.nics_size(); ++i) {
    api::Nic& nic = *c.mutable_nics(i);
    nic.set_devid(static_cast<uint32_t>(i));
    if (nic.mac().empty()) nic.set_mac(default_mac(domid, nic.devid()));
  }
}

uint32_t free_vif_id(const api::DomainConfig& c) {
  std::set<uint32_t> used;
  for (const auto& nic : c.nics()) used.insert(nic.devid());
  uint32_t id = 0;
  while (used.count(id) != 0) ++id;
  return id;
}

std::optional<int> find_nic(const api::DomainConfig& c, const std::string& devid_or_mac) {
  for (int i = 0; i < c.nics_size(); ++i) {
    const api::Nic& nic = c.nics(i);
    if (std::to_string(nic.devid()) == devid_or_mac) return i;
    if (valid_mac(devid_or_mac) && strcasecmp(nic.mac().c_str(), devid_or_mac.c_str()) == 0) return i;
  }
  return std::nullopt;
}

std::optional<int> find_disk(const api::DomainConfig& c, const std::string& vdev) {
  for (int i = 0; i < c.disks_size(); ++i) {
    if (c.disks(i).vdev() == vdev) return i;
  }
  return std::nullopt;
}

std::vector<std::string> vmm_device_args(const api::DomainConfig& c, uint32_t domid) {
  std::vector<std::string> args{fmt::format("--domid={}", domid)};
  for (const auto& d : c.disks()) {
    args.push_back(fmt::format("--disk={}{},vdev={}", d.path(), d.readonly() ? ",ro" : "", d.vdev()));
  }
  for (const auto& n : c.nics()) {
    std::string arg = fmt::format("--nic={},mac={},id={}", tap_name(domid, n.devid()), n.mac(), n.devid());
    if (!n.bridge().empty()) arg += ",bridge=" + n.bridge();
    args.push_back(arg);
  }
  return args;
}

api::DiskAttach disk_attach(const api::Disk& d) {
  api::DiskAttach a;
  a.set_path(d.path());
  a.set_vdev(d.vdev());
  a.set_readonly(d.readonly());
  return a;
}

api::NicAttach nic_attach(const api::Nic& n, uint32_t domid) {
  api::NicAttach a;
  a.set_id(n.devid());
  a.set_tap(tap_name(domid, n.devid()));
  a.set_mac(n.mac());
  a.set_bridge(n.bridge());
  return a;
}

}  // namespace tortuga::toolstack
