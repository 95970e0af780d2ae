// The block backend without a VM: a ring page and data pages in test
// memory behind a fake grant table, a temporary image file underneath.
// Round trips, errors for refused grants and read-only disks, many
// requests in flight, and a broken ring reported, not followed.
#include "block_backend.h"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include <gtest/gtest.h>
#include <tortuga/errno.h>
#include <tortuga/event_channel.h>

namespace tortuga {
namespace {

// Pages by grant reference; a reference may be marked read-only. Counts
// the uses of data pages in progress, so a test can see that all were
// ended (the ring page's own use may still be ending as a response shows).
class FakeGrants : public GrantAccess {
 public:
  FakeGrants() : pages(64 * 4096) {}
  GrantUse use(uint16_t user, uint32_t ref, bool write) override {
    std::lock_guard lock(mutex);
    if (user != TG_DOMID_VMM || ref >= 64 || revoked.count(ref)) return GrantUse(-TG_ENOENT);
    if (write && read_only.count(ref)) return GrantUse(-TG_EACCES);
    if (ref != 0) ++active;
    return GrantUse(this, ref, ref, write, pages.data() + ref * 4096);
  }
  uint8_t* page(uint32_t ref) { return pages.data() + ref * 4096; }
  std::vector<uint8_t> pages;
  std::map<uint32_t, bool> read_only, revoked;
  int active = 0;
  std::mutex mutex;

 protected:
  void end(uint32_t ref, uint64_t, bool) override {
    std::lock_guard lock(mutex);
    if (ref != 0) --active;
  }
};

constexpr uint32_t kRingRef = 0;
constexpr uint64_t kSectors = 2048;

class BlockBackendTest : public ::testing::TestWithParam<BlockEngine> {
 protected:
  BlockBackendTest() {
    path = (std::filesystem::temp_directory_path() / ("tortuga-bb-" + std::to_string(::getpid()) + ".img")).string();
    std::ofstream(path).flush();
    std::filesystem::resize_file(path, kSectors * 512);
    sring = reinterpret_cast<tg_blkif_sring*>(grants.page(kRingRef));
    TG_RING_SHARED_INIT(sring);
    TG_RING_FRONT_INIT(&front, sring);
  }
  ~BlockBackendTest() override {
    backend.reset();
    image.reset();
    std::filesystem::remove(path);
  }
  void start(bool read_only = false) {
    image = std::make_unique<BlockImage>(path, read_only);
    backend = std::make_unique<BlockBackend>(
        *image, grants, kRingRef,
        [this] {
          std::lock_guard lock(mutex);
          ++events;
          cv.notify_all();
        },
        [this](const std::string& why) {
          std::lock_guard lock(mutex);
          broken = why;
          cv.notify_all();
        },
        GetParam());
    ASSERT_EQ(backend->engine(), GetParam()) << "io_uring is available on the hosts we test on";
  }
  void submit(const tg_blkif_request& r) {
    *TG_RING_GET_REQUEST(&front, front.req_prod_pvt) = r;
    front.req_prod_pvt++;
  }
  void push() {
    int notify = 0;
    TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&front, notify);
    if (notify) backend->notified();
  }
  // Waits until n responses were published (a liveness bound, not a timing check).
  std::vector<tg_blkif_response> responses(uint32_t n) {
    std::vector<tg_blkif_response> out;
    std::unique_lock lock(mutex);
    while (out.size() < n) {
      uint32_t prod = __atomic_load_n(&sring->rsp_prod, __ATOMIC_ACQUIRE);
      while (front.rsp_cons != prod) out.push_back(*TG_RING_GET_RESPONSE(&front, front.rsp_cons++));
      TG_RING_WRITE_IDX(sring->rsp_event, front.rsp_cons + 1);
      __atomic_thread_fence(__ATOMIC_SEQ_CST);
      if (out.size() < n && TG_RING_READ_IDX(sring->rsp_prod) == front.rsp_cons) {
        if (!cv.wait_for(lock, std::chrono::seconds(30),
                         [&] { return TG_RING_READ_IDX(sring->rsp_prod) != front.rsp_cons; }))
          break;
      }
    }
    return out;
  }
  int data_uses() {
    std::lock_guard lock(grants.mutex);
    return grants.active;
  }
  static tg_blkif_request rw(uint8_t op, uint64_t id, uint64_t sector, std::initializer_list<uint32_t> refs) {
    tg_blkif_request r{};
    r.op = op;
    r.id = id;
    r.sector = sector;
    for (uint32_t ref : refs) r.seg[r.nr_segments++] = {ref, 0, 7, 0};
    return r;
  }

  std::string path;
  FakeGrants grants;
  tg_blkif_sring* sring;
  tg_blkif_front_ring front;
  std::unique_ptr<BlockImage> image;
  std::unique_ptr<BlockBackend> backend;
  std::mutex mutex;
  std::condition_variable cv;
  int events = 0;
  std::string broken;
};

TEST_P(BlockBackendTest, WritesThenReadsBackMultiSegmentRequests) {
  start();
  for (int i = 0; i < 4096 * 3; ++i) grants.page(1)[i] = static_cast<uint8_t>(i * 13 + 5);
  submit(rw(TG_BLKIF_OP_WRITE, 1, 100, {1, 2, 3}));
  push();
  auto w = responses(1);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_EQ(w[0].id, 1u);
  EXPECT_EQ(w[0].status, 0);
  submit(rw(TG_BLKIF_OP_READ, 2, 100, {10, 11, 12}));
  push();
  auto r = responses(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status, 0);
  EXPECT_EQ(std::memcmp(grants.page(1), grants.page(10), 3 * 4096), 0);
  EXPECT_EQ(data_uses(), 0) << "every grant ended with its request";
  // On the image, at sector 100.
  std::ifstream in(path, std::ios::binary);
  in.seekg(100 * 512);
  std::vector<uint8_t> bytes(3 * 4096);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  EXPECT_EQ(std::memcmp(bytes.data(), grants.page(1), bytes.size()), 0);
}

TEST_P(BlockBackendTest, ManyRequestsInFlightAreEachAnsweredOnce) {
  start();
  for (uint64_t id = 0; id < 32; ++id) submit(rw(TG_BLKIF_OP_READ, id, id * 8, {static_cast<uint32_t>(1 + id)}));
  push();
  auto r = responses(32);
  ASSERT_EQ(r.size(), 32u);
  std::vector<int> seen(32);
  for (const auto& x : r) {
    ASSERT_LT(x.id, 32u);
    ++seen[x.id];
    EXPECT_EQ(x.status, 0);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 32);
  EXPECT_EQ(backend->stats().requests, 32u);
}

TEST_P(BlockBackendTest, RefusedGrantsAndBadRequestsGetErrorsAndNoGrantStaysHeld) {
  start();
  grants.read_only[5] = true;
  grants.revoked[6] = true;
  submit(rw(TG_BLKIF_OP_READ, 1, 0, {4, 5}));      // a read into a read-only grant
  submit(rw(TG_BLKIF_OP_WRITE, 2, 0, {4, 6}));     // a revoked grant
  submit(rw(TG_BLKIF_OP_READ, 3, kSectors, {4}));  // beyond the disk
  submit(rw(9, 4, 0, {4}));                        // no such op
  submit(rw(TG_BLKIF_OP_WRITE, 5, 0, {5}));        // writing from a read-only grant is fine
  push();
  auto r = responses(5);
  ASSERT_EQ(r.size(), 5u);
  std::map<uint64_t, int> status;
  for (const auto& x : r) status[x.id] = x.status;
  EXPECT_EQ(status[1], -TG_EACCES);
  EXPECT_EQ(status[2], -TG_EACCES);
  EXPECT_EQ(status[3], -TG_EINVAL);
  EXPECT_EQ(status[4], -TG_EOPNOTSUPP);
  EXPECT_EQ(status[5], 0);
  EXPECT_EQ(data_uses(), 0);
  EXPECT_EQ(backend->stats().errors, 4u);
}

TEST_P(BlockBackendTest, AClosingBackendAnswersEveryRequestItTook) {
  start();
  for (uint64_t id = 0; id < 32; ++id) submit(rw(TG_BLKIF_OP_WRITE, id, id * 8, {static_cast<uint32_t>(1 + id)}));
  push();
  backend.reset();  // the device closes with requests in flight
  EXPECT_EQ(sring->rsp_prod, 32u) << "each was completed before the backend went";
  EXPECT_EQ(data_uses(), 0);
}

TEST_P(BlockBackendTest, AReadOnlyImageRefusesWrites) {
  start(true);
  submit(rw(TG_BLKIF_OP_WRITE, 1, 0, {1}));
  tg_blkif_request f{};
  f.op = TG_BLKIF_OP_FLUSH;
  f.id = 2;
  submit(f);
  push();
  auto r = responses(2);
  ASSERT_EQ(r.size(), 2u);
  for (const auto& x : r) EXPECT_EQ(x.status, x.id == 1 ? -TG_EPERM : 0);
}

TEST_P(BlockBackendTest, ARunawayProducerBreaksTheDeviceAndNothingMoreIsRead) {
  start();
  TG_RING_WRITE_IDX(sring->req_prod, 500);
  backend->notified();
  EXPECT_NE(broken.find("ran away"), std::string::npos) << broken;
  EXPECT_TRUE(backend->is_broken());
  EXPECT_EQ(backend->stats().requests, 0u);
  backend->notified();  // stays broken, quietly
  EXPECT_EQ(sring->rsp_prod, 0u);
}

TEST_P(BlockBackendTest, ARevokedRingPageBreaksTheDevice) {
  start();
  grants.revoked[kRingRef] = true;
  backend->notified();
  EXPECT_NE(broken.find("ring page"), std::string::npos) << broken;
}

TEST_P(BlockBackendTest, NotificationsAreSuppressedWhileTheFrontendDoesNotAsk) {
  start();
  submit(rw(TG_BLKIF_OP_READ, 1, 0, {1}));
  push();
  ASSERT_EQ(responses(1).size(), 1u);
  // The backend re-armed req_event: the next request is notified...
  EXPECT_EQ(sring->req_event, 2u);
  // ...and a burst published at once costs one notification.
  for (uint64_t id = 2; id < 10; ++id) submit(rw(TG_BLKIF_OP_READ, id, 0, {static_cast<uint32_t>(id)}));
  push();
  ASSERT_EQ(responses(8).size(), 8u);
  EXPECT_EQ(backend->stats().notifications, 2u);
}

// Save (ABI.md 21): quiesce() lets what was taken complete and takes
// nothing more; the position says where a restored backend goes on.
TEST_P(BlockBackendTest, QuiesceCompletesWhatWasTakenAndTakesNothingMore) {
  start();
  for (uint64_t id = 0; id < 8; ++id) submit(rw(TG_BLKIF_OP_WRITE, id, id * 8, {static_cast<uint32_t>(1 + id)}));
  push();
  backend->quiesce();
  EXPECT_EQ(sring->rsp_prod, 8u) << "every request taken is answered in the ring";
  EXPECT_EQ(data_uses(), 0) << "and no grant is held";
  submit(rw(TG_BLKIF_OP_READ, 9, 0, {20}));
  TG_RING_PUSH_REQUESTS(&front);
  backend->notified();
  EXPECT_EQ(backend->stats().requests, 8u) << "a quiesced backend takes nothing";
  EXPECT_EQ(backend->position(), (BackendPosition{{true, 8, 8}}));
  backend->resume();  // looks at the ring at once
  auto r = responses(9);
  ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(r.back().id, 9u);
}

TEST_P(BlockBackendTest, ARestoredBackendGoesOnFromItsSavedPosition) {
  start();
  // As if 8 requests were taken and answered before a save: a frontend
  // whose ring is at 8, and the backend's saved indices.
  front.req_prod_pvt = front.rsp_cons = 8;
  sring->req_prod = sring->rsp_prod = 8;
  sring->rsp_event = sring->req_event = 9;
  backend->restore_position({{true, 8, 8}});
  submit(rw(TG_BLKIF_OP_READ, 42, 0, {3}));
  push();
  auto r = responses(1);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].id, 42u);
  EXPECT_EQ(sring->rsp_prod, 9u);
}

TEST_P(BlockBackendTest, ASavedPositionItCannotHaveBeenAtIsRefused) {
  start();
  EXPECT_THROW(backend->restore_position({}), std::invalid_argument);
  EXPECT_THROW(backend->restore_position({{true, 5, 4}}), std::invalid_argument) << "requests outstanding";
  EXPECT_THROW(backend->restore_position({{false, 3, 3}}), std::invalid_argument) << "indices without a ring";
  EXPECT_THROW(backend->restore_position({{true, 0, 0}, {true, 0, 0}}), std::invalid_argument);
}

INSTANTIATE_TEST_SUITE_P(Engines, BlockBackendTest, ::testing::Values(BlockEngine::kThreads, BlockEngine::kUring),
                         [](const auto& info) { return info.param == BlockEngine::kUring ? "uring" : "threads"; });

}  // namespace
}  // namespace tortuga
