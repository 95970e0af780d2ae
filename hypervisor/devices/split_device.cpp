#include "devices/split_device.h"

#include <charconv>
#include <stdexcept>

#include <fmt/format.h>
#include <tortuga/event_channel.h>
#include <tortuga/io/store.h>

#include "store/store_layout.h"

namespace tortuga {
namespace {

// A decimal store value, or nullopt for anything else (hostile text).
std::optional<uint64_t> decimal(const Store::Result& r, uint64_t max) {
  if (!r.ok() || r.payload.empty()) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(r.payload.data(), r.payload.data() + r.payload.size(), v);
  if (ec != std::errc() || end != r.payload.data() + r.payload.size() || v > max) return std::nullopt;
  return v;
}

// Every device's frontend publishes its port under this key (blkif.h, netif.h).
constexpr const char* kEventChannelKey = "event-channel";

std::string keys_text(const SplitDevice::Keys& keys) {
  std::string out;
  for (const auto& [k, v] : keys) out += (out.empty() ? "" : " ") + k + "=" + v;
  return out;
}

}  // namespace

SplitDevice::SplitDevice(Parts parts, const std::string& type, uint16_t domid, uint32_t id, const Keys& backend_keys,
                         const Keys& frontend_keys, Connect connect)
    : p_(std::move(parts)),
      connect_(std::move(connect)),
      fdir_(fmt::format("/local/domain/{}/device/{}/{}", domid, type, id)),
      bdir_(fmt::format("/local/domain/0/backend/{}/{}/{}", type, domid, id)),
      token_(fmt::format("{}/{}/{}", type, domid, id)),
      guard_(std::make_shared<Guard>()),
      features_(backend_keys) {
  guard_->device = this;
  p_.store.on_vmm_watch(token_, [wake = guarded([](SplitDevice& d) { d.wake(); })](const std::string&) { wake(); });
  publish_directories(backend_keys, frontend_keys);
  thread_ = std::thread([this] { run(); });
  p_.store.with_store([&](Store& s) { s.watch(0, fdir_ + "/" TG_STORE_KEY_STATE, token_); });
}

SplitDevice::SplitDevice(Parts parts, const std::string& type, uint16_t domid, uint32_t id, const Keys& backend_keys,
                         Connect connect, const SplitDeviceState& saved)
    : p_(std::move(parts)),
      connect_(std::move(connect)),
      fdir_(fmt::format("/local/domain/{}/device/{}/{}", domid, type, id)),
      bdir_(fmt::format("/local/domain/0/backend/{}/{}/{}", type, domid, id)),
      token_(fmt::format("{}/{}/{}", type, domid, id)),
      guard_(std::make_shared<Guard>()),
      features_(backend_keys) {
  guard_->device = this;
  if (saved.features != backend_keys) {
    throw std::invalid_argument("the saved backend published other features than this one would (" +
                                keys_text(saved.features) + " saved, " + keys_text(backend_keys) + " here)");
  }
  bool present = false;
  p_.store.with_store([&](Store& s) {
    present = s.read(0, 0, fdir_ + "/" TG_STORE_KEY_STATE).ok() && s.read(0, 0, bdir_ + "/" TG_STORE_KEY_STATE).ok();
  });
  if (!present) throw std::invalid_argument("its store directories are not in the image's store");
  if (saved.state != TG_STATE_INIT_WAIT && saved.state != TG_STATE_CONNECTED && saved.state != TG_STATE_CLOSED) {
    throw std::invalid_argument(fmt::format("saved in backend state {}, which a save never leaves", saved.state));
  }
  state_ = saved.state;
  if (state_ == TG_STATE_CONNECTED) reconnect(saved);
  p_.store.on_vmm_watch(token_, [wake = guarded([](SplitDevice& d) { d.wake(); })](const std::string&) { wake(); });
  thread_ = std::thread([this] { run(); });
  // The image's store holds the watch already (EEXIST, no harm) unless
  // someone removed it; then it is back.
  p_.store.with_store([&](Store& s) { s.watch(0, fdir_ + "/" TG_STORE_KEY_STATE, token_); });
  wake();  // one step: a handshake saved half-way goes on from the frontend's state
}

SplitDevice::~SplitDevice() { shutdown(); }

void SplitDevice::shutdown() {
  {
    std::lock_guard lock(mutex_);
    if (shut_down_) return;
    shut_down_ = stopping_ = true;
  }
  close_guard();
  cv_.notify_all();
  changed_.notify_all();
  thread_.join();
  if (port_ != 0) {
    p_.doorbells.stop_listening(port_);
    p_.events.unbind_backend(port_);  // harmless if the frontend closed it already
    port_ = 0;
  }
  {
    std::unique_lock lock(backend_lock_);
    backend_.reset();  // its queued requests finish first; nobody will look at the answers
  }
  p_.store.with_store([&](Store& s) { s.unwatch(0, fdir_ + "/" TG_STORE_KEY_STATE, token_); });
  p_.store.remove_vmm_watch(token_);
}

// Waits for calls in progress from other threads; later ones find no device.
void SplitDevice::close_guard() {
  std::unique_lock lock(guard_->mutex);
  guard_->device = nullptr;
}

int SplitDevice::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

int SplitDevice::frontend_state() const {
  std::lock_guard lock(mutex_);
  return front_;
}

bool SplitDevice::let_go_locked() const {
  return state_ == TG_STATE_CLOSED &&
         (front_ == TG_STATE_UNKNOWN || front_ == TG_STATE_INITIALISING || front_ == TG_STATE_CLOSED);
}

bool SplitDevice::unplug(std::chrono::milliseconds timeout) {
  uint64_t asked_at;
  {
    std::lock_guard lock(mutex_);
    unplug_ = Unplug::kAsked;
    asked_at = steps_;
  }
  wake();
  std::unique_lock lock(mutex_);
  // At least one step after the request: the state seen is the unplug's.
  return changed_.wait_for(lock, timeout, [&] { return stopping_ || (steps_ > asked_at && let_go_locked()); });
}

void SplitDevice::cancel_unplug() {
  {
    std::lock_guard lock(mutex_);
    if (unplug_ == Unplug::kNo) return;
    unplug_ = Unplug::kCancel;
  }
  wake();
  // The device's thread answers within a few store calls; the bound only
  // keeps a wedged thread from holding the caller forever.
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, std::chrono::seconds(5), [&] { return stopping_ || unplug_ == Unplug::kNo; });
}

void SplitDevice::remove_directories() {
  p_.store.with_store([&](Store& s) {
    s.rm(0, 0, fdir_);
    s.rm(0, 0, bdir_);
  });
}

void SplitDevice::set_online(bool online) {
  p_.store.with_store([&](Store& s) { s.write(0, 0, bdir_ + "/" TG_STORE_KEY_ONLINE, online ? "1" : "0"); });
}

// The toolstack's part (cold-plug) and the backend's first steps: both
// directories at Initialising, then the features and InitWait.
void SplitDevice::publish_directories(const Keys& backend_keys, const Keys& frontend_keys) {
  p_.store.with_store([&](Store& s) {
    auto guest_node = [&](const std::string& path, const std::string& value) {
      if (!s.write(0, 0, path, value).ok() || !s.set_perms(0, 0, path, {fmt::format("n{}", s.guest())}).ok()) {
        throw std::logic_error("cannot create " + path);
      }
    };
    // device/<type> itself, made by the first device of its type: the
    // guest lists it to find its devices, and may write there (16.4).
    if (std::string type_dir = store_parent(fdir_); !s.read(0, 0, type_dir).ok()) vmm_node(s, type_dir, "", 'b');
    guest_node(fdir_, "");
    guest_node(fdir_ + "/" TG_STORE_KEY_STATE, std::to_string(TG_STATE_INITIALISING));
    guest_node(fdir_ + "/" TG_STORE_KEY_BACKEND, bdir_);
    guest_node(fdir_ + "/" TG_STORE_KEY_BACKEND_ID, "0");
    for (const auto& [key, value] : frontend_keys) vmm_node(s, fdir_ + "/" + key, value, 'r');
    vmm_node(s, bdir_, "", 'r');
    vmm_node(s, bdir_ + "/" TG_STORE_KEY_FRONTEND, fdir_, 'r');
    vmm_node(s, bdir_ + "/" TG_STORE_KEY_FRONTEND_ID, std::to_string(s.guest()), 'r');
    vmm_node(s, bdir_ + "/" TG_STORE_KEY_ONLINE, "1", 'r');
    for (const auto& [key, value] : backend_keys) vmm_node(s, bdir_ + "/" + key, value, 'r');
    vmm_node(s, bdir_ + "/" TG_STORE_KEY_STATE, std::to_string(TG_STATE_INIT_WAIT), 'r');
  });
  state_ = TG_STATE_INIT_WAIT;
}

void SplitDevice::set_state(int state) {
  {
    std::lock_guard lock(mutex_);
    state_ = state;
  }
  p_.store.with_store([&](Store& s) { s.write(0, 0, bdir_ + "/" TG_STORE_KEY_STATE, std::to_string(state)); });
}

void SplitDevice::wake(const std::string& why) {
  std::lock_guard lock(mutex_);
  if (!why.empty() && pending_reason_.empty()) pending_reason_ = why;
  woken_ = true;
  cv_.notify_all();
}

void SplitDevice::run() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return (woken_ && !frozen_) || stopping_; });
      if (stopping_) return;
      woken_ = false;
      in_step_ = true;
    }
    step();
    {
      std::lock_guard lock(mutex_);
      in_step_ = false;
    }
    changed_.notify_all();
  }
}

// The thread finishes its step and takes no other; a step that was due
// runs here, and the backend completes what it holds. A backend that
// broke meanwhile is let go at once, so no saved device holds one.
void SplitDevice::quiesce() {
  {
    std::unique_lock lock(mutex_);
    frozen_ = true;
    changed_.wait(lock, [&] { return !in_step_; });
  }
  settle();
  {
    std::shared_lock lock(backend_lock_);
    if (backend_) backend_->quiesce();
  }
  settle();
  std::shared_lock lock(backend_lock_);
  if (backend_) backend_->quiesce();  // made by the step just run, or quiesced already (no harm)
}

// A step that was due, on the caller's thread (the device's is held).
void SplitDevice::settle() {
  {
    std::lock_guard lock(mutex_);
    if (!woken_ || stopping_) return;
    woken_ = false;
  }
  step();
}

void SplitDevice::resume() {
  {
    std::shared_lock lock(backend_lock_);
    if (backend_) backend_->resume();
  }
  std::lock_guard lock(mutex_);
  frozen_ = false;
  cv_.notify_all();
}

SplitDeviceState SplitDevice::save() const {
  SplitDeviceState s;
  s.state = state();
  s.features = features_;
  std::shared_lock lock(backend_lock_);
  if (backend_) {
    s.frontend_keys = connected_;
    s.position = backend_->position();
  }
  return s;
}

// Reacts to the frontend's state, a broken protocol, a closed port or the
// toolstack's unplug; then tells unplug() and cancel_unplug() to look.
void SplitDevice::step() {
  std::string reason;
  Unplug unplug;
  {
    std::lock_guard lock(mutex_);
    reason = std::exchange(pending_reason_, {});
    unplug = unplug_;
  }
  std::optional<uint64_t> front;
  p_.store.with_store([&](Store& s) { front = decimal(s.read(0, 0, fdir_ + "/" TG_STORE_KEY_STATE), 255); });
  uint64_t f = front.value_or(TG_STATE_UNKNOWN);
  {
    std::lock_guard lock(mutex_);
    front_ = static_cast<int>(f);
  }
  if (unplug == Unplug::kAsked) {
    unplug_step(f, reason);
  } else {
    if (unplug == Unplug::kCancel) cancel_step();
    plug_step(f, reason);
  }
  {
    std::lock_guard lock(mutex_);
    ++steps_;
  }
  changed_.notify_all();
}

// The toolstack asked the guest to let go: online 0 and Closing; the
// backend serves on until the frontend leaves Connected, then lets go.
void SplitDevice::unplug_step(uint64_t f, const std::string& reason) {
  if (online_) {
    set_online(false);
    online_ = false;
  }
  int state = this->state();
  if (state == TG_STATE_CONNECTED) {
    set_state(TG_STATE_CLOSING);
    state = TG_STATE_CLOSING;
  } else if (state == TG_STATE_INIT_WAIT) {
    close_now("");  // the frontend never connected: nothing to wait for
    return;
  }
  bool held = port_ != 0;
  if (state == TG_STATE_CLOSING && held && (f != TG_STATE_CONNECTED || !reason.empty())) disconnect(reason);
}

// A refused unplug: online again, and Connected if the backend still holds
// the connection; a frontend that had let go may start over (plug_step).
void SplitDevice::cancel_step() {
  if (!online_) {
    set_online(true);
    online_ = true;
  }
  if (state() == TG_STATE_CLOSING && port_ != 0) set_state(TG_STATE_CONNECTED);
  std::lock_guard lock(mutex_);
  unplug_ = Unplug::kNo;
}

// The device plugged in: the frontend connects, leaves, or starts over.
void SplitDevice::plug_step(uint64_t f, const std::string& reason) {
  int state = this->state();
  if (!reason.empty() && state == TG_STATE_CONNECTED) {
    disconnect(reason);
    return;
  }
  if (state == TG_STATE_INIT_WAIT && f == TG_STATE_INITIALISED) {
    connect();
  } else if (state == TG_STATE_CONNECTED && (f == TG_STATE_CLOSING || f == TG_STATE_CLOSED)) {
    disconnect("");
  } else if (state == TG_STATE_CLOSED && f == TG_STATE_INITIALISING) {
    set_state(TG_STATE_INIT_WAIT);  // the frontend starts over
  }
}

void SplitDevice::close_now(const std::string& why) {
  if (!why.empty()) p_.log(why + "; device closed");
  set_state(TG_STATE_CLOSING);
  set_state(TG_STATE_CLOSED);
}

void SplitDevice::connect() {
  connected_.clear();
  FrontendKey key = [this](const std::string& name, uint64_t max) {
    std::optional<uint64_t> v;
    p_.store.with_store([&](Store& s) { v = decimal(s.read(0, 0, fdir_ + "/" + name), max); });
    if (v) connected_[name] = *v;  // what a save records, so a restore needs no handshake
    return v;
  };
  if (std::string why = bind(key, nullptr); !why.empty()) return close_now(why);
  set_state(TG_STATE_CONNECTED);
}

// The saved connection again: the same port, ring refs and positions. The
// frontend is Connected and notices nothing.
void SplitDevice::reconnect(const SplitDeviceState& saved) {
  FrontendKey key = [&saved](const std::string& name, uint64_t max) -> std::optional<uint64_t> {
    auto it = saved.frontend_keys.find(name);
    if (it == saved.frontend_keys.end() || it->second > max) return std::nullopt;
    return it->second;
  };
  if (std::string why = bind(key, &saved.position); !why.empty()) {
    throw std::invalid_argument("its saved connection does not hold: " + why);
  }
  connected_ = saved.frontend_keys;
}

// Binds the frontend's port and makes the connection's backend; "" or why not
// (then nothing is bound).
std::string SplitDevice::bind(const FrontendKey& key, const BackendPosition* resume_at) {
  std::optional<uint64_t> port = key(kEventChannelKey, TG_NR_EVENT_CHANNELS - 1);
  if (!port) return "the frontend published no valid event-channel";
  uint32_t pt = static_cast<uint32_t>(*port);
  // The frontend's port must be one it allocated for us, still unbound.
  if (p_.events.bind_backend(pt, guarded([](SplitDevice& d) { d.notified(); }),
                             guarded([](SplitDevice& d) { d.wake("the frontend closed its port"); })) != 0) {
    return fmt::format("event-channel {} is not an unbound port for the VMM", pt);
  }
  Connection c{pt, [this, pt] { p_.events.raise_backend_port(pt); }, [this](const std::string& why) { wake(why); }};
  std::unique_ptr<SplitBackend> backend;
  std::string why = "the frontend's keys do not hold";
  try {
    backend = connect_(key, c);
    if (backend && resume_at) backend->restore_position(*resume_at);
  } catch (const std::exception& e) {
    why += std::string(": ") + e.what();
    backend.reset();
  }
  if (!backend) {
    p_.events.unbind_backend(pt);
    return why;
  }
  {
    std::unique_lock lock(backend_lock_);
    backend_ = std::move(backend);
  }
  port_ = pt;
  p_.doorbells.listen(pt, guarded([](SplitDevice& d) { d.notified(); }));
  return "";
}

void SplitDevice::notified() {
  std::shared_lock lock(backend_lock_);
  if (backend_) backend_->notified();
}

// Closing: stop listening, end the connection's backend (its grants are
// released with it), give the port back, Closed.
void SplitDevice::disconnect(const std::string& why) {
  if (!why.empty()) p_.log(why + "; device closed");
  set_state(TG_STATE_CLOSING);
  if (port_ != 0) {
    p_.doorbells.stop_listening(port_);
    p_.events.unbind_backend(port_);  // harmless if the frontend closed it already
    port_ = 0;
  }
  {
    std::unique_lock lock(backend_lock_);
    backend_.reset();
  }
  set_state(TG_STATE_CLOSED);
}

}  // namespace tortuga
