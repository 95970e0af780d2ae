#include "store/store_ring.h"

#include <atomic>
#include <cstring>

namespace tortuga {
namespace {

constexpr size_t kHeader = sizeof(tg_store_msg);
constexpr size_t kMaxWaitingReplies = TG_STORE_MAX_PENDING;
constexpr size_t kMaxWaitingBytes = 64 * 1024;

uint32_t load(uint32_t& x) { return std::atomic_ref<uint32_t>(x).load(std::memory_order_acquire); }
void store_index(uint32_t& x, uint32_t v) { std::atomic_ref<uint32_t>(x).store(v, std::memory_order_release); }

// The NUL-terminated strings of a payload; a payload not ending in NUL has
// a last string that runs to its end.
std::vector<std::string> strings_of(const std::string& payload) {
  std::vector<std::string> out;
  for (size_t at = 0; at < payload.size();) {
    size_t nul = payload.find('\0', at);
    if (nul == std::string::npos) nul = payload.size();
    out.push_back(payload.substr(at, nul - at));
    at = nul + 1;
  }
  return out;
}

}  // namespace

StoreRing::StoreRing(tg_store_ring& page, Store& store, RaisePort raise)
    : page_(page), store_(store), raise_(std::move(raise)) {}

void StoreRing::notified() {
  std::vector<StoreWatchEvent> vmm_events;
  bool moved = false;
  {
    std::lock_guard lock(mutex_);
    send_locked(&moved);  // the guest may have made room
    take_requests_locked(&moved);
    vmm_events = route_events_locked();
    send_locked(&moved);
  }
  if (moved) raise_();
  run_vmm_watches(vmm_events);
}

void StoreRing::with_store(const std::function<void(Store&)>& fn) {
  std::vector<StoreWatchEvent> vmm_events;
  bool moved = false;
  {
    std::lock_guard lock(mutex_);
    fn(store_);
    vmm_events = route_events_locked();
    send_locked(&moved);
  }
  if (moved) raise_();
  run_vmm_watches(vmm_events);
}

void StoreRing::on_vmm_watch(const std::string& token, VmmWatch fn) {
  std::lock_guard lock(mutex_);
  vmm_watches_[token].push_back(std::move(fn));
}

void StoreRing::remove_vmm_watch(const std::string& token) {
  std::lock_guard lock(mutex_);
  vmm_watches_.erase(token);
}

void StoreRing::run_vmm_watches(const std::vector<StoreWatchEvent>& events) {
  for (const StoreWatchEvent& e : events) {
    std::vector<VmmWatch> fns;
    {
      std::lock_guard lock(mutex_);
      auto it = vmm_watches_.find(e.token);
      if (it != vmm_watches_.end()) fns = it->second;
    }
    for (auto& fn : fns) fn(e.path);
  }
}

// Guest events become WATCH_EVENT messages; the VMM's are returned.
std::vector<StoreWatchEvent> StoreRing::route_events_locked() {
  std::vector<StoreWatchEvent> vmm;
  for (StoreWatchEvent& e : store_.take_events()) {
    if (e.who == store_.guest()) {
      reply_locked(TG_STORE_WATCH_EVENT, 0, 0, e.path + '\0' + e.token + '\0');
    } else if (e.who == 0) {
      vmm.push_back(std::move(e));
    }
  }
  return vmm;
}

void StoreRing::take_requests_locked(bool* moved) {
  uint32_t prod = load(page_.req_prod);
  uint32_t avail = prod - req_cons_;
  if (avail > TG_STORE_RING_SIZE) return;  // a broken index: nothing more is read
  while (avail > 0 && out_.size() < kMaxWaitingBytes) {
    char c = std::atomic_ref<char>(page_.req[TG_STORE_RING_IDX(req_cons_)]).load(std::memory_order_relaxed);
    ++req_cons_;
    --avail;
    *moved = true;
    if (discarding_ > 0) {
      --discarding_;
      continue;
    }
    in_.push_back(c);
    if (in_.size() < kHeader) continue;
    Header h;
    std::memcpy(&h, in_.data(), kHeader);
    if (h.len > TG_STORE_PAYLOAD_MAX) {
      discarding_ = h.len;  // the stream survives: skip the claimed payload
      in_.clear();
      reply_locked(TG_STORE_ERROR, h.req_id, h.tx_id, std::string(TG_STORE_ERR_EINVAL) + '\0');
      continue;
    }
    if (in_.size() < kHeader + h.len) continue;
    std::string payload = in_.substr(kHeader);
    in_.clear();
    handle_locked(h, payload);
  }
  if (*moved) store_index(page_.req_cons, req_cons_);
}

void StoreRing::handle_locked(const Header& h, const std::string& payload) {
  if (out_sizes_.size() >= kMaxWaitingReplies) {
    reply_locked(TG_STORE_ERROR, h.req_id, h.tx_id, std::string(TG_STORE_ERR_EBUSY) + '\0');
    return;
  }
  Store::Result r = dispatch_locked(h, payload);
  if (r.ok()) {
    reply_locked(h.type, h.req_id, h.tx_id, r.payload);
  } else {
    reply_locked(TG_STORE_ERROR, h.req_id, h.tx_id, r.error + '\0');
  }
}

Store::Result StoreRing::dispatch_locked(const Header& h, const std::string& payload) {
  uint16_t who = store_.guest();
  auto s = strings_of(payload);
  auto path_only = [&]() { return s.size() == 1 && payload.back() == '\0'; };
  auto invalid = Store::Result{TG_STORE_ERR_EINVAL, {}};
  switch (h.type) {
    case TG_STORE_READ: return path_only() ? store_.read(who, h.tx_id, s[0]) : invalid;
    case TG_STORE_WRITE: {
      size_t nul = payload.find('\0');
      if (nul == std::string::npos) return invalid;
      return store_.write(who, h.tx_id, payload.substr(0, nul), std::string_view(payload).substr(nul + 1));
    }
    case TG_STORE_MKDIR: return path_only() ? store_.mkdir(who, h.tx_id, s[0]) : invalid;
    case TG_STORE_RM: return path_only() ? store_.rm(who, h.tx_id, s[0]) : invalid;
    case TG_STORE_DIRECTORY: return path_only() ? store_.directory(who, h.tx_id, s[0]) : invalid;
    case TG_STORE_GET_PERMS: return path_only() ? store_.get_perms(who, h.tx_id, s[0]) : invalid;
    case TG_STORE_SET_PERMS:
      if (s.size() < 2 || payload.back() != '\0') return invalid;
      return store_.set_perms(who, h.tx_id, s[0], {s.begin() + 1, s.end()});
    case TG_STORE_WATCH:
    case TG_STORE_UNWATCH:
      if (s.size() != 2 || payload.back() != '\0') return invalid;
      return h.type == TG_STORE_WATCH ? store_.watch(who, s[0], s[1]) : store_.unwatch(who, s[0], s[1]);
    case TG_STORE_TRANSACTION_START:
      if (h.tx_id != 0) return invalid;
      return store_.transaction_start(who);
    case TG_STORE_TRANSACTION_END:
      if (payload != std::string("T", 2) && payload != std::string("F", 2)) return invalid;
      return store_.transaction_end(who, h.tx_id, payload[0] == 'T');
    default: return {TG_STORE_ERR_ENOSYS, {}};
  }
}

void StoreRing::reply_locked(uint32_t type, uint32_t req_id, uint32_t tx_id, const std::string& payload) {
  tg_store_msg m{type, req_id, tx_id, static_cast<uint32_t>(payload.size())};
  const char* hdr = reinterpret_cast<const char*>(&m);
  out_.insert(out_.end(), hdr, hdr + sizeof m);
  out_.insert(out_.end(), payload.begin(), payload.end());
  out_sizes_.push_back(sizeof m + payload.size());
}

void StoreRing::send_locked(bool* moved) {
  uint32_t cons = load(page_.rsp_cons);
  uint32_t used = rsp_prod_ - cons;
  if (used > TG_STORE_RING_SIZE) return;  // a broken index: the guest gets nothing more
  size_t n = std::min<size_t>(TG_STORE_RING_SIZE - used, out_.size());
  if (n == 0) return;
  for (size_t i = 0; i < n; ++i) {
    std::atomic_ref<char>(page_.rsp[TG_STORE_RING_IDX(rsp_prod_ + i)]).store(out_[i], std::memory_order_relaxed);
  }
  out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
  rsp_prod_ += static_cast<uint32_t>(n);
  store_index(page_.rsp_prod, rsp_prod_);
  for (size_t left = n; left > 0 && !out_sizes_.empty();) {
    size_t take = std::min(left, out_sizes_.front());
    out_sizes_.front() -= take;
    left -= take;
    if (out_sizes_.front() == 0) out_sizes_.pop_front();
  }
  *moved = true;
}

}  // namespace tortuga
