// create, pause, unpause, shutdown, reboot, destroy.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

#include <fmt/format.h>

#include "commands.h"
#include "config.h"
#include "output.h"

namespace tortuga::cli {
namespace {

namespace fs = std::filesystem;
constexpr size_t kMaxConfigBytes = 1 << 20;

struct CreateFlags {
  std::string file, name, kernel, cmdline, initramfs, on_crash;
  std::vector<std::string> disks, nics;
  uint32_t memory = 0, vcpus = 0, weight = 0, cap = 0;
  bool console = false;
};

std::string read_config_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError(fmt::format("cannot read config {}", path));
  std::string text;
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (text.size() > kMaxConfigBytes) throw CliError(fmt::format("config {} is larger than 1 MiB", path));
  return text;
}

std::vector<std::string> split(const std::string& spec) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t comma; (comma = spec.find(',', start)) != std::string::npos; start = comma + 1) {
    parts.push_back(spec.substr(start, comma - start));
  }
  parts.push_back(spec.substr(start));
  return parts;
}

// The file first, then each flag given on top of it.
api::DomainConfig build_config(const CreateFlags& f) {
  api::DomainConfig c;
  if (!f.file.empty()) {
    try {
      c = toolstack::parse_config_json(read_config_file(f.file));
    } catch (const toolstack::ConfigError& e) {
      throw CliError(fmt::format("{}: {}", f.file, e.what()));
    }
  }
  if (!f.name.empty()) c.set_name(f.name);
  if (!f.kernel.empty()) c.set_kernel(f.kernel);
  if (!f.cmdline.empty()) c.set_cmdline(f.cmdline);
  if (!f.initramfs.empty()) c.set_initramfs(f.initramfs);
  if (f.memory != 0) c.set_memory_mib(f.memory);
  if (f.vcpus != 0) c.set_vcpus(f.vcpus);
  if (f.weight != 0) c.set_weight(f.weight);
  if (f.cap != 0) c.set_cap(f.cap);
  // --disk PATH,VDEV[,ro] and --nic BRIDGE[,MAC]: the config's disks and nics.
  for (const auto& spec : f.disks) {
    auto parts = split(spec);
    if (parts.size() < 2 || parts.size() > 3 || (parts.size() == 3 && parts[2] != "ro")) {
      throw CliError(fmt::format("--disk: '{}' is not PATH,VDEV[,ro]", spec));
    }
    api::Disk& disk = *c.add_disks();
    disk.set_path(fs::absolute(parts[0]).lexically_normal().string());
    disk.set_vdev(parts[1]);
    disk.set_readonly(parts.size() == 3);
  }
  for (const auto& spec : f.nics) {
    auto parts = split(spec);
    if (parts.empty() || parts.size() > 2) throw CliError(fmt::format("--nic: '{}' is not BRIDGE[,MAC]", spec));
    api::Nic& nic = *c.add_nics();
    nic.set_bridge(parts[0]);
    if (parts.size() == 2) nic.set_mac(parts[1]);
  }
  if (!f.on_crash.empty()) {
    api::DomainConfig::OnCrash policy;
    if (!api::DomainConfig::OnCrash_Parse(f.on_crash, &policy) || policy == api::DomainConfig::on_crash_unset) {
      throw CliError(fmt::format("--on-crash: '{}' is not destroy, restart or preserve", f.on_crash));
    }
    c.set_on_crash(policy);
  }
  // The daemon runs the VMM elsewhere: paths are made absolute here.
  std::error_code ec;
  if (!c.kernel().empty()) c.set_kernel(fs::absolute(c.kernel(), ec).lexically_normal().string());
  if (!c.initramfs().empty()) c.set_initramfs(fs::absolute(c.initramfs(), ec).lexically_normal().string());
  toolstack::apply_defaults(c);
  try {
    toolstack::validate_config(c, true);
  } catch (const toolstack::ConfigError& e) {
    throw CliError(fmt::format("domain '{}': {}", c.name(), e.what()));
  }
  return c;
}

void run_create(const Context& context, const CreateFlags& flags) {
  api::Request request;
  *request.mutable_create()->mutable_config() = build_config(flags);
  api::Response response = ApiClient(context).call(request);
  const api::DomainInfo& d = response.domain();
  if (context.json) {
    std::cout << to_json(d);
  } else if (!flags.console) {
    fmt::print("domain '{}' created (id {})\n", d.config().name(), d.domid());
  }
  if (flags.console) console_until_end(context, d.config().name());
}

// pause, unpause, destroy: one domain, one request.
void add_simple(CLI::App& app, Context& context, const char* name, const char* help,
                api::DomainRef* (api::Request::*field)(), const char* done) {
  auto* cmd = app.add_subcommand(name, help);
  auto domain = std::make_shared<std::string>();
  cmd->add_option("domain", *domain, "name or id")->required();
  cmd->callback([&context, domain, field, done] {
    api::Request request;
    (request.*field)()->set_domain(*domain);
    api::Response response = ApiClient(context).call(request);
    if (context.json)
      std::cout << to_json(response.domain());
    else
      fmt::print("domain '{}' {}\n", response.domain().config().name(), done);
  });
}

}  // namespace

void add_lifecycle_commands(CLI::App& app, Context& context) {
  auto flags = std::make_shared<CreateFlags>();
  auto* create = app.add_subcommand("create", "create and start a domain from a JSON config and/or flags");
  create->add_option("config", flags->file, "JSON config (keys of DomainConfig; see toolstack/README.md)");
  create->add_option("-n,--name", flags->name, "domain name");
  create->add_option("-k,--kernel", flags->kernel, "guest kernel");
  create->add_option("-m,--memory", flags->memory, "memory in MiB (default 32)");
  create->add_option("--vcpus", flags->vcpus, "vCPUs (default 1)");
  create->add_option("--cmdline", flags->cmdline, "kernel command line");
  create->add_option("--initramfs", flags->initramfs, "initramfs image");
  create->add_option("--weight", flags->weight, "CPU weight");
  create->add_option("--cap", flags->cap, "CPU cap, percent of one host CPU");
  create->add_option("--on-crash", flags->on_crash, "destroy, restart or preserve (default)");
  create->add_option("--disk", flags->disks, "PATH,VDEV[,ro] (repeatable)");
  create->add_option("--nic", flags->nics, "BRIDGE[,MAC] (repeatable)");
  create->add_flag("-c,--console", flags->console, "attach to its console right away (Ctrl-] detaches)");
  create->callback([&context, flags] { run_create(context, *flags); });

  add_simple(app, context, "pause", "stop every vCPU of a domain at a safe point", &api::Request::mutable_pause,
             "paused");
  add_simple(app, context, "unpause", "let a paused domain run again", &api::Request::mutable_unpause, "unpaused");
  add_simple(app, context, "destroy", "stop a domain at once and forget it (its logs stay)",
             &api::Request::mutable_destroy, "destroyed");

  auto* shutdown = app.add_subcommand("shutdown", "ask a domain's guest to shut down; destroy it after a timeout");
  auto domain = std::make_shared<std::string>();
  auto timeout = std::make_shared<uint32_t>(30);
  shutdown->add_option("domain", *domain, "name or id")->required();
  shutdown->add_option("-t,--timeout", *timeout, "seconds to wait before destroying")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  shutdown->callback([&context, domain, timeout] {
    api::Request request;
    request.mutable_shutdown()->set_domain(*domain);
    request.mutable_shutdown()->set_timeout_s(*timeout);
    api::Response response = ApiClient(context).call(request, static_cast<int>(*timeout + 30) * 1000);
    if (context.json)
      std::cout << to_json(response);
    else
      fmt::print("{}\n", response.shutdown().note());
  });

  auto* reboot = app.add_subcommand("reboot", "ask a domain's guest to reboot (it starts again with the same config)");
  auto reboot_domain = std::make_shared<std::string>();
  reboot->add_option("domain", *reboot_domain, "name or id")->required();
  reboot->callback([&context, reboot_domain] {
    api::Request request;
    request.mutable_shutdown()->set_domain(*reboot_domain);
    request.mutable_shutdown()->set_reboot(true);
    api::Response response = ApiClient(context).call(request);
    if (context.json)
      std::cout << to_json(response.domain());
    else
      fmt::print("domain '{}': reboot requested\n", response.domain().config().name());
  });
}

}  // namespace tortuga::cli
