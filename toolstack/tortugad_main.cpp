// tortugad: the per-host toolstack daemon. Serves the control API on a Unix
// socket, keeps the domain table and its records under a state directory,
// and supervises one tortuga-vmm per domain. Stopping the daemon leaves the
// domains running; the next tortugad re-adopts them.
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <google/protobuf/stubs/logging.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "asio.h"
#include "control_server.h"
#include "daemon.h"
#include "migration_listener.h"
#include "unique_fd.h"

namespace {

using namespace tortuga;
using namespace tortuga::toolstack;
namespace fs = std::filesystem;

constexpr const char* kDefaultStateDir = "/var/lib/tortuga";
constexpr const char* kDefaultSocket = "/run/tortuga/tortugad.sock";

// tortuga-vmm beside this program (an install), or in the build tree.
std::string find_vmm() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec).parent_path();
  for (fs::path candidate : {self / "tortuga-vmm", self / ".." / "hypervisor" / "tortuga-vmm"}) {
    if (fs::exists(candidate, ec)) return fs::weakly_canonical(candidate, ec).string();
  }
  return TORTUGA_DEFAULT_VMM_PATH;
}

// One daemon per state directory: a second would fight over the records.
UniqueFd lock_state_dir(const std::string& dir) {
  std::string path = dir + "/tortugad.lock";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) throw std::runtime_error(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    throw std::runtime_error(fmt::format("another tortugad is using {}", dir));
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tortugad: the Tortuga toolstack daemon (one per host)"};
  std::string state_dir = kDefaultStateDir, socket_path = kDefaultSocket, vmm_path;
  app.add_option("--state-dir", state_dir, "domain records, logs and runtime files")->capture_default_str();
  app.add_option("--socket", socket_path, "the control API's Unix socket")->capture_default_str();
  app.add_option("--vmm", vmm_path, "tortuga-vmm to run (default: beside tortugad, or in the build tree)");
  std::string migrate_listen = fmt::format("0.0.0.0:{}", kDefaultMigrationPort);
  app.add_option("--migrate-listen", migrate_listen,
                 "where to accept live migrations from other tortugads: [ADDRESS:]PORT, or off")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Unprivileged daemons (tests) are fine in their own directories; the
  // host-wide defaults belong to root.
  bool defaults = state_dir == kDefaultStateDir || socket_path == kDefaultSocket;
  if (defaults && ::geteuid() != 0) {
    fmt::print(stderr, "tortugad: {} and {} need root; use --state-dir and --socket to run unprivileged\n",
               kDefaultStateDir, kDefaultSocket);
    return 1;
  }
  if (vmm_path.empty()) vmm_path = find_vmm();
  vmm_path = fs::absolute(vmm_path).string();  // VMMs outlive our working directory's meaning
  ::signal(SIGPIPE, SIG_IGN);
  // stdout is for nobody: the daemon's log lines go to stderr.
  spdlog::set_default_logger(spdlog::stderr_logger_mt("tortugad"));
  // protobuf's own complaints about a hostile message (invalid UTF-8, ...)
  // repeat what our one line per refused message says.
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string& message) {
    spdlog::debug("protobuf: {}", message);
  });
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e tortugad %l: %v");

  try {
    std::error_code ec;
    fs::create_directories(fs::path(socket_path).parent_path(), ec);
    asio::io_context io;
    DaemonOptions options;
    options.state_dir = state_dir;
    options.vmm_path = vmm_path;
    Daemon daemon(io, options);
    UniqueFd lock = lock_state_dir(state_dir);
    ControlServer server(io, daemon, socket_path);
    std::optional<MigrationListener> migrations;
    if (migrate_listen != "off") migrations.emplace(io, daemon, migrate_listen);

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: stopping (domains keep running)", sig);
      server.stop();
      io.stop();
    });
    // Re-adopt first, then serve: no request sees a half-recovered table.
    asio::co_spawn(
        io,
        [&]() -> awaitable<void> {
          co_await daemon.recover();
          server.start();
          if (migrations) migrations->start();
          spdlog::info("serving {} (state in {}, VMM {}); migrations: {}", socket_path, state_dir, vmm_path,
                       migrations ? migrations->where() : std::string("not accepted"));
        },
        asio::detached);
    io.run();
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortugad: {}\n", e.what());
    return 1;
  }
  return 0;
}
