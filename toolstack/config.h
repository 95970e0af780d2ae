// Domain configs: JSON text mapped straight onto api::DomainConfig by
// protobuf's JSON parser (no parser of our own), then checked for meaning.
// The same checks guard the daemon's API, whose requests carry the same
// message whether it came from a file or from `tortuga create` flags.
#pragma once

#include <stdexcept>
#include <string>

#include "domain.pb.h"

namespace tortuga::toolstack {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Limits a config must respect (the VMM's own; see hypervisor/domain/domain.cpp).
constexpr uint32_t kMaxMemoryMib = 256 * 1024;  // RAM ends below the VMM's area at 256 GiB
constexpr uint32_t kMaxNameLength = 64;

// Unknown keys and values of the wrong type are errors that name the key.
api::DomainConfig parse_config_json(const std::string& json);

// The defaults of every field left out: 32 MiB, 1 vCPU, console log,
// on_crash preserve.
void apply_defaults(api::DomainConfig& config);

// Meaning: name charset, memory and vCPU ranges, weight and cap, the
// kernel and initramfs exist (when check_files), disks and NICs
// (devices.h). Throws ConfigError naming the key.
void validate_config(const api::DomainConfig& config, bool check_files);

// Letters, digits, '_', '-', '.'; not starting with '-' or '.'; not all
// digits (a number names a domain id on the command line).
bool valid_domain_name(const std::string& name);

std::string config_to_json(const api::DomainConfig& config);

}  // namespace tortuga::toolstack
