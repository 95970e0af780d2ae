// save and restore: a domain's whole state to an image file and back
// (ABI.md 21), like `xl save` / `xl restore` and `virsh save` / `restore`.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "commands.h"
#include "output.h"

namespace tortuga::cli {
namespace {

namespace fs = std::filesystem;

// Writing a large domain takes as long as the disk needs.
constexpr int kSaveCallTimeoutMs = 11 * 60 * 1000;

std::string absolute(const std::string& path) { return fs::absolute(path).lexically_normal().string(); }

std::string mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20)); }

}  // namespace

void add_image_commands(CLI::App& app, Context& context) {
  struct Args {
    std::string domain, path, name;
    bool keep = false, console = false;
  };
  auto a = std::make_shared<Args>();

  auto* save = app.add_subcommand("save", "write a domain's whole state to a file; it ends unless --keep");
  save->add_option("domain", a->domain, "name or id")->required();
  save->add_option("file", a->path, "the image to write (replaced atomically)")->required();
  save->add_flag("-c,--keep", a->keep, "leave the domain running (a checkpoint)");
  save->callback([&context, a] {
    api::Request r;
    r.mutable_save()->set_domain(a->domain);
    r.mutable_save()->set_path(absolute(a->path));
    r.mutable_save()->set_keep(a->keep);
    api::Response response = ApiClient(context).call(r, kSaveCallTimeoutMs);
    const api::SaveResult& s = response.saved();
    if (context.json) {
      std::cout << to_json(response);
    } else {
      fmt::print("domain '{}' saved to {} ({}, {} pages); {}\n", a->domain, s.path(), mib(s.bytes()), s.pages(),
                 s.stopped() ? "it has ended" : "it runs on");
    }
  });

  auto* restore = app.add_subcommand("restore", "start a domain from a saved image, where it stopped");
  restore->add_option("file", a->path, "an image written by `tortuga save`")->required();
  restore->add_option("-n,--name", a->name, "a new name (default: the saved one)");
  restore->add_flag("-c,--console", a->console, "attach to its console right away (Ctrl-] detaches)");
  restore->callback([&context, a] {
    api::Request r;
    r.mutable_restore()->set_path(absolute(a->path));
    r.mutable_restore()->set_name(a->name);
    api::Response response = ApiClient(context).call(r);
    const api::DomainInfo& d = response.domain();
    if (context.json)
      std::cout << to_json(d);
    else if (!a->console)
      fmt::print("domain '{}' restored (id {})\n", d.config().name(), d.domid());
    if (a->console) console_until_end(context, d.config().name());
  });
}

}  // namespace tortuga::cli
