#include "migration/migration_receiver.h"

#include <sys/socket.h>
#include <sys/time.h>

#include "image/domain_image.h"
#include "migration/switch_over.h"

namespace tortuga {
namespace {

// The source sends "go" right after "ready" arrives.
constexpr int kGoTimeoutMs = 30000;
constexpr int kReplyTimeoutMs = 5000;

}  // namespace

MigrationReceiver::MigrationReceiver(int fd) : fd_(fd) {
  timeval tv{kIdleTimeoutS, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

std::unique_ptr<Domain> MigrationReceiver::receive(Console& console, const RestoreOptions& options) {
  ImageSource source(fd_);
  return std::make_unique<Domain>(source, console, options);
}

void MigrationReceiver::ready_and_await_go() {
  send_switch_over(fd_, migration::SwitchOver::READY, kReplyTimeoutMs);
  await_switch_over(fd_, migration::SwitchOver::GO, kGoTimeoutMs);
}

bool MigrationReceiver::running(std::string& error) noexcept {
  try {
    send_switch_over(fd_, migration::SwitchOver::RUNNING, kReplyTimeoutMs);
    return true;
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

void MigrationReceiver::refuse(const std::string& why) noexcept {
  try {
    send_switch_over(fd_, migration::SwitchOver::REFUSED, 1000, why);
  } catch (const std::exception&) {
  }
}

}  // namespace tortuga
