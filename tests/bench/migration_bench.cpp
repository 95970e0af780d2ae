#include "migration_bench.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <chrono>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "domain/domain.h"
#include "migration/migration_receiver.h"
#include "migration/migration_sender.h"
#include "unique_fd.h"

namespace tortuga::bench {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Guest output, appended by the VMM's threads and read by the bench.
class Capture {
 public:
  Console console() {
    return Console(
        [this](std::span<const uint8_t> b) {
          std::lock_guard lock(mutex_);
          text_.append(b.begin(), b.end());
        },
        -1);
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    return text_;
  }

 private:
  mutable std::mutex mutex_;
  std::string text_;
};

struct Count {
  uint64_t n = 0, t = 0;
};

std::vector<Count> counts(const std::string& console) {
  std::vector<Count> out;
  static const std::regex line(R"(count (\d+) t=(\d+))");
  for (auto it = std::sregex_iterator(console.begin(), console.end(), line); it != std::sregex_iterator(); ++it) {
    out.push_back({std::stoull((*it)[1]), std::stoull((*it)[2])});
  }
  return out;
}

bool wait_counts(const Capture& c, size_t n, std::chrono::seconds limit) {
  auto deadline = Clock::now() + limit;
  while (counts(c.text()).size() < n) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A connected pair over 127.0.0.1 (what two hosts' daemons would hand
// their VMMs), with Nagle off as for any request-reply protocol.
std::pair<UniqueFd, UniqueFd> loopback_tcp() {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener.get(), 1) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("loopback listener");
  }
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("connect");
  UniqueFd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  int one = 1;
  ::setsockopt(client.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(server.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return {std::move(client), std::move(server)};
}

struct MigrationRow {
  uint64_t memory_mib = 0;
  std::string workload;
  MigrationStatus status;
  uint64_t guest_gap_ms = 0;  // system time between the last count at the source and the first at the destination
};

MigrationRow migrate_once(const std::string& guest, uint64_t memory_mib, const std::string& workload,
                          const std::string& extra) {
  Capture source_out, dest_out;
  Console source_console = source_out.console(), dest_console = dest_out.console();
  DomainConfig config;
  config.name = "migrating";
  config.kernel = guest;
  config.memory_mib = memory_mib;
  config.cmdline = "counter=1 " + extra;
  Domain source(config, source_console);
  std::thread source_runner([&] { source.run(); });
  // Guard: whatever happens, no domain thread outlives its domain.
  struct Stop {
    Domain& d;
    std::thread& t;
    ~Stop() {
      d.destroy("bench over");
      t.join();
    }
  } stop_source{source, source_runner};
  if (!wait_counts(source_out, 10, 30s))
    throw std::runtime_error("the source guest does not count: " + source_out.text());

  auto [out, in] = loopback_tcp();
  std::unique_ptr<Domain> dest;
  std::string dest_error;
  std::thread dest_runner([&, fd = in.get()] {
    try {
      MigrationReceiver receiver(fd);
      dest = receiver.receive(dest_console, RestoreOptions{.name = "migrated", .taps = {}});
      receiver.ready_and_await_go();
      dest->run([&] {
        std::string e;
        receiver.running(e);
      });
    } catch (const std::exception& e) {
      dest_error = e.what();
    }
  });
  MigrationStatus status;
  {
    MigrationSender sender(source, std::move(out), MigrationRequest{});
    status = sender.wait();
  }
  if (status.phase != MigrationPhase::kDone) {
    in.reset();
    dest_runner.join();
    throw std::runtime_error(fmt::format("migration failed: {} (destination: {})", status.error, dest_error));
  }
  size_t before = counts(source_out.text()).size();
  bool counted = wait_counts(dest_out, 3, 30s);
  if (dest) dest->destroy("bench over");
  dest_runner.join();
  dest.reset();
  if (!counted) throw std::runtime_error("the migrated guest does not count: " + dest_out.text() + dest_error);
  auto a = counts(source_out.text()), b = counts(dest_out.text());
  MigrationRow row{memory_mib, workload, status, 0};
  if (before > 0 && !b.empty() && b.front().t > a.back().t) row.guest_gap_ms = (b.front().t - a.back().t) / 1'000'000;
  return row;
}

std::string rounds_text(const std::vector<uint64_t>& pages) {
  std::string s;
  for (size_t i = 0; i < pages.size(); ++i) s += fmt::format("{}{}", i ? " " : "", pages[i]);
  return s;
}

}  // namespace

void print_migration_table(const std::string& guest) {
  // 2000 pages per tick at 10 Hz: about 78 MiB/s of guest writes, over a
  // window of at most 128 MiB above the boot mapping (tests/guest/counter.c).
  constexpr uint64_t kDirtyPerTick = 2000;
  std::vector<MigrationRow> rows;
  for (uint64_t mib : {128, 1024}) {
    rows.push_back(migrate_once(guest, mib, "idle", ""));
    rows.push_back(migrate_once(guest, mib, fmt::format("dirty {} MiB/s", kDirtyPerTick * 10 * 4096 >> 20),
                                fmt::format("dirty={}", kDirtyPerTick)));
  }
  fmt::print(
      "\nLive migration: the counter guest between two domains of this process over loopback TCP\n"
      "(defaults: at most 30 rounds, 300 ms of estimated downtime, no bandwidth cap)\n\n");
  fmt::print("{:>8} {:<18}{:>10}{:>11}{:>11}{:>8}{:>10}  {}\n", "memory", "workload", "total ms", "downtime",
             "guest gap", "rounds", "MB wire", "pages per round");
  for (const MigrationRow& r : rows) {
    fmt::print("{:>4} MiB {:<18}{:>10}{:>8} ms{:>8} ms{:>8}{:>10.1f}  {}\n", r.memory_mib, r.workload,
               r.status.total_ms, r.status.downtime_ms, r.guest_gap_ms, r.status.pages_per_round.size(),
               r.status.bytes_sent / 1e6, rounds_text(r.status.pages_per_round));
  }
  fmt::print(
      "(downtime: paused at the source until the destination said it runs; guest gap: system\n"
      "time between the last count at the source and the first at the destination, the tick\n"
      "period of 100 ms included; zero pages are not sent in the first round)\n");
}

}  // namespace tortuga::bench
