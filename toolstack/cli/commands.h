// The CLI's command groups; each adds its subcommands to the app. A command
// that fails throws CliError with one line naming the domain and the cause.
#pragma once

#include <CLI/CLI.hpp>

#include "api_client.h"

namespace tortuga::cli {

void add_lifecycle_commands(CLI::App& app, Context& context);  // create, pause, unpause, shutdown, destroy
void add_query_commands(CLI::App& app, Context& context);      // list, info, stats, top
void add_console_command(CLI::App& app, Context& context);     // console
void add_device_commands(CLI::App& app, Context& context);     // block-*, network-*, mem-set
void add_image_commands(CLI::App& app, Context& context);      // save, restore
void add_migrate_commands(CLI::App& app, Context& context);    // migrate, migrate-cancel

// Streams a domain's console to stdout (and the terminal to the guest)
// until it ends or the user types Ctrl-]. Returns the reason it ended.
std::string attach_console(const Context& context, const std::string& domain);
// attach_console, then one line on stderr when the domain ended (not on detach).
void console_until_end(const Context& context, const std::string& domain);

}  // namespace tortuga::cli
