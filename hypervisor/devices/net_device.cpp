#include "devices/net_device.h"

#include <fmt/format.h>
#include <tortuga/io/netif.h>

#include "net_backend.h"

namespace tortuga {

std::string default_mac(uint16_t domid, uint32_t id) {
  return fmt::format("06:54:47:{:02x}:{:02x}:{:02x}", domid & 0xff, (id >> 8) & 0xff, id & 0xff);
}

std::unique_ptr<SplitDevice> make_net_device(SplitDevice::Parts parts, GrantAccess& grants, TapDevice& tap,
                                             const std::string& mac, uint16_t domid, uint32_t id,
                                             const SplitDeviceState* restored, IoCounters* io) {
  SplitDevice::Keys features{
      {TG_NETIF_KEY_MTU, std::to_string(TG_NETIF_DEFAULT_MTU)},
      {TG_NETIF_KEY_FEATURE_SG, "1"},
      {TG_NETIF_KEY_FEATURE_CSUM, "1"},
  };
  SplitDevice::Keys toolstack{{TG_NETIF_KEY_MAC, mac}};
  auto connect = [&grants, &tap, io](const SplitDevice::FrontendKey& key,
                                     const SplitDevice::Connection& c) -> std::unique_ptr<SplitBackend> {
    auto tx = key(TG_NETIF_KEY_TX_RING_REF, UINT32_MAX);
    auto rx = key(TG_NETIF_KEY_RX_RING_REF, UINT32_MAX);
    if (!tx || !rx) return nullptr;
    auto backend = std::make_unique<NetBackend>(tap, grants, static_cast<uint32_t>(*tx), static_cast<uint32_t>(*rx),
                                                NetFeatures{}, c.raise, c.broken);
    backend->count_io_in(io);
    return backend;
  };
  if (restored) {
    return std::make_unique<SplitDevice>(std::move(parts), TG_NETIF_DEVTYPE, domid, id, features, connect, *restored);
  }
  return std::make_unique<SplitDevice>(std::move(parts), TG_NETIF_DEVTYPE, domid, id, features, toolstack, connect);
}

}  // namespace tortuga
