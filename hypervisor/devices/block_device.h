// A disk as a split device (ABI.md 18): vbd <id> with the backend keys of
// its image, and a BlockBackend on the frontend's ring for each connection.
// `restored`: the device of a restored domain in its saved state (ABI.md
// 21); throws std::invalid_argument when it cannot be resumed.
#pragma once

#include <cstdint>
#include <memory>

#include "block_backend.h"
#include "block_image.h"
#include "devices/device_spec.h"
#include "grant_access.h"
#include "devices/split_device.h"

namespace tortuga {

std::unique_ptr<SplitDevice> make_block_device(SplitDevice::Parts parts, GrantAccess& grants, BlockImage& image,
                                               uint16_t domid, uint32_t id, BlockEngine engine = BlockEngine::kThreads,
                                               const SplitDeviceState* restored = nullptr, IoCounters* io = nullptr);

}  // namespace tortuga
