// What the daemon takes from a VMM's reply. A VMM runs next to its guest,
// which may own it: its words are hostile like any other input, so every
// string is cut to one printable line and every list is bounded before it
// reaches the domain table, the state files or a client.
#pragma once

#include <string>

#include "domain.pb.h"
#include "vmm_control.pb.h"

namespace tortuga::toolstack {

// One printable line of at most 512 bytes.
std::string clean_line(const std::string& text);

// Counters with operation names that are short identifiers only, bounded.
api::DomainStats sanitized(api::DomainStats stats);

// Copies the reply's counters, devices and memory figures into the
// domain's info; a running or paused domain takes the reply's paused state.
// True when the state changed (worth saving).
bool apply_vmm_reply(const api::VmmReply& reply, api::DomainInfo& info);

}  // namespace tortuga::toolstack
