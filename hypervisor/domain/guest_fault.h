// The one way a guest dies: the VMM finds it broken or hostile, says what
// and where in a single line, and destroys the domain. Thrown from any
// handler on the vCPU thread and caught by the vCPU loop.
#pragma once

#include <stdexcept>
#include <string>

namespace tortuga {

class GuestFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A guest virtual address that does not translate to guest RAM with the
// access asked for. Hypercall code turns it into a GuestFault that names
// the hypercall.
class BadGuestAddress : public std::runtime_error {
 public:
  BadGuestAddress(uint64_t va, const std::string& why) : std::runtime_error(why), va_(va) {}
  uint64_t va() const { return va_; }

 private:
  uint64_t va_;
};

}  // namespace tortuga
