// Fuzz target: block requests as a hostile frontend writes them. The input
// is a disk geometry, a ring page (indices and 32 slots as raw bytes) and
// then a stream of requests. Each request goes through
// check_block_request, whose accepted plans must lie on the disk and in
// their pages; and the ring helper consumes the page exactly as far as
// ABI.md 15.4 allows, never past req_prod and never more than the ring.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <tortuga/errno.h>

#include "block_request.h"
#include "shared_ring.h"

namespace {

using namespace tortuga;

void check_plan(const tg_blkif_request& req, const DiskGeometry& disk) {
  BlockPlan plan;
  int status = check_block_request(req, disk, &plan);
  if (plan.id != req.id || plan.op != req.op) std::abort();
  if (status != 0) {
    if (status != -TG_EINVAL && status != -TG_EOPNOTSUPP && status != -TG_EPERM) std::abort();
    return;
  }
  // In sectors: the disk's size in bytes may not fit in 64 bits.
  if (plan.offset % 512 || plan.length % 512) std::abort();
  uint64_t first = plan.offset / 512, count = plan.length / 512;
  if (first > disk.sectors || count > disk.sectors - first) std::abort();
  if (disk.read_only && (plan.op == TG_BLKIF_OP_WRITE || plan.op == TG_BLKIF_OP_DISCARD)) std::abort();
  if (plan.op == TG_BLKIF_OP_READ || plan.op == TG_BLKIF_OP_WRITE) {
    if (plan.nr_segments == 0 || plan.nr_segments > disk.max_segments) std::abort();
    uint64_t total = 0;
    for (uint32_t i = 0; i < plan.nr_segments; ++i) {
      const BlockSegmentPlan& s = plan.seg[i];
      if (s.length == 0 || s.offset + s.length > 4096 || s.offset % 512 || s.length % 512) std::abort();
      total += s.length;
    }
    if (total != plan.length) std::abort();
  } else if (plan.nr_segments != 0) {
    std::abort();
  }
}

void consume_ring(const uint8_t* data, size_t size) {
  tg_blkif_sring page{};
  std::memcpy(&page, data, std::min(size, sizeof page));
  BackRing<tg_blkif_sring, tg_blkif_request, tg_blkif_response> ring;
  ring.attach(page);
  uint32_t prod = page.req_prod, start = ring.req_cons();
  tg_blkif_request req;
  unsigned taken = 0;
  for (;;) {
    RingRead r = ring.next_request(page, &req);
    if (r == RingRead::kEmpty) {
      if (ring.req_cons() != prod) std::abort();
      break;
    }
    if (r == RingRead::kRunaway) {
      if (prod - ring.rsp_prod_pvt() <= decltype(ring)::kSlots) std::abort();
      break;
    }
    if (++taken > decltype(ring)::kSlots || ring.req_cons() - start > decltype(ring)::kSlots) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 12) return 0;
  DiskGeometry disk;
  std::memcpy(&disk.sectors, data, 8);
  disk.sectors >>= data[8] % 64;  // small disks as often as huge ones
  disk.read_only = data[9] & 1;
  disk.flush = data[9] & 2;
  disk.discard = data[9] & 4;
  disk.max_segments = 1 + data[10] % TG_BLKIF_MAX_SEGMENTS;
  data += 12;
  size -= 12;
  consume_ring(data, size);
  for (; size >= sizeof(tg_blkif_request); data += sizeof(tg_blkif_request), size -= sizeof(tg_blkif_request)) {
    tg_blkif_request req;
    std::memcpy(&req, data, sizeof req);
    check_plan(req, disk);
  }
  return 0;
}
