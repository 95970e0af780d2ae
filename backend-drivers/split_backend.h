// One connection of a split device's backend (ABI.md 17): made when the
// frontend reaches Initialised, notified through the frontend's port,
// destroyed when the device closes (which ends every grant it holds).
#pragma once

namespace tortuga {

class SplitBackend {
 public:
  virtual ~SplitBackend() = default;
  // The frontend rang the port's doorbell or sent on it.
  virtual void notified() = 0;
};

}  // namespace tortuga
