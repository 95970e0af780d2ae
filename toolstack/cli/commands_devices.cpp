// block-attach/-detach, network-attach/-detach (hot-plug through the
// domain's store, ABI.md 17) and mem-set (the balloon target, ABI.md 13).
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "output.h"

namespace tortuga::cli {
namespace {

struct DeviceArgs {
  std::string domain, path, vdev, bridge, mac;
  bool readonly = false, force = false;
  uint32_t memory = 0;
};

// The daemon waits up to 2 s for a guest to let a device go.
constexpr int kDeviceCallTimeoutMs = 15000;

api::Response call_and_report(const Context& context, const api::Request& request, const std::string& done) {
  api::Response response = ApiClient(context).call(request, kDeviceCallTimeoutMs);
  if (context.json)
    std::cout << to_json(response);
  else if (!done.empty())
    fmt::print("domain '{}': {}\n", response.domain().config().name(), done);
  return response;
}

}  // namespace

void add_device_commands(CLI::App& app, Context& context) {
  auto a = std::make_shared<DeviceArgs>();

  auto* battach = app.add_subcommand("block-attach", "attach a disk image to a running domain");
  battach->add_option("domain", a->domain, "name or id")->required();
  battach->add_option("path", a->path, "image file")->required();
  battach->add_option("vdev", a->vdev, "name in the guest, e.g. xvdb")->required();
  battach->add_flag("--readonly", a->readonly, "read-only");
  battach->callback([&context, a] {
    api::Request r;
    r.mutable_block_attach()->set_domain(a->domain);
    r.mutable_block_attach()->mutable_disk()->set_path(a->path);
    r.mutable_block_attach()->mutable_disk()->set_vdev(a->vdev);
    r.mutable_block_attach()->mutable_disk()->set_readonly(a->readonly);
    call_and_report(context, r, fmt::format("{} attached as {}", a->path, a->vdev));
  });

  auto* bdetach = app.add_subcommand("block-detach", "detach a disk from a domain");
  bdetach->add_option("domain", a->domain, "name or id")->required();
  bdetach->add_option("vdev", a->vdev, "its name in the guest")->required();
  bdetach->add_flag("-f,--force", a->force, "remove it even if the guest does not let go within 2 s");
  bdetach->callback([&context, a] {
    api::Request r;
    r.mutable_block_detach()->set_domain(a->domain);
    r.mutable_block_detach()->set_vdev(a->vdev);
    r.mutable_block_detach()->set_force(a->force);
    call_and_report(context, r, fmt::format("{} detached", a->vdev));
  });

  auto* nattach =
      app.add_subcommand("network-attach", "add a NIC (a TAP on the host, on a bridge) to a running domain");
  nattach->add_option("domain", a->domain, "name or id")->required();
  nattach->add_option("--bridge", a->bridge, "host bridge its TAP joins (default: none)");
  nattach->add_option("--mac", a->mac, "MAC address (default: chosen from the domain and NIC ids)");
  nattach->callback([&context, a] {
    api::Request r;
    r.mutable_network_attach()->set_domain(a->domain);
    r.mutable_network_attach()->mutable_nic()->set_bridge(a->bridge);
    r.mutable_network_attach()->mutable_nic()->set_mac(a->mac);
    api::Response response = call_and_report(context, r, "");
    if (context.json || response.domain().config().nics().empty()) return;
    const api::Nic& nic = *response.domain().config().nics().rbegin();
    std::string tap;
    for (const auto& dev : response.domain().devices()) {
      if (dev.type() == "vif" && dev.id() == nic.devid()) tap = dev.name();
    }
    fmt::print("domain '{}': NIC {} attached (mac {}{}{})\n", response.domain().config().name(), nic.devid(), nic.mac(),
               tap.empty() ? "" : ", tap " + tap, nic.bridge().empty() ? "" : ", bridge " + nic.bridge());
  });

  auto* ndetach = app.add_subcommand("network-detach", "remove a NIC from a domain");
  ndetach->add_option("domain", a->domain, "name or id")->required();
  ndetach->add_option("device", a->mac, "its NIC id (as `info` lists it) or its MAC address")->required();
  ndetach->add_flag("-f,--force", a->force, "remove it even if the guest does not let go within 2 s");
  ndetach->callback([&context, a] {
    api::Request r;
    r.mutable_network_detach()->set_domain(a->domain);
    r.mutable_network_detach()->set_device(a->mac);
    r.mutable_network_detach()->set_force(a->force);
    call_and_report(context, r, fmt::format("NIC {} detached", a->mac));
  });

  auto* memset = app.add_subcommand("mem-set", "set a domain's balloon target");
  memset->add_option("domain", a->domain, "name or id")->required();
  memset->add_option("memory", a->memory, "target in MiB")->required();
  memset->callback([&context, a] {
    api::Request r;
    r.mutable_mem_set()->set_domain(a->domain);
    r.mutable_mem_set()->set_memory_mib(a->memory);
    call_and_report(context, r, fmt::format("balloon target set to {} MiB", a->memory));
  });
}

}  // namespace tortuga::cli
