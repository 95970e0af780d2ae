#include "devices/block_device.h"

#include <tortuga/io/blkif.h>

#include "block_backend.h"

namespace tortuga {

std::unique_ptr<SplitDevice> make_block_device(SplitDevice::Parts parts, GrantAccess& grants, BlockImage& image,
                                               uint16_t domid, uint32_t id, BlockEngine engine,
                                               const SplitDeviceState* restored, IoCounters* io) {
  SplitDevice::Keys features{
      {TG_BLKIF_KEY_SECTORS, std::to_string(image.sectors())},
      {TG_BLKIF_KEY_SECTOR_SIZE, std::to_string(TG_BLKIF_SECTOR_SIZE)},
      {TG_BLKIF_KEY_READ_ONLY, image.read_only() ? "1" : "0"},
      {TG_BLKIF_KEY_FEATURE_FLUSH, "1"},
      {TG_BLKIF_KEY_FEATURE_DISCARD, "1"},
      {TG_BLKIF_KEY_DISCARD_GRANULARITY, std::to_string(TG_BLKIF_SECTOR_SIZE)},
      {TG_BLKIF_KEY_MAX_SEGMENTS, std::to_string(TG_BLKIF_MAX_SEGMENTS)},
  };
  auto connect = [&grants, &image, engine, io](const SplitDevice::FrontendKey& key,
                                               const SplitDevice::Connection& c) -> std::unique_ptr<SplitBackend> {
    auto ring_ref = key(TG_BLKIF_KEY_RING_REF, UINT32_MAX);
    if (!ring_ref) return nullptr;
    auto backend =
        std::make_unique<BlockBackend>(image, grants, static_cast<uint32_t>(*ring_ref), c.raise, c.broken, engine);
    backend->count_io_in(io);
    return backend;
  };
  if (restored) {
    return std::make_unique<SplitDevice>(std::move(parts), TG_BLKIF_DEVTYPE, domid, id, features, connect, *restored);
  }
  return std::make_unique<SplitDevice>(std::move(parts), TG_BLKIF_DEVTYPE, domid, id, features, SplitDevice::Keys{},
                                       connect);
}

}  // namespace tortuga
