// Where a restored domain comes from: an image file today, a migration
// stream next. The domain asks in stream order: the config (to size the
// machine), then memory straight into guest RAM, then the rest of its
// state. A source checks the format (ImageError); the domain checks the
// state against itself (RestoreError). Neither may crash on any input.
#pragma once

#include <stdexcept>

#include "domain/domain_state.h"
#include "memory/guest_memory.h"

namespace tortuga {

struct DomainConfig;

// The state an image carries is not one this VMM can run: one line, for
// the user.
class RestoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class RestoreSource {
 public:
  virtual ~RestoreSource() = default;
  // What the domain was started with; memory and vCPUs already checked
  // against the image's header.
  virtual DomainConfig config() = 0;
  // Copies every page batch into RAM (a gfn outside it is an error) up to
  // the first record that is not memory.
  virtual void read_memory(const GuestMemory& memory) = 0;
  // Everything else, up to and including the end record.
  virtual DomainState read_state() = 0;
};

}  // namespace tortuga
