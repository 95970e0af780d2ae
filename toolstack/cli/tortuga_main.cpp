// tortuga: the command line for tortugad. Exit status 0 on success, 1 with
// one line on stderr naming the command, the domain and the cause.
#include <signal.h>

#include <cstdlib>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "commands.h"

int main(int argc, char** argv) {
  using namespace tortuga::cli;
  CLI::App app{"tortuga: manage Tortuga domains through tortugad"};
  app.require_subcommand(1);
  Context context;
  if (const char* env = std::getenv("TORTUGA_SOCKET"); env != nullptr && *env != '\0') context.socket = env;
  app.add_option("-s,--socket", context.socket, "tortugad's control socket (env TORTUGA_SOCKET)")
      ->capture_default_str();
  app.add_flag("--json", context.json, "machine-readable output (protobuf's JSON mapping)");
  add_lifecycle_commands(app, context);
  add_query_commands(app, context);
  add_console_command(app, context);
  add_device_commands(app, context);
  add_image_commands(app, context);
  add_migrate_commands(app, context);
  // --json also works after the command: `tortuga list --json`.
  for (auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    sub->add_flag("--json", context.json, "machine-readable output");
  }
  ::signal(SIGPIPE, SIG_IGN);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (or the help); a usage error is exit status 1 like any other.
    return app.exit(e) == 0 ? 0 : 1;
  } catch (const CliError& e) {
    std::string command = app.get_subcommands().empty() ? "" : app.get_subcommands().front()->get_name();
    fmt::print(stderr, "tortuga: {}: {}\n", command, e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tortuga: {}\n", e.what());
    return 1;
  }
  return 0;
}
