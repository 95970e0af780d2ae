#include "migration/switch_over.h"

#include <fmt/format.h>

#include "framing.h"

namespace tortuga {

std::string switch_over_name(SwitchOverKind kind) {
  switch (kind) {
    case migration::SwitchOver::READY: return "ready";
    case migration::SwitchOver::GO: return "go";
    case migration::SwitchOver::RUNNING: return "running";
    case migration::SwitchOver::REFUSED: return "refused";
    default: return fmt::format("message kind {}", static_cast<int>(kind));
  }
}

migration::SwitchOver parse_switch_over(const std::string& body) {
  migration::SwitchOver m;
  if (!m.ParseFromString(body))
    throw SwitchOverError(fmt::format("{} bytes that are not a switch-over message", body.size()));
  return m;
}

void check_switch_over(const migration::SwitchOver& m, SwitchOverKind awaited) {
  if (m.kind() == awaited) return;
  if (m.kind() == migration::SwitchOver::REFUSED) {
    // The peer's words, cut to one short line: they are only reported.
    std::string why = m.error().substr(0, 200);
    for (char& c : why) {
      if (c < ' ' || c > '~') c = '?';
    }
    throw SwitchOverError(fmt::format("the destination refused: {}", why.empty() ? "no reason given" : why));
  }
  throw SwitchOverError(fmt::format("expected '{}', got '{}'", switch_over_name(awaited), switch_over_name(m.kind())));
}

void send_switch_over(int fd, SwitchOverKind kind, int timeout_ms, const std::string& error) {
  migration::SwitchOver m;
  m.set_kind(kind);
  m.set_error(error.substr(0, 200));
  try {
    send_message(fd, m, timeout_ms);
  } catch (const FramingError& e) {
    throw SwitchOverError(fmt::format("sending '{}': {}", switch_over_name(kind), e.what()));
  }
}

void await_switch_over(int fd, SwitchOverKind awaited, int timeout_ms) {
  migration::SwitchOver m;
  try {
    if (!receive_message(fd, m, timeout_ms)) {
      throw SwitchOverError(fmt::format("the peer closed the connection before '{}'", switch_over_name(awaited)));
    }
  } catch (const FramingError& e) {
    throw SwitchOverError(fmt::format("waiting for '{}': {}", switch_over_name(awaited), e.what()));
  }
  check_switch_over(m, awaited);
}

}  // namespace tortuga
