// Checking one block request (io/blkif.h, ABI.md 18) copied out of the
// ring: every field is hostile. The result is either an error status for
// the response or a plan the backend can run without looking at the
// request again. Pure: no I/O, no grants (the backend checks those when it
// uses them), so it can be fuzzed on its own.
#pragma once

#include <cstdint>

#include <tortuga/io/blkif.h>

namespace tortuga {

struct DiskGeometry {
  uint64_t sectors = 0;
  bool read_only = false;
  bool flush = true;
  bool discard = true;
  uint32_t max_segments = TG_BLKIF_MAX_SEGMENTS;
};

struct BlockSegmentPlan {
  uint32_t gref;
  uint32_t offset;  // bytes into the granted page
  uint32_t length;  // bytes, a multiple of the sector size
};

struct BlockPlan {
  uint8_t op = 0;
  uint64_t id = 0;
  uint64_t offset = 0;  // bytes on the disk
  uint64_t length = 0;  // bytes on the disk (read, write, discard)
  uint32_t nr_segments = 0;
  BlockSegmentPlan seg[TG_BLKIF_MAX_SEGMENTS] = {};
};

// 0 and *plan filled, or the negative TG_E* status the response carries
// (-EOPNOTSUPP, -EINVAL, -EPERM). plan->id and plan->op are filled either
// way, for the response.
int check_block_request(const tg_blkif_request& req, const DiskGeometry& disk, BlockPlan* plan);

// True when the range [sector, sector + count) lies on the disk.
bool sectors_on_disk(uint64_t sector, uint64_t count, uint64_t disk_sectors);

}  // namespace tortuga
