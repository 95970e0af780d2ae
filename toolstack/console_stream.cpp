#include "console_stream.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "framing.h"
#include "unique_fd.h"
#include "vmm_client.h"

namespace tortuga::toolstack {
namespace {

using namespace std::chrono_literals;
constexpr size_t kChunk = 64 * 1024;
constexpr auto kPollInterval = 50ms;

struct Attachment {
  bool detached = false;   // the client hung up or broke the protocol
  bool input_done = true;  // forward_input has returned (it uses the socket)
};

// Client → FIFO, until the client goes.
awaitable<void> forward_input(UnixSocket& socket, std::string fifo, std::shared_ptr<Attachment> state) {
  UniqueFd fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
  try {
    for (;;) {
      api::Request request;
      if (!co_await async_receive(socket, request)) break;
      if (request.op_case() != api::Request::kConsoleInput) continue;  // nothing else is meaningful here
      const std::string& data = request.console_input().data();
      // A full FIFO means the guest is not reading: input is dropped, not queued without bound.
      if (fd.valid() && !data.empty()) (void)!::write(fd.get(), data.data(), data.size());
    }
  } catch (const std::exception& e) {
    spdlog::debug("console client: {}", e.what());
  }
  state->detached = true;
  state->input_done = true;
}

// Log → client, until the VMM is gone and the log drained, or the client goes.
awaitable<void> send_output(Daemon& daemon, UnixSocket& socket, const std::string& name, uint32_t domid, int log,
                            off_t offset, Attachment& state, asio::steady_timer& timer) {
  std::string chunk(kChunk, '\0');
  while (!state.detached) {
    // Whether the VMM is gone is read before draining, so its last words are sent.
    api::DomainRecord* r = daemon.find(name);
    bool ended = r == nullptr || r->info().domid() != domid || r->info().pid() == 0;
    ssize_t n = log >= 0 ? ::pread(log, chunk.data(), chunk.size(), offset) : 0;
    if (n > 0) {
      offset += n;
      api::Response out;
      out.mutable_console_output()->set_data(chunk.data(), static_cast<size_t>(n));
      co_await async_send(socket, out);
      continue;
    }
    if (ended) {
      api::Response end;
      end.mutable_console_end()->set_reason(r == nullptr || r->info().domid() != domid ? std::string("destroyed")
                                                                                       : r->info().end_reason());
      co_await async_send(socket, end);
      co_return;
    }
    timer.expires_after(kPollInterval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

}  // namespace

awaitable<void> stream_console(Daemon& daemon, UnixSocket& socket, const std::string& ref) {
  api::DomainRecord* r = daemon.find(ref);
  api::Response first;
  if (r == nullptr) {
    first.set_error(fmt::format("no domain '{}'", ref));
  } else if (r->info().console_log().empty()) {
    first.set_error(
        fmt::format("{}: its console is not captured (console: none)", domain_label(r->info().config().name())));
  }
  if (!first.error().empty()) {
    co_await async_send(socket, first);
    co_return;
  }
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  UniqueFd log(::open(r->info().console_log().c_str(), O_RDONLY | O_CLOEXEC));
  off_t offset = static_cast<off_t>(r->console_offset());
  auto state = std::make_shared<Attachment>();
  if (r->info().pid() > 0) {
    state->input_done = false;
    asio::co_spawn(co_await asio::this_coro::executor, forward_input(socket, r->console_fifo(), state), asio::detached);
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  try {
    co_await send_output(daemon, socket, name, domid, log.get(), offset, *state, timer);
  } catch (const std::exception& e) {
    spdlog::info("console client of {}: {}", domain_label(name), e.what());
  }
  // The input coroutine reads this socket: it must be done before the
  // socket goes away with our caller.
  boost::system::error_code ignored;
  socket.cancel(ignored);
  while (!state->input_done) {
    timer.expires_after(1ms);
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ignored));
  }
}

}  // namespace tortuga::toolstack
