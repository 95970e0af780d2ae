// One vbd as the store presents it (ABI.md 17, 18): the frontend and
// backend directories, the backend's half of the state machine, and the
// BlockBackend of each connection. The backend directory carries the
// disk's features; when the frontend reaches Initialised, its ring-ref and
// event-channel are checked and bound and the device is Connected; when it
// goes Closing or Closed, closes its port, or breaks the ring, the backend
// lets go of its grants and port and goes Closed (a frontend may then
// start over from Initialising).
//
// Every step runs on the device's own thread, fed by store watches and the
// backend's reports, so that no backend thread ever waits for itself and
// the doorbell thread only calls into a live backend (under backend_lock_).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>

#include "block_backend.h"
#include "block_image.h"
#include "doorbells.h"
#include "event_channels.h"
#include "grant_access.h"
#include "store_ring.h"

namespace tortuga {

class BlockDevice {
 public:
  using Log = std::function<void(const std::string&)>;
  struct Parts {
    StoreRing& store;
    EventChannels& events;
    Doorbells& doorbells;
    GrantAccess& grants;
    BlockImage& image;
    Log log;  // one line about the device, for the VMM's stderr
  };
  static constexpr uint32_t kFirstDiskId = 51712;  // xvda

  BlockDevice(Parts parts, uint16_t domid, uint32_t id);
  // shutdown() if not done: the owner calls it before it stops the
  // doorbell thread, and destroys the device after (a doorbell already
  // taken may still call in, and finds no backend).
  ~BlockDevice();
  void shutdown();
  BlockDevice(const BlockDevice&) = delete;
  BlockDevice& operator=(const BlockDevice&) = delete;

  const std::string& frontend_dir() const { return fdir_; }
  const std::string& backend_dir() const { return bdir_; }
  int state() const;

 private:
  void publish_directories();
  void run();
  void step();
  void connect();
  void disconnect(const std::string& why);
  void set_state(int state);
  void wake(const std::string& why = "");
  void notified();

  Parts p_;
  std::string fdir_, bdir_, token_;
  mutable std::mutex mutex_;  // state_, the wake flag, pending_reason_
  std::condition_variable cv_;
  bool woken_ = false, stopping_ = false, shut_down_ = false;
  std::string pending_reason_;
  int state_ = 0;
  uint32_t port_ = 0;
  std::shared_mutex backend_lock_;
  std::unique_ptr<BlockBackend> backend_;
  std::thread thread_;
};

}  // namespace tortuga
