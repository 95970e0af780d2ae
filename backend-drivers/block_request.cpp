#include "block_request.h"

#include <tortuga/errno.h>

namespace tortuga {
namespace {

int check_segments(const tg_blkif_request& req, const DiskGeometry& disk, BlockPlan* plan) {
  if (req.nr_segments == 0 || req.nr_segments > disk.max_segments) return -TG_EINVAL;
  uint64_t sectors = 0;
  for (uint32_t i = 0; i < req.nr_segments; ++i) {
    const tg_blkif_segment& s = req.seg[i];
    if (s._pad0 != 0 || s.first_sect > s.last_sect || s.last_sect >= TG_BLKIF_SECTORS_PER_PAGE) return -TG_EINVAL;
    uint32_t count = s.last_sect - s.first_sect + 1u;
    plan->seg[i] = {s.gref, static_cast<uint32_t>(s.first_sect) * TG_BLKIF_SECTOR_SIZE, count * TG_BLKIF_SECTOR_SIZE};
    sectors += count;
  }
  if (!sectors_on_disk(req.sector, sectors, disk.sectors)) return -TG_EINVAL;
  plan->nr_segments = req.nr_segments;
  plan->offset = req.sector * TG_BLKIF_SECTOR_SIZE;
  plan->length = sectors * TG_BLKIF_SECTOR_SIZE;
  return 0;
}

int check_discard(const tg_blkif_request& req, const DiskGeometry& disk, BlockPlan* plan) {
  if (!disk.discard) return -TG_EOPNOTSUPP;
  if (req.nr_segments != 0 || req.discard._reserved != 0) return -TG_EINVAL;
  if (req.discard.nr_sectors == 0 || !sectors_on_disk(req.sector, req.discard.nr_sectors, disk.sectors)) {
    return -TG_EINVAL;
  }
  if (disk.read_only) return -TG_EPERM;
  plan->offset = req.sector * TG_BLKIF_SECTOR_SIZE;
  plan->length = req.discard.nr_sectors * TG_BLKIF_SECTOR_SIZE;
  return 0;
}

}  // namespace

// Also keeps the byte offset of the range's end within 64 bits.
bool sectors_on_disk(uint64_t sector, uint64_t count, uint64_t disk_sectors) {
  constexpr uint64_t kMaxSectors = UINT64_MAX / TG_BLKIF_SECTOR_SIZE;
  return sector <= disk_sectors && count <= disk_sectors - sector && sector + count <= kMaxSectors;
}

int check_block_request(const tg_blkif_request& req, const DiskGeometry& disk, BlockPlan* plan) {
  *plan = BlockPlan{};
  plan->op = req.op;
  plan->id = req.id;
  if (req.op > TG_BLKIF_OP_DISCARD) return -TG_EOPNOTSUPP;
  if (req.handle != 0 || req._pad0 != 0) return -TG_EINVAL;
  switch (req.op) {
    case TG_BLKIF_OP_READ: return check_segments(req, disk, plan);
    case TG_BLKIF_OP_WRITE:
      if (int err = check_segments(req, disk, plan); err != 0) return err;
      return disk.read_only ? -TG_EPERM : 0;
    case TG_BLKIF_OP_FLUSH:
      if (!disk.flush) return -TG_EOPNOTSUPP;
      return req.nr_segments == 0 ? 0 : -TG_EINVAL;
    default: return check_discard(req, disk, plan);
  }
}

}  // namespace tortuga
