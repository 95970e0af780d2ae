// Disks and NICs as the toolstack names them: vdev names and vbd ids
// (ABI.md 18), vif ids, MAC addresses and TAP names; the checks a config or
// a hot-plug request must pass; and how tortuga-vmm is told about them
// (its --disk/--nic options and the control channel's attach messages).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain.pb.h"
#include "vmm_control.pb.h"

namespace tortuga::toolstack {

constexpr size_t kMaxDisks = 16;  // xvda..xvdp
constexpr size_t kMaxNics = 8;

// "xvda".."xvdp" -> 51712 + 16 * n; nullopt for any other name.
std::optional<uint32_t> vbd_id(const std::string& vdev);

// Six two-digit hex bytes separated by ':', unicast (bit 0 of the first
// byte clear), not all zero.
bool valid_mac(const std::string& mac);
// Locally administered, unicast, unique per (domid, devid) on this host.
std::string default_mac(uint32_t domid, uint32_t devid);
// The host's TAP interface for vif devid of domain domid: "tg<domid>.<devid>".
std::string tap_name(uint32_t domid, uint32_t devid);
// A Linux interface name: 1..15 bytes, no '/', ':', whitespace or NUL.
bool valid_interface_name(const std::string& name);

// One disk, one NIC, then the set (uniqueness, counts). Throw ConfigError
// naming the key ("disks[1].vdev: ..."). check_files: the image exists and
// is a regular file or a block device, the bridge exists.
void validate_disk(const api::Disk& disk, const std::string& key, bool check_files);
void validate_nic(const api::Nic& nic, const std::string& key, bool check_files);
void validate_devices(const api::DomainConfig& config, bool check_files);

// Numbers the NICs 0, 1, ... and gives each one without a MAC its default.
void assign_nic_identities(api::DomainConfig& config, uint32_t domid);
// The lowest vif id no NIC of the config uses.
uint32_t free_vif_id(const api::DomainConfig& config);
// The NIC a user means by "3" (devid) or "02:74:...": its index, or nullopt.
std::optional<int> find_nic(const api::DomainConfig& config, const std::string& devid_or_mac);
std::optional<int> find_disk(const api::DomainConfig& config, const std::string& vdev);

// tortuga-vmm's options for a config's devices: --domid, --disk, --nic.
std::vector<std::string> vmm_device_args(const api::DomainConfig& config, uint32_t domid);
api::DiskAttach disk_attach(const api::Disk& disk);
api::NicAttach nic_attach(const api::Nic& nic, uint32_t domid);

}  // namespace tortuga::toolstack
