// One split device as the store presents it (ABI.md 17): the frontend and
// backend directories, the backend's half of the state machine, and a
// SplitBackend for each connection. When the frontend reaches
// Initialised, its event-channel is checked and bound and the device's
// `connect` makes the backend from the frontend's keys; the device is
// Connected. When the frontend goes Closing or Closed, closes its port, or
// the backend reports it broken, the backend is destroyed (ending its
// grants), the port given back, and the device is Closed; a frontend may
// start over from Initialising.
//
// Hot-unplug (17.3, started by the toolstack): `online` = 0 and Closing;
// the backend keeps serving until the frontend goes Closing or Closed, then
// lets go as above. unplug() waits for both sides to let go; a frontend
// that never connected lets go at once. cancel_unplug() puts a device whose
// guest did not let go back as it was (online 1; Connected if the backend
// still held the connection), and remove_directories() ends it for the
// guest once it is shut down.
//
// Save and restore (ABI.md 21): quiesce() lets a step in progress finish,
// runs one that was due, holds the thread, and quiesces the backend
// (split_backend.h); save() then describes the device and resume()
// lets both go on. A restored device is made by the second constructor:
// its directories come with the restored store, and a Connected one binds
// the saved port and uses the saved ring refs and ring positions again,
// with no handshake.
//
// Every step runs on the device's own thread, fed by store watches and the
// backend's reports, so no backend thread ever waits for itself, and the
// doorbell thread only calls into a live backend (under backend_lock_).
// Calls from other threads (doorbells, event channels, store watches) go
// through a guard that shutdown() closes: after it, they find no device.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "devices/device_state.h"
#include "events/doorbells.h"
#include "events/event_channels.h"
#include "split_backend.h"
#include "store/store_ring.h"

namespace tortuga {

class SplitDevice {
 public:
  using Log = std::function<void(const std::string&)>;
  using Keys = std::vector<std::pair<std::string, std::string>>;
  // A decimal key of the frontend's directory, at most max, or nullopt.
  using FrontendKey = std::function<std::optional<uint64_t>(const std::string& key, uint64_t max)>;
  struct Connection {
    uint32_t port;                                   // the frontend's, bound to the backend
    std::function<void()> raise;                     // raises it
    std::function<void(const std::string&)> broken;  // the frontend broke the protocol
  };
  // Makes the connection's backend, or nullptr (with a reason logged) when
  // the frontend's keys do not hold.
  using Connect = std::function<std::unique_ptr<SplitBackend>(const FrontendKey& key, const Connection& c)>;

  struct Parts {
    StoreRing& store;
    EventChannels& events;
    Doorbells& doorbells;
    Log log;  // one line about the device, for the VMM's stderr
  };

  // type: "vbd", "vif". backend_keys: the features the backend publishes;
  // frontend_keys: what the toolstack writes in the frontend's directory.
  SplitDevice(Parts parts, const std::string& type, uint16_t domid, uint32_t id, const Keys& backend_keys,
              const Keys& frontend_keys, Connect connect);
  // A device of a restored domain in its saved state (see above). Throws
  // std::invalid_argument when that state cannot be resumed here: other
  // features than this backend publishes, directories missing from the
  // store, a state a save never leaves, a port or keys that do not bind.
  SplitDevice(Parts parts, const std::string& type, uint16_t domid, uint32_t id, const Keys& backend_keys,
              Connect connect, const SplitDeviceState& saved);
  // shutdown() if not done: the owner calls it before it stops the
  // doorbell thread, and destroys the device after (a doorbell already
  // taken may still call in, and finds no backend).
  ~SplitDevice();
  void shutdown();
  SplitDevice(const SplitDevice&) = delete;
  SplitDevice& operator=(const SplitDevice&) = delete;

  const std::string& frontend_dir() const { return fdir_; }
  const std::string& backend_dir() const { return bdir_; }
  int state() const;
  // The frontend's state as last seen by the device's thread (0 = unknown).
  int frontend_state() const;

  // Asks the guest to let go (online 0, Closing) and waits up to timeout
  // until the backend is Closed and the frontend Closed, Initialising or
  // gone. True when it did.
  bool unplug(std::chrono::milliseconds timeout);
  // After an unplug() that timed out: online 1 again, Connected if the
  // backend still holds the connection (else Closed, ready for the
  // frontend to start over).
  void cancel_unplug();
  // After shutdown(): removes both directories from the store.
  void remove_directories();

  // Save (see above). resume() undoes quiesce(); after a restore it makes
  // the backend look at its rings once.
  void quiesce();
  void resume();
  SplitDeviceState save() const;

 private:
  enum class Unplug { kNo, kAsked, kCancel };
  struct Guard {
    std::shared_mutex mutex;
    SplitDevice* device;
  };
  // fn(device) on a live device, from any thread; nothing after shutdown().
  template <typename Fn>
  std::function<void()> guarded(Fn fn) {
    return [g = guard_, fn] {
      std::shared_lock lock(g->mutex);
      if (g->device) fn(*g->device);
    };
  }
  void close_guard();
  void unplug_step(uint64_t frontend, const std::string& reason);
  void cancel_step();
  void plug_step(uint64_t frontend, const std::string& reason);
  bool let_go_locked() const;
  void publish_directories(const Keys& backend_keys, const Keys& frontend_keys);
  void run();
  void step();
  void connect();
  void reconnect(const SplitDeviceState& saved);
  std::string bind(const FrontendKey& key, const BackendPosition* resume_at);
  void settle();
  void close_now(const std::string& why);
  void disconnect(const std::string& why);
  void set_state(int state);
  void set_online(bool online);
  void wake(const std::string& why = "");
  void notified();

  Parts p_;
  Connect connect_;
  std::string fdir_, bdir_, token_;
  std::shared_ptr<Guard> guard_;
  mutable std::mutex mutex_;  // state_, front_, unplug_, the wake flag, pending_reason_
  std::condition_variable cv_;
  std::condition_variable changed_;  // a step ran: unplug() and cancel_unplug() look again
  bool woken_ = false, stopping_ = false, shut_down_ = false;
  bool frozen_ = false, in_step_ = false;  // quiesce(): no step runs on the thread
  std::string pending_reason_;
  int state_ = 0;
  int front_ = 0;
  Unplug unplug_ = Unplug::kNo;
  uint64_t steps_ = 0;
  bool online_ = true;  // the device thread's own
  uint32_t port_ = 0;
  Keys features_;                              // what the backend published
  std::map<std::string, uint64_t> connected_;  // the frontend's keys the backend connected with
  mutable std::shared_mutex backend_lock_;
  std::unique_ptr<SplitBackend> backend_;
  std::thread thread_;
};

}  // namespace tortuga
