// The backend's ring helper (ABI.md 15): requests are copied out before
// anyone looks at them, a runaway producer index is reported instead of
// followed, indices wrap at 2^32, and responses notify only when asked.
#include "shared_ring.h"

#include <gtest/gtest.h>
#include <tortuga/io/blkif.h>

#include <cstring>

namespace tortuga {
namespace {

using Ring = BackRing<tg_blkif_sring, tg_blkif_request, tg_blkif_response>;

class SharedRingTest : public ::testing::Test {
 protected:
  SharedRingTest() {
    std::memset(&page, 0, sizeof page);
    TG_RING_SHARED_INIT(&page);
    TG_RING_FRONT_INIT(&front, &page);
  }
  // The frontend publishes n requests with ids from `id`.
  void publish(uint32_t n, uint64_t id = 0) {
    for (uint32_t i = 0; i < n; ++i) {
      tg_blkif_request* r = TG_RING_GET_REQUEST(&front, front.req_prod_pvt);
      std::memset(r, 0, sizeof *r);
      r->id = id + i;
      front.req_prod_pvt++;
    }
    TG_RING_PUSH_REQUESTS(&front);
  }
  tg_blkif_sring page;
  tg_blkif_front_ring front;
  Ring back;
};

TEST_F(SharedRingTest, HasThirtyTwoSlots) { EXPECT_EQ(Ring::kSlots, 32u); }

TEST_F(SharedRingTest, ConsumesWhatWasPublishedInOrder) {
  back.attach(page);
  tg_blkif_request r;
  EXPECT_EQ(back.next_request(page, &r), RingRead::kEmpty);
  publish(3, 100);
  for (uint64_t id = 100; id < 103; ++id) {
    ASSERT_EQ(back.next_request(page, &r), RingRead::kRequest);
    EXPECT_EQ(r.id, id);
  }
  EXPECT_EQ(back.next_request(page, &r), RingRead::kEmpty);
  EXPECT_EQ(back.outstanding(), 3u);
}

TEST_F(SharedRingTest, ARequestRewrittenAfterItWasTakenDoesNotChangeTheCopy) {
  back.attach(page);
  publish(1, 7);
  tg_blkif_request r;
  ASSERT_EQ(back.next_request(page, &r), RingRead::kRequest);
  page.ring[0].req.id = 666;  // the frontend rewrites the slot
  page.ring[0].req.nr_segments = 200;
  EXPECT_EQ(r.id, 7u);
  EXPECT_EQ(r.nr_segments, 0);
}

TEST_F(SharedRingTest, AProducerIndexBeyondTheRingIsARunaway) {
  back.attach(page);
  TG_RING_WRITE_IDX(page.req_prod, 33);
  tg_blkif_request r;
  EXPECT_EQ(back.next_request(page, &r), RingRead::kRunaway);
  TG_RING_WRITE_IDX(page.req_prod, 0xffffffff);  // "behind" us is as far ahead
  EXPECT_EQ(back.next_request(page, &r), RingRead::kRunaway);
  EXPECT_EQ(back.req_cons(), 0u) << "nothing was consumed";
}

TEST_F(SharedRingTest, AFullRingIsFineOneMoreWithoutResponsesIsNot) {
  back.attach(page);
  publish(32);
  tg_blkif_request r;
  for (int i = 0; i < 32; ++i) ASSERT_EQ(back.next_request(page, &r), RingRead::kRequest);
  EXPECT_EQ(back.next_request(page, &r), RingRead::kEmpty);
  TG_RING_WRITE_IDX(page.req_prod, 33);  // a 33rd while 32 await responses
  EXPECT_EQ(back.next_request(page, &r), RingRead::kRunaway);
  tg_blkif_response rsp{};
  back.put_response(page, rsp);
  EXPECT_EQ(back.next_request(page, &r), RingRead::kRequest) << "one answered: the 33rd fits";
}

TEST_F(SharedRingTest, IndicesWrapAtTwoToThe32) {
  page.req_prod = page.rsp_prod = 0xfffffff0u;
  front.req_prod_pvt = front.rsp_cons = 0xfffffff0u;
  back.attach(page);
  publish(20, 1);
  tg_blkif_request r;
  for (uint64_t id = 1; id <= 20; ++id) {
    ASSERT_EQ(back.next_request(page, &r), RingRead::kRequest);
    EXPECT_EQ(r.id, id);
    tg_blkif_response rsp{};
    rsp.id = id;
    back.put_response(page, rsp);
  }
  back.push_responses(page);
  EXPECT_EQ(page.rsp_prod, 4u);
  EXPECT_EQ(TG_RING_GET_RESPONSE(&front, 3u)->id, 20u);
}

TEST_F(SharedRingTest, ResponsesNotifyOnlyWhenTheFrontendAsked) {
  back.attach(page);
  publish(3);
  tg_blkif_request r;
  tg_blkif_response rsp{};
  for (int i = 0; i < 3; ++i) back.next_request(page, &r);
  back.put_response(page, rsp);
  EXPECT_TRUE(back.push_responses(page)) << "rsp_event starts at 1";
  back.put_response(page, rsp);
  EXPECT_FALSE(back.push_responses(page)) << "the frontend did not re-arm";
  TG_RING_WRITE_IDX(page.rsp_event, 3);
  back.put_response(page, rsp);
  EXPECT_TRUE(back.push_responses(page));
  EXPECT_FALSE(back.push_responses(page)) << "nothing new";
}

TEST_F(SharedRingTest, TheFinalCheckReArmsAndSeesLateRequests) {
  back.attach(page);
  EXPECT_FALSE(back.more_requests(page));
  EXPECT_EQ(page.req_event, 1u);
  publish(1);
  EXPECT_TRUE(back.more_requests(page));
  tg_blkif_request r;
  back.next_request(page, &r);
  EXPECT_FALSE(back.more_requests(page));
  EXPECT_EQ(page.req_event, 2u);
}

}  // namespace
}  // namespace tortuga
