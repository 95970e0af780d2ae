// One connection of a split device's backend (ABI.md 17): made when the
// frontend reaches Initialised, notified through the frontend's port,
// destroyed when the device closes (which ends every grant it holds).
//
// Save and restore (ABI.md 21): quiesce() stops taking requests and waits
// until every request taken is answered and its response published, so
// the ring in guest memory is consistent and no grant is held; position()
// then says where the backend stands on each ring (its private indices,
// which it trusts over the page's). A backend made for a restored domain
// is given that position before its first notification.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace tortuga {

// The backend's private indices of one ring (ABI.md 15.2). `attached`:
// the backend has looked at the ring at all (it attaches lazily, at the
// page's own indices). After quiesce() every request consumed is
// answered: req_cons == rsp_prod_pvt.
struct RingPosition {
  bool attached = false;
  uint32_t req_cons = 0;
  uint32_t rsp_prod_pvt = 0;
  bool operator==(const RingPosition&) const = default;
};
// One per ring, in the backend's own order (block: the ring; net: tx, rx).
using BackendPosition = std::vector<RingPosition>;

// A position a backend can have been saved at: one per ring, nothing
// outstanding. Throws std::invalid_argument naming what is wrong.
inline void check_saved_position(const BackendPosition& at, size_t rings) {
  if (at.size() != rings) {
    throw std::invalid_argument("saved backend position for " + std::to_string(at.size()) + " rings, not " +
                                std::to_string(rings));
  }
  for (const RingPosition& r : at) {
    if (!r.attached && (r.req_cons != 0 || r.rsp_prod_pvt != 0)) {
      throw std::invalid_argument("saved ring position with indices but never attached");
    }
    if (r.req_cons != r.rsp_prod_pvt) throw std::invalid_argument("saved ring position with requests outstanding");
  }
}

class SplitBackend {
 public:
  virtual ~SplitBackend() = default;
  // The frontend rang the port's doorbell or sent on it.
  virtual void notified() = 0;
  // Stops taking requests and returns once every request taken was
  // answered through the ring. Notifications meanwhile are left for resume().
  virtual void quiesce() = 0;
  // Takes requests again, and looks at the rings at once.
  virtual void resume() = 0;
  // Where the backend stands, while quiesced.
  virtual BackendPosition position() const = 0;
  // Before the first notification of a backend made for a restored domain.
  // Throws std::invalid_argument for a position it cannot have been at.
  virtual void restore_position(const BackendPosition& at) = 0;
};

}  // namespace tortuga
