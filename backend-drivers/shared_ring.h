// The backend's side of an ABI.md 15 shared ring, for any request and
// response types: private indices, a copy of each request taken out of the
// page before anyone looks at it, responses with notification suppression,
// and the final check before going idle.
//
// The page is hostile: every index is read once into a local, and a
// frontend that publishes more requests than the ring can hold (req_prod
// more than N ahead of the responses) is reported as a runaway instead of
// being followed. The helper never holds a pointer to the page: each call
// is given the page, which the caller holds through a grant for as long as
// the call lasts.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>

#include <tortuga/io/ring.h>

namespace tortuga {

enum class RingRead { kRequest, kEmpty, kRunaway };

template <typename Sring, typename Request, typename Response>
class BackRing {
 public:
  static constexpr uint32_t kSlots = TG_RING_SLOTS_OF(Sring);

  // Starts at the page's indices (a backend may attach to a ring in use).
  void attach(Sring& s) {
    rsp_prod_pvt_ = load(s.rsp_prod);
    req_cons_ = rsp_prod_pvt_;
  }

  // Resumes at indices the backend kept (a restored domain): the page's
  // own indices are the guest's to rewrite, these are not.
  void resume(uint32_t req_cons, uint32_t rsp_prod_pvt) {
    req_cons_ = req_cons;
    rsp_prod_pvt_ = rsp_prod_pvt;
  }

  // Copies the next published request into *out.
  RingRead next_request(Sring& s, Request* out) {
    uint32_t prod = load(s.req_prod);
    // Requests neither consumed nor answered can never exceed the slots:
    // a frontend claiming more is broken (ABI.md 15.4).
    if (static_cast<uint32_t>(prod - rsp_prod_pvt_) > kSlots) return RingRead::kRunaway;
    if (prod == req_cons_) return RingRead::kEmpty;
    std::atomic_thread_fence(std::memory_order_acquire);  // slots before prod are written
    std::memcpy(out, static_cast<const void*>(&s.ring[req_cons_ & (kSlots - 1)].req), sizeof *out);
    ++req_cons_;
    return RingRead::kRequest;
  }

  // Writes a response into the next response slot (one whose request was
  // consumed); it becomes visible at push_responses().
  void put_response(Sring& s, const Response& r) {
    std::memcpy(static_cast<void*>(&s.ring[rsp_prod_pvt_ & (kSlots - 1)].rsp), &r, sizeof r);
    ++rsp_prod_pvt_;
  }

  // Publishes the responses put so far; true when the frontend asked to be
  // notified of one of them (rsp_event in the published range).
  bool push_responses(Sring& s) {
    uint32_t old = load(s.rsp_prod), now = rsp_prod_pvt_;
    std::atomic_thread_fence(std::memory_order_release);
    store(s.rsp_prod, now);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return static_cast<uint32_t>(now - load(s.rsp_event)) < static_cast<uint32_t>(now - old);
  }

  // Before going idle: re-arms req_event and looks once more. True when a
  // request was published meanwhile (consume it now: it will not be
  // notified).
  bool more_requests(Sring& s) {
    if (load(s.req_prod) != req_cons_) return true;
    store(s.req_event, req_cons_ + 1);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return load(s.req_prod) != req_cons_;
  }

  // Requests consumed and not yet answered.
  uint32_t outstanding() const { return req_cons_ - rsp_prod_pvt_; }
  uint32_t req_cons() const { return req_cons_; }
  uint32_t rsp_prod_pvt() const { return rsp_prod_pvt_; }

 private:
  static uint32_t load(uint32_t& x) { return std::atomic_ref<uint32_t>(x).load(std::memory_order_acquire); }
  static void store(uint32_t& x, uint32_t v) { std::atomic_ref<uint32_t>(x).store(v, std::memory_order_release); }

  uint32_t rsp_prod_pvt_ = 0;
  uint32_t req_cons_ = 0;
};

}  // namespace tortuga
