// What the user asks for when a disk or a NIC is plugged in, cold
// (`tortuga-vmm --disk/--nic`) or hot (the control channel): the options,
// parsed and checked before anything is opened, and the names that follow
// from them (ABI.md 18: vbd id from the vdev; 19: vif id and MAC). Pure
// logic: every string here comes from a user or a daemon and is checked.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tortuga {

class DeviceSpecError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct DiskSpec {
  std::string path;
  bool read_only = false;
  bool uring = false;  // host I/O through io_uring instead of worker threads
  std::string vdev;    // "xvdb"; empty = the first free name (cold-plug only)
};

struct NicSpec {
  std::string tap;
  std::string mac;             // empty = default_mac(domid, id)
  std::string bridge;          // empty = no bridge
  std::optional<uint32_t> id;  // empty = the first free vif id
};

// vbd ids follow Linux's Xen numbering: xvd<a+n> is 51712 + 16 * n, n < 16.
constexpr uint32_t kFirstDiskId = 51712;
constexpr uint32_t kMaxDisks = 16;
constexpr uint32_t kMaxNicId = 1023;  // vif ids 0..1023; more is surely a mistake

// "xvdb" -> 51728; throws DeviceSpecError naming what is wrong.
uint32_t vbd_id_from_vdev(const std::string& vdev);
// 51728 -> "xvdb" (for an id vbd_id_from_vdev accepts).
std::string vdev_from_vbd_id(uint32_t id);

// "xx:xx:xx:xx:xx:xx", hex digits of either case; multicast refused (a
// NIC's own address must be unicast).
bool valid_mac(const std::string& mac);

// --disk PATH[,ro][,uring][,vdev=xvdb] and --nic TAP[,mac=M][,bridge=BR][,id=N].
// The options follow the last comma-free part of the path, so a path may
// hold commas. Throws DeviceSpecError.
DiskSpec parse_disk_option(const std::string& text);
NicSpec parse_nic_option(const std::string& text);

// Fills in the defaults in order (vdev xvda, xvdb, ...; vif ids 0, 1, ...,
// each the first one no other device names) and refuses duplicates and
// bad names. Throws DeviceSpecError.
void complete_device_specs(std::vector<DiskSpec>& disks, std::vector<NicSpec>& nics);

// Checks one spec as a hot-plug request must be: every name given.
void check_disk_spec(const DiskSpec& d);
void check_nic_spec(const NicSpec& n);

}  // namespace tortuga
