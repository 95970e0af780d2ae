// The store's wire (ABI.md 16.2): the guest's requests arrive as a byte
// stream in the ring page's req half, replies and watch events leave
// through rsp, each message a tg_store_msg header and its payload, and
// either side may be larger than the ring (streamed as room frees). The
// guest rings store_evtchn's doorbell after advancing req_prod or rsp_cons;
// the VMM raises the port after advancing rsp_prod or req_cons.
//
// Everything about the page is hostile: indices that claim more than the
// ring holds stop the exchange (the guest only hurts itself), a header
// with len over the limit is skipped and answered EINVAL. At most 64
// replies wait for room; beyond that requests are answered EBUSY, and
// beyond 64 KiB of waiting output no more requests are read at all.
//
// Thread-safe: the doorbell thread calls notified(); the VMM and its
// backends use the store through with_store() (as domid 0), whose watch
// events for domid 0 run their callbacks after the lock is released.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <tortuga/io/store.h>

#include "store/store.h"

namespace tortuga {

// What a save records of the store ring (README.md, "Saving a
// component"): the store behind it, taken under the ring's lock so a watch
// event is in exactly one of them, and the VMM's side of the ring: its own
// indices, a request half received, and output not yet in the ring.
struct StoreRingState {
  StoreState store;
  uint32_t req_cons = 0, rsp_prod = 0;
  std::string partial_request;
  uint64_t discarding = 0;
  std::string output;
  std::vector<uint64_t> output_sizes;
};

class StoreRing {
 public:
  using RaisePort = std::function<void()>;
  using VmmWatch = std::function<void(const std::string& path)>;

  StoreRing(tg_store_ring& page, Store& store, RaisePort raise);

  void notified();
  // Runs fn on the store as the VMM (domid 0), then delivers the watch
  // events it caused.
  void with_store(const std::function<void(Store&)>& fn);
  // A VMM watch: `fn` runs (without the lock) for each event of token.
  void on_vmm_watch(const std::string& token, VmmWatch fn);
  // Forgets the callbacks of token (a copy already taken may still run
  // once: callers guard what their callbacks reach).
  void remove_vmm_watch(const std::string& token);

  // Save and restore (store_ring_state.cpp): the store and the ring's VMM
  // side together, under the ring's lock. restore() checks both as hostile
  // input and throws std::invalid_argument or StoreStateError; nothing
  // changes then.
  StoreRingState save() const;
  void restore(const StoreRingState& state);

 private:
  struct Header {
    uint32_t type, req_id, tx_id, len;
  };
  void take_requests_locked(bool* moved);
  void handle_locked(const Header& h, const std::string& payload);
  Store::Result dispatch_locked(const Header& h, const std::string& payload);
  void reply_locked(uint32_t type, uint32_t req_id, uint32_t tx_id, const std::string& payload);
  void send_locked(bool* moved);
  std::vector<StoreWatchEvent> route_events_locked();
  void run_vmm_watches(const std::vector<StoreWatchEvent>& events);

  tg_store_ring& page_;
  Store& store_;
  RaisePort raise_;
  mutable std::mutex mutex_;
  uint32_t req_cons_ = 0, rsp_prod_ = 0;
  std::string in_;                // the message being received
  uint64_t discarding_ = 0;       // bytes of an oversized message still to skip
  std::deque<char> out_;          // replies and events not yet in the ring
  std::deque<size_t> out_sizes_;  // unsent bytes of each message in out_
  std::map<std::string, std::vector<VmmWatch>> vmm_watches_;
};

}  // namespace tortuga
