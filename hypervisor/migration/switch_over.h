// The switch-over messages of a live migration (migration.proto,
// MIGRATION.md): sent and awaited on the stream socket after the image's
// end record. The peer is hostile: a message that does not parse, is over
// the frame limit, comes out of turn or never comes is a SwitchOverError
// with one line naming what was awaited.
#pragma once

#include <stdexcept>
#include <string>

#include "migration.pb.h"

namespace tortuga {

class SwitchOverError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using SwitchOverKind = migration::SwitchOver::Kind;

// What `message` (a received frame's body) says, checked against the kind
// awaited: REFUSED is the peer's refusal ("the destination refused: WHY"),
// any other kind is out of turn. Pure, for tests.
void check_switch_over(const migration::SwitchOver& message, SwitchOverKind awaited);
migration::SwitchOver parse_switch_over(const std::string& body);

void send_switch_over(int fd, SwitchOverKind kind, int timeout_ms, const std::string& error = "");
// Waits for `awaited`; throws SwitchOverError on anything else, a closed
// stream or the timeout.
void await_switch_over(int fd, SwitchOverKind awaited, int timeout_ms);

std::string switch_over_name(SwitchOverKind kind);

}  // namespace tortuga
