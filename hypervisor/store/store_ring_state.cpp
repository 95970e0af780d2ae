// StoreRing::save() and restore(): the ring's VMM side across a save.
// The page's own indices travel with memory; these are the VMM's copies,
// which it trusts over the page's (the guest may rewrite the page).
#include <stdexcept>

#include "store/store_ring.h"

namespace tortuga {
namespace {

// Sanity caps, far above what the ring lets build up (64 KiB of replies
// plus the watch events of the last request), far below a memory hazard.
constexpr size_t kMaxOutput = 4 << 20;
constexpr size_t kMaxOutputMessages = 65536;

}  // namespace

StoreRingState StoreRing::save() const {
  std::lock_guard lock(mutex_);
  StoreRingState s{store_.save(), req_cons_, rsp_prod_, in_, discarding_, std::string(out_.begin(), out_.end()), {}};
  s.output_sizes.assign(out_sizes_.begin(), out_sizes_.end());
  return s;
}

void StoreRing::restore(const StoreRingState& s) {
  // in_ never holds a whole message: it is parsed as soon as one is there.
  if (s.partial_request.size() >= sizeof(tg_store_msg) + TG_STORE_PAYLOAD_MAX) {
    throw std::invalid_argument("store ring: partial request over the message limit");
  }
  if (s.discarding > UINT32_MAX) throw std::invalid_argument("store ring: discard count over any message length");
  if (s.output.size() > kMaxOutput || s.output_sizes.size() > kMaxOutputMessages) {
    throw std::invalid_argument("store ring: waiting output over its limit");
  }
  uint64_t total = 0;
  for (uint64_t n : s.output_sizes) {
    if (n == 0 || n > s.output.size()) throw std::invalid_argument("store ring: bad output message size");
    total += n;
  }
  if (total != s.output.size()) throw std::invalid_argument("store ring: output sizes do not add up");
  std::lock_guard lock(mutex_);
  store_.restore(s.store);  // checks first, changes nothing on a refusal
  req_cons_ = s.req_cons;
  rsp_prod_ = s.rsp_prod;
  in_ = s.partial_request;
  discarding_ = s.discarding;
  out_.assign(s.output.begin(), s.output.end());
  out_sizes_.assign(s.output_sizes.begin(), s.output_sizes.end());
}

}  // namespace tortuga
