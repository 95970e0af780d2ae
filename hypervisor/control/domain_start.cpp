#include "control/domain_start.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "image/domain_image.h"
#include "unique_fd.h"

namespace tortuga {
namespace {

// A restored or received domain brings its devices with it.
void refuse_devices_with(const VmmOptions& o, const char* option, const char* source) {
  if (o.config.disks.empty() && o.config.nics.empty()) return;
  throw RestoreError(
      fmt::format("--disk and --nic cannot be given with {} (the {} holds the domain's devices)", option, source));
}

// A domain from a saved image. --memory and --vcpus, when given, must be
// the image's.
std::unique_ptr<Domain> restore_domain(const VmmOptions& o, Console& console) {
  refuse_devices_with(o, "--restore", "image");
  UniqueFd fd(::open(o.restore_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw ImageError(fmt::format("cannot open it: {}", std::strerror(errno)));
  ImageSource source(fd.get());
  DomainConfig saved = source.config();
  uint64_t memory_mib = o.memory_given ? o.config.memory_mib : 0;
  uint32_t vcpus = o.vcpus_given ? o.config.vcpus : 0;
  if ((memory_mib != 0 && memory_mib != saved.memory_mib) || (vcpus != 0 && vcpus != saved.vcpus)) {
    throw ImageError(
        fmt::format("it holds {} MiB and {} vCPUs, not what the command line asks for", saved.memory_mib, saved.vcpus));
  }
  return std::make_unique<Domain>(source, console, o.restore);
}

// The inherited descriptor of --incoming-fd: open, a stream socket, and
// not passed on to anything we might start.
int incoming_socket(int fd) {
  int type = 0;
  socklen_t len = sizeof type;
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) throw ImageError(fmt::format("descriptor {} is not open", fd));
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
    throw ImageError(fmt::format("descriptor {} is not a stream socket", fd));
  }
  // Reads wait (with the receiver's timeouts), whatever mode the daemon's
  // event loop left on the connection.
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    throw ImageError(fmt::format("descriptor {}: cannot make it blocking", fd));
  }
  return fd;
}

// The destination of a live migration: the domain built from the stream.
// The source is told why a failure happened while it still listens.
std::unique_ptr<Domain> receive_domain(MigrationReceiver& receiver, Console& console, const RestoreOptions& options) {
  try {
    return receiver.receive(console, options);
  } catch (const std::exception& e) {
    receiver.refuse(e.what());
    throw;
  }
}

StartedDomain receive(VmmOptions& o, Console& console) {
  refuse_devices_with(o, "--incoming-fd", "stream");
  StartedDomain started;
  started.receiver.emplace(incoming_socket(o.incoming_fd));
  started.domain = receive_domain(*started.receiver, console, o.restore);
  return started;
}

}  // namespace

StartedDomain start_domain(VmmOptions& o, Console& console) {
  if (o.incoming()) {
    StartedDomain started = receive(o, console);
    o.config.name = started.domain->config().name;
    return started;
  }
  if (!o.restoring()) return {std::make_unique<Domain>(o.config, console), std::nullopt};
  StartedDomain started{restore_domain(o, console), std::nullopt};
  o.config.name = started.domain->config().name;
  return started;
}

}  // namespace tortuga
