// tortugad's device and memory operations on running domains: block and
// network hot-plug through the domain's store (ABI.md 17), and the balloon
// target (ABI.md 13). The VMM does the work; the daemon checks the request
// first, names the device (vbd id, vif id, MAC, TAP), and keeps the
// domain's config in step, so a restart (reboot, on_crash=restart) brings
// back the devices it had.
#include <fmt/format.h>

#include "config.h"
#include "daemon.h"
#include "devices.h"

namespace tortuga::toolstack {
namespace {

constexpr uint32_t kDetachTimeoutMs = 2000;  // the guest's time to let go (the VMM waits)

// A check on a request whose domain exists: "" or what is wrong.
template <typename Check>
std::string precheck(api::DomainRecord* r, Check check) {
  if (r == nullptr) return "";  // vmm_operation names the missing domain
  try {
    check(r->info().config());
  } catch (const ConfigError& e) {
    return fmt::format("{}: {}", domain_label(r->info().config().name()), e.what());
  }
  return "";
}

}  // namespace

awaitable<api::Response> Daemon::mem_set(const std::string& ref, uint32_t mib) {
  std::string bad = precheck(table_.find(ref), [&](const api::DomainConfig& c) {
    if (mib < 1 || mib > c.memory_mib()) {
      throw ConfigError(fmt::format("target {} MiB is outside 1..{} (its memory_mib)", mib, c.memory_mib()));
    }
  });
  if (!bad.empty()) co_return error_response(bad);
  api::VmmRequest request;
  request.set_memory_target_mib(mib);
  co_return co_await vmm_operation(ref, request);
}

awaitable<api::Response> Daemon::block_attach(const std::string& ref, api::Disk disk) {
  std::string bad = precheck(table_.find(ref), [&](const api::DomainConfig& c) {
    validate_disk(disk, "disk", true);
    if (auto i = find_disk(c, disk.vdev())) {
      throw ConfigError(fmt::format("{} is already attached ({})", disk.vdev(), c.disks(*i).path()));
    }
    for (const auto& d : c.disks()) {
      if (d.path() == disk.path()) throw ConfigError(fmt::format("{} is already attached as {}", d.path(), d.vdev()));
    }
    if (c.disks_size() >= int(kMaxDisks)) throw ConfigError(fmt::format("it has {} disks already", kMaxDisks));
  });
  if (!bad.empty()) co_return error_response(bad);
  api::VmmRequest request;
  *request.mutable_attach_disk() = disk_attach(disk);
  const OnVmmSuccess update_config = [disk](const api::VmmReply&, api::DomainConfig& c) {
    *c.add_disks() = disk;
    return std::string();
  };
  co_return co_await vmm_operation(ref, request, update_config);
}

awaitable<api::Response> Daemon::block_detach(const std::string& ref, const std::string& vdev, bool force) {
  std::string bad = precheck(table_.find(ref), [&](const api::DomainConfig& c) {
    if (!find_disk(c, vdev)) throw ConfigError(fmt::format("it has no disk {}", vdev));
  });
  if (!bad.empty()) co_return error_response(bad);
  api::VmmRequest request;
  request.mutable_detach()->set_type("vbd");
  request.mutable_detach()->set_id(*vbd_id(vdev));
  request.mutable_detach()->set_force(force);
  request.mutable_detach()->set_timeout_ms(kDetachTimeoutMs);
  const OnVmmSuccess update_config = [vdev](const api::VmmReply&, api::DomainConfig& c) {
    if (auto i = find_disk(c, vdev)) c.mutable_disks()->DeleteSubrange(*i, 1);
    return std::string();
  };
  co_return co_await vmm_operation(ref, request, update_config);
}

awaitable<api::Response> Daemon::network_attach(const std::string& ref, api::Nic nic) {
  api::DomainRecord* r = table_.find(ref);
  std::string bad = precheck(r, [&](const api::DomainConfig& c) {
    validate_nic(nic, "nic", true);
    if (c.nics_size() >= int(kMaxNics)) throw ConfigError(fmt::format("it has {} NICs already", kMaxNics));
    nic.set_devid(free_vif_id(c));
    if (nic.mac().empty()) nic.set_mac(default_mac(r->info().domid(), nic.devid()));
    if (auto i = find_nic(c, nic.mac())) {
      throw ConfigError(fmt::format("MAC {} is already used by its NIC {}", nic.mac(), c.nics(*i).devid()));
    }
  });
  if (!bad.empty()) co_return error_response(bad);
  api::VmmRequest request;
  if (r != nullptr) *request.mutable_attach_nic() = nic_attach(nic, r->info().domid());
  const OnVmmSuccess update_config = [nic](const api::VmmReply&, api::DomainConfig& c) {
    *c.add_nics() = nic;
    return std::string();
  };
  co_return co_await vmm_operation(ref, request, update_config);
}

awaitable<api::Response> Daemon::network_detach(const std::string& ref, const std::string& device, bool force) {
  uint32_t devid = 0;
  std::string bad = precheck(table_.find(ref), [&](const api::DomainConfig& c) {
    auto i = find_nic(c, device);
    if (!i) throw ConfigError(fmt::format("it has no NIC '{}' (a vif id or a MAC address)", device));
    devid = c.nics(*i).devid();
  });
  if (!bad.empty()) co_return error_response(bad);
  api::VmmRequest request;
  request.mutable_detach()->set_type("vif");
  request.mutable_detach()->set_id(devid);
  request.mutable_detach()->set_force(force);
  request.mutable_detach()->set_timeout_ms(kDetachTimeoutMs);
  const OnVmmSuccess update_config = [devid](const api::VmmReply&, api::DomainConfig& c) {
    if (auto i = find_nic(c, std::to_string(devid))) c.mutable_nics()->DeleteSubrange(*i, 1);
    return std::string();
  };
  co_return co_await vmm_operation(ref, request, update_config);
}

}  // namespace tortuga::toolstack
