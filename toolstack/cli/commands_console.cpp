// console: the guest's output on stdout, the terminal's keys to the guest
// (raw mode when stdin is a terminal), Ctrl-] to detach as with xl and virsh.
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <optional>

#include <fmt/format.h>

#include "commands.h"

namespace tortuga::cli {
namespace {

constexpr char kDetachKey = 0x1d;  // Ctrl-]

// Raw mode for as long as it lives; the terminal is restored however we leave.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    raw.c_oflag |= OPOST;  // keep "\n" → "\r\n" on output
    if (::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) active_ = true;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Keys to the guest; false when the user detached. stdin at end of file
// stops forwarding but not the output.
bool forward_keys(ApiClient& client, bool raw, bool& stdin_open) {
  char buf[1024];
  ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
  if (n <= 0) {
    stdin_open = false;
    return true;
  }
  std::string data(buf, static_cast<size_t>(n));
  size_t escape = raw ? data.find(kDetachKey) : std::string::npos;
  if (escape != std::string::npos) data.resize(escape);
  if (!data.empty()) {
    api::Request input;
    input.mutable_console_input()->set_data(data);
    client.send(input);
  }
  return escape == std::string::npos;
}

}  // namespace

std::string attach_console(const Context& context, const std::string& domain) {
  ApiClient client(context);
  api::Request request;
  request.mutable_console()->set_domain(domain);
  client.send(request);
  RawTerminal terminal;
  if (terminal.active()) fmt::print(stderr, "Connected to domain '{}' (escape character is ^])\r\n", domain);
  bool stdin_open = true;
  for (;;) {
    pollfd fds[2] = {{client.fd(), POLLIN, 0}, {stdin_open ? STDIN_FILENO : -1, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      throw CliError("poll on the console");
    }
    if (fds[1].revents & (POLLIN | POLLHUP)) {
      if (!forward_keys(client, terminal.active(), stdin_open)) return "detached";
    }
    if (!(fds[0].revents & (POLLIN | POLLHUP))) continue;
    api::Response response;
    if (!client.receive(response, 10'000)) throw CliError("tortugad closed the console connection");
    if (!response.error().empty()) throw CliError(response.error());
    if (response.has_console_output()) write_all(STDOUT_FILENO, response.console_output().data());
    if (response.has_console_end()) return response.console_end().reason();
  }
}

void console_until_end(const Context& context, const std::string& domain) {
  std::string reason = attach_console(context, domain);
  if (reason != "detached") fmt::print(stderr, "tortuga: console: domain '{}' ended: {}\n", domain, reason);
}

void add_console_command(CLI::App& app, Context& context) {
  auto domain = std::make_shared<std::string>();
  auto* console = app.add_subcommand("console", "attach to a domain's console (Ctrl-] detaches)");
  console->add_option("domain", *domain, "name or id")->required();
  console->callback([&context, domain] { console_until_end(context, *domain); });
}

}  // namespace tortuga::cli
