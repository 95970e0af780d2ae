// The network backend (ABI.md 19) of one vif connection: the frontend's
// tx and rx rings, data reached only through grants, a TAP interface
// underneath.
//
// Transmit runs on the doorbell thread: each packet's slots are copied out
// of the ring and checked (check_tx_packet), the bytes copied out of the
// granted pages (holding each grant only for the copy), a blank checksum
// filled in, the frame written to the TAP; every slot is answered OKAY,
// ERROR or DROPPED. Receive runs on a thread of its own that waits for
// frames on the TAP: each goes into the next posted rx buffer (a granted
// page) or, with none posted or a frame over a page, is dropped.
// A frontend that breaks a ring (runaway index, revoked ring page) gets
// `broken(reason)`, as in the block backend.
//
// Save (split_backend.h): both directions run under one lock, so quiescing
// is taking it and setting a flag; a frame read from the TAP meanwhile
// waits for resume() (or the backend's end) in the receive thread. The tx
// position saved is the start of the packet being published: the slots of
// a partial packet are not answered, so they stay in the ring, and a
// restored backend reads them again (a save is always at a packet boundary).
// announce() sends the guest's MAC onto the TAP after a restore (ABI.md 21).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <tortuga/io/netif.h>

#include "unique_fd.h"
#include "grant_access.h"
#include "io_counters.h"
#include "net_packet.h"
#include "shared_ring.h"
#include "split_backend.h"
#include "tap_device.h"

namespace tortuga {

struct NetBackendStats {
  uint64_t tx_packets = 0, tx_errors = 0, tx_dropped = 0;
  uint64_t rx_packets = 0, rx_dropped = 0;
};

class NetBackend final : public SplitBackend {
 public:
  using RaisePort = std::function<void()>;
  using Broken = std::function<void(const std::string& reason)>;

  NetBackend(TapDevice& tap, GrantAccess& grants, uint32_t tx_ref, uint32_t rx_ref, NetFeatures features,
             RaisePort raise, Broken broken);
  ~NetBackend() override;
  NetBackend(const NetBackend&) = delete;
  NetBackend& operator=(const NetBackend&) = delete;

  void notified() override;
  void quiesce() override;
  void resume() override;
  BackendPosition position() const override;
  void restore_position(const BackendPosition& at) override;
  NetBackendStats stats() const;
  // The domain's totals this backend adds its frames to (none by default).
  void count_io_in(IoCounters* io) { io_ = io; }

 private:
  using TxRing = BackRing<tg_netif_tx_sring, tg_netif_tx_request, tg_netif_tx_response>;
  using RxRing = BackRing<tg_netif_rx_sring, tg_netif_rx_request, tg_netif_rx_response>;

  void transmit_locked(tg_netif_tx_sring& s, bool* notify);
  int send_packet(const NetTxPlan& plan);
  void receive_loop();
  void deliver(std::span<const uint8_t> frame);
  void fail_locked(const std::string& reason);

  TapDevice& tap_;
  GrantAccess& grants_;
  uint32_t tx_ref_, rx_ref_;
  NetFeatures features_;
  RaisePort raise_;
  Broken broken_;

  mutable std::mutex mutex_;  // both rings, the partial packet, the stats
  TxRing tx_;
  RxRing rx_;
  bool tx_attached_ = false, rx_attached_ = false, broken_state_ = false;
  bool quiesced_ = false, stopping_ = false;
  std::condition_variable resumed_;           // quiesced_ or stopping_ changed
  std::vector<tg_netif_tx_request> partial_;  // slots of a packet still being published
  NetBackendStats stats_;
  IoCounters* io_ = nullptr;
  UniqueFd stop_fd_;  // an eventfd: written once to end the receive loop
  std::thread rx_thread_;
};

}  // namespace tortuga
