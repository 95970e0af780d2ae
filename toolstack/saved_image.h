// What tortugad reads of a saved domain image before it restores one: the
// toolstack's config stored in the image's config record (IMAGE.md), or,
// for an image saved without a toolstack, one made from the VMM's own
// record. Only the first two records are read; the VMM checks the rest.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "domain.pb.h"

namespace tortuga::toolstack {

class SavedImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SavedDomain {
  api::DomainConfig config;
  uint32_t domid = 0;  // its id on the daemon that saved it (0: unknown)
};

// Throws SavedImageError: no such file, not an image, corrupt records.
SavedDomain read_saved_domain(const std::string& path);

}  // namespace tortuga::toolstack
