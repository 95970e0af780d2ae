#include "net_backend.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <tortuga/event_channel.h>

namespace tortuga {

NetBackend::NetBackend(TapDevice& tap, GrantAccess& grants, uint32_t tx_ref, uint32_t rx_ref, NetFeatures features,
                       RaisePort raise, Broken broken)
    : tap_(tap),
      grants_(grants),
      tx_ref_(tx_ref),
      rx_ref_(rx_ref),
      features_(features),
      raise_(std::move(raise)),
      broken_(std::move(broken)) {
  stop_fd_.reset(::eventfd(0, EFD_CLOEXEC));
  if (!stop_fd_.valid()) throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  rx_thread_ = std::thread([this] { receive_loop(); });
}

NetBackend::~NetBackend() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;  // a frame held back by quiesce() is dropped
  }
  resumed_.notify_all();
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(stop_fd_.get(), &one, sizeof one);
  rx_thread_.join();
}

NetBackendStats NetBackend::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void NetBackend::fail_locked(const std::string& reason) {
  if (broken_state_) return;
  broken_state_ = true;
  broken_(reason);
}

void NetBackend::quiesce() {
  std::lock_guard lock(mutex_);  // no transmit or delivery is half done
  quiesced_ = true;
}

void NetBackend::resume() {
  {
    std::lock_guard lock(mutex_);
    quiesced_ = false;
  }
  resumed_.notify_all();
  notified();
}

// The tx ring rewound to the start of a partial packet: its slots are
// consumed but unanswered, still in the ring (ABI.md 15.2), read again by
// the backend that resumes there.
BackendPosition NetBackend::position() const {
  std::lock_guard lock(mutex_);
  return {{tx_attached_, tx_.rsp_prod_pvt(), tx_.rsp_prod_pvt()}, {rx_attached_, rx_.req_cons(), rx_.rsp_prod_pvt()}};
}

void NetBackend::restore_position(const BackendPosition& at) {
  check_saved_position(at, 2);
  std::lock_guard lock(mutex_);
  tx_attached_ = at[0].attached;
  tx_.resume(at[0].req_cons, at[0].rsp_prod_pvt);
  rx_attached_ = at[1].attached;
  rx_.resume(at[1].req_cons, at[1].rsp_prod_pvt);
  partial_.clear();
}

void NetBackend::notified() {
  std::lock_guard lock(mutex_);
  if (broken_state_ || quiesced_) return;  // resume() looks at the rings again
  GrantUse ring = grants_.use(TG_DOMID_VMM, tx_ref_, true);
  if (!ring.ok()) return fail_locked("the tx ring page's grant was refused");
  auto& s = *reinterpret_cast<tg_netif_tx_sring*>(ring.page());
  if (!tx_attached_) {
    tx_.attach(s);
    tx_attached_ = true;
  }
  bool notify = false;
  transmit_locked(s, &notify);
  if (notify) raise_();
  // New rx buffers need nothing now: the receive thread takes them as frames come.
}

void NetBackend::transmit_locked(tg_netif_tx_sring& s, bool* notify) {
  bool answered = false;
  do {
    tg_netif_tx_request req;
    for (;;) {
      RingRead r = tx_.next_request(s, &req);
      if (r == RingRead::kEmpty) break;
      if (r == RingRead::kRunaway) return fail_locked("the frontend's tx producer index ran away");
      partial_.push_back(req);
      if (net_tx_more(req) && partial_.size() < TG_NETIF_MAX_TX_SLOTS) continue;  // the packet goes on
      NetTxPlan plan;
      int status = check_tx_packet(partial_, features_, &plan);
      if (status == TG_NETIF_RSP_OKAY) status = send_packet(plan);
      if (status == TG_NETIF_RSP_OKAY && io_ != nullptr) {
        IoCounters::add(io_->net_tx_frames, 1);
        IoCounters::add(io_->net_tx_bytes, plan.total);
      }
      ++(status == TG_NETIF_RSP_OKAY      ? stats_.tx_packets
         : status == TG_NETIF_RSP_DROPPED ? stats_.tx_dropped
                                          : stats_.tx_errors);
      for (const tg_netif_tx_request& slot : partial_) tx_.put_response(s, {slot.id, static_cast<int16_t>(status)});
      partial_.clear();
      answered = true;
    }
  } while (tx_.more_requests(s));
  if (answered && tx_.push_responses(s)) *notify = true;
}

// Copies the packet out of its granted pages, each held only for its copy.
int NetBackend::send_packet(const NetTxPlan& plan) {
  std::vector<uint8_t> frame;
  frame.reserve(plan.total);
  for (const NetTxSlotPlan& slot : plan.slots) {
    GrantUse page = grants_.use(TG_DOMID_VMM, slot.gref, false);
    if (!page.ok()) return TG_NETIF_RSP_ERROR;
    const uint8_t* from = page.page() + slot.offset;
    frame.insert(frame.end(), from, from + slot.length);
  }
  if (plan.csum_blank) fill_l4_checksum(frame);
  return tap_.send(frame) ? TG_NETIF_RSP_OKAY : TG_NETIF_RSP_DROPPED;
}

void NetBackend::receive_loop() {
  std::vector<uint8_t> buf(TG_NETIF_MAX_PACKET + 1);
  pollfd fds[2] = {{tap_.fd(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents & POLLIN) return;
    if (!(fds[0].revents & POLLIN)) continue;
    while (size_t n = tap_.receive(buf)) deliver({buf.data(), n});
  }
}

// One frame into the next posted buffer, or dropped (ABI.md 19, Receive).
void NetBackend::deliver(std::span<const uint8_t> frame) {
  std::unique_lock lock(mutex_);
  resumed_.wait(lock, [&] { return !quiesced_ || stopping_; });
  if (broken_state_ || stopping_) return;
  GrantUse ring = grants_.use(TG_DOMID_VMM, rx_ref_, true);
  if (!ring.ok()) return fail_locked("the rx ring page's grant was refused");
  auto& s = *reinterpret_cast<tg_netif_rx_sring*>(ring.page());
  if (!rx_attached_) {
    rx_.attach(s);
    rx_attached_ = true;
  }
  if (frame.size() > 4096) {
    ++stats_.rx_dropped;  // a frame over a page, without rx scatter-gather
    return;
  }
  tg_netif_rx_request req;
  RingRead r = rx_.next_request(s, &req);
  if (r == RingRead::kRunaway) return fail_locked("the frontend's rx producer index ran away");
  if (r == RingRead::kEmpty) {
    ++stats_.rx_dropped;
    return;
  }
  tg_netif_rx_response rsp{req.id, 0, 0, TG_NETIF_RSP_ERROR};
  GrantUse page = grants_.use(TG_DOMID_VMM, req.gref, true);
  if (page.ok() && req._pad0 == 0) {
    std::memcpy(page.page(), frame.data(), frame.size());
    rsp.status = static_cast<int16_t>(frame.size());
    ++stats_.rx_packets;
    if (io_ != nullptr) {
      IoCounters::add(io_->net_rx_frames, 1);
      IoCounters::add(io_->net_rx_bytes, frame.size());
    }
  } else {
    ++stats_.rx_dropped;
  }
  page.reset();  // the buffer's grant ends before the frontend sees the response
  rx_.put_response(s, rsp);
  if (rx_.push_responses(s)) raise_();
}

}  // namespace tortuga
