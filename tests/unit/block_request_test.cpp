// Checking block requests (ABI.md 18): every malformed field gets its
// status, and a good request becomes the exact byte ranges to transfer.
#include "block_request.h"

#include <gtest/gtest.h>
#include <tortuga/errno.h>

namespace tortuga {
namespace {

DiskGeometry disk(uint64_t sectors = 1000, bool read_only = false) {
  DiskGeometry d;
  d.sectors = sectors;
  d.read_only = read_only;
  return d;
}

tg_blkif_request rw(uint8_t op, uint64_t sector, uint8_t nr_segments) {
  tg_blkif_request r{};
  r.op = op;
  r.id = 0x1234;
  r.sector = sector;
  r.nr_segments = nr_segments;
  for (uint8_t i = 0; i < nr_segments && i < TG_BLKIF_MAX_SEGMENTS; ++i) r.seg[i] = {100u + i, 0, 7, 0};
  return r;
}

int check(const tg_blkif_request& r, const DiskGeometry& d = disk()) {
  BlockPlan p;
  return check_block_request(r, d, &p);
}

TEST(BlockRequest, AGoodReadBecomesItsByteRanges) {
  tg_blkif_request r = rw(TG_BLKIF_OP_READ, 10, 3);
  r.seg[0].first_sect = 2;
  r.seg[2].last_sect = 0;
  BlockPlan p;
  ASSERT_EQ(check_block_request(r, disk(), &p), 0);
  EXPECT_EQ(p.id, 0x1234u);
  EXPECT_EQ(p.offset, 10u * 512);
  EXPECT_EQ(p.length, (6u + 8 + 1) * 512);
  ASSERT_EQ(p.nr_segments, 3u);
  EXPECT_EQ(p.seg[0].gref, 100u);
  EXPECT_EQ(p.seg[0].offset, 1024u);
  EXPECT_EQ(p.seg[0].length, 3072u);
  EXPECT_EQ(p.seg[2].length, 512u);
}

TEST(BlockRequest, SegmentCountsOutsideOneToMaxAreInvalid) {
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 0, 0)), -TG_EINVAL);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 0, TG_BLKIF_MAX_SEGMENTS)), 0);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 0, TG_BLKIF_MAX_SEGMENTS + 1)), -TG_EINVAL);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_WRITE, 0, 255)), -TG_EINVAL);
  DiskGeometry few = disk();
  few.max_segments = 2;
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 0, 3), few), -TG_EINVAL);
}

TEST(BlockRequest, BadSegmentsAreInvalid) {
  tg_blkif_request r = rw(TG_BLKIF_OP_READ, 0, 2);
  r.seg[1].first_sect = 4;
  r.seg[1].last_sect = 3;
  EXPECT_EQ(check(r), -TG_EINVAL);
  r.seg[1] = {1, 0, 8, 0};
  EXPECT_EQ(check(r), -TG_EINVAL);
  r.seg[1] = {1, 0, 7, 1};
  EXPECT_EQ(check(r), -TG_EINVAL) << "segment padding";
}

TEST(BlockRequest, RangesBeyondTheDiskAreInvalidWithoutOverflow) {
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 992, 1)), 0);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 993, 1)), -TG_EINVAL);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 1000, 1)), -TG_EINVAL);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, ~0ULL - 2, 1)), -TG_EINVAL);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, ~0ULL / 512 + 1, 1), disk(~0ULL)), -TG_EINVAL);
  EXPECT_FALSE(sectors_on_disk(5, ~0ULL, 1000));
  EXPECT_TRUE(sectors_on_disk(1000, 0, 1000));
}

TEST(BlockRequest, HandleAndPaddingMustBeZero) {
  tg_blkif_request r = rw(TG_BLKIF_OP_READ, 0, 1);
  r.handle = 1;
  EXPECT_EQ(check(r), -TG_EINVAL);
  r.handle = 0;
  r._pad0 = 1;
  EXPECT_EQ(check(r), -TG_EINVAL);
}

TEST(BlockRequest, UnknownOperationsAreNotSupported) {
  for (int op = TG_BLKIF_OP_DISCARD + 1; op < 256; ++op) {
    EXPECT_EQ(check(rw(static_cast<uint8_t>(op), 0, 1)), -TG_EOPNOTSUPP) << op;
  }
}

TEST(BlockRequest, AReadOnlyDiskRefusesWritesAndDiscardsButReadsAndFlushes) {
  DiskGeometry ro = disk(1000, true);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_WRITE, 0, 1), ro), -TG_EPERM);
  EXPECT_EQ(check(rw(TG_BLKIF_OP_READ, 0, 1), ro), 0);
  tg_blkif_request d{};
  d.op = TG_BLKIF_OP_DISCARD;
  d.discard.nr_sectors = 8;
  EXPECT_EQ(check(d, ro), -TG_EPERM);
  tg_blkif_request f{};
  f.op = TG_BLKIF_OP_FLUSH;
  EXPECT_EQ(check(f, ro), 0);
}

TEST(BlockRequest, FlushAndDiscardTakeNoSegments) {
  tg_blkif_request f{};
  f.op = TG_BLKIF_OP_FLUSH;
  EXPECT_EQ(check(f), 0);
  f.nr_segments = 1;
  EXPECT_EQ(check(f), -TG_EINVAL);
  tg_blkif_request d{};
  d.op = TG_BLKIF_OP_DISCARD;
  d.sector = 992;
  d.discard.nr_sectors = 8;
  BlockPlan p;
  ASSERT_EQ(check_block_request(d, disk(), &p), 0);
  EXPECT_EQ(p.offset, 992u * 512);
  EXPECT_EQ(p.length, 8u * 512);
  d.discard.nr_sectors = 9;
  EXPECT_EQ(check(d), -TG_EINVAL);
  d.discard.nr_sectors = 0;
  EXPECT_EQ(check(d), -TG_EINVAL);
  d.discard.nr_sectors = 8;
  d.discard._reserved = 1;
  EXPECT_EQ(check(d), -TG_EINVAL);
  d.discard._reserved = 0;
  d.nr_segments = 1;
  EXPECT_EQ(check(d), -TG_EINVAL);
}

TEST(BlockRequest, FeaturesNotOfferedAreNotSupported) {
  DiskGeometry plain = disk();
  plain.flush = plain.discard = false;
  tg_blkif_request f{};
  f.op = TG_BLKIF_OP_FLUSH;
  EXPECT_EQ(check(f, plain), -TG_EOPNOTSUPP);
  f.op = TG_BLKIF_OP_DISCARD;
  f.discard.nr_sectors = 1;
  EXPECT_EQ(check(f, plain), -TG_EOPNOTSUPP);
}

}  // namespace
}  // namespace tortuga
