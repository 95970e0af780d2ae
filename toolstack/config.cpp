#include "config.h"
#include "devices.h"

#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <tortuga/shared_info.h>
#include <tortuga/vcpu.h>

namespace tortuga::toolstack {
namespace {

constexpr uint32_t kDefaultMemoryMib = 32;
constexpr uint32_t kMaxCap = 100 * 1024;  // percent of one host CPU: 1024 CPUs

void require_regular_file(const std::string& key, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw ConfigError(fmt::format("{}: no such file: {}", key, path));
  if (!S_ISREG(st.st_mode)) throw ConfigError(fmt::format("{}: not a regular file: {}", key, path));
}

}  // namespace

api::DomainConfig parse_config_json(const std::string& json) {
  api::DomainConfig config;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt key must not be silently dropped
  auto status = google::protobuf::util::JsonStringToMessage(json, &config, options);
  if (!status.ok()) throw ConfigError(fmt::format("invalid config: {}", std::string(status.message())));
  return config;
}

void apply_defaults(api::DomainConfig& c) {
  if (c.memory_mib() == 0) c.set_memory_mib(kDefaultMemoryMib);
  if (c.vcpus() == 0) c.set_vcpus(1);
  if (c.console() == api::DomainConfig::console_unset) c.set_console(api::DomainConfig::log);
  if (c.on_crash() == api::DomainConfig::on_crash_unset) c.set_on_crash(api::DomainConfig::preserve);
}

bool valid_domain_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxNameLength || name[0] == '-' || name[0] == '.') return false;
  auto allowed = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
           c == '.';
  };
  if (!std::all_of(name.begin(), name.end(), allowed)) return false;
  return !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void validate_config(const api::DomainConfig& c, bool check_files) {
  if (!valid_domain_name(c.name())) {
    throw ConfigError(fmt::format(
        "name: '{}' is not a valid domain name (1-{} letters, digits, '_', '-', '.'; not starting with '-' or "
        "'.'; not only digits)",
        c.name(), kMaxNameLength));
  }
  if (c.kernel().empty()) throw ConfigError("kernel: missing (the guest kernel's path)");
  // The daemon runs the VMM from its own directory: relative paths would
  // name other files there (the CLI makes them absolute).
  if (c.kernel()[0] != '/') throw ConfigError(fmt::format("kernel: '{}' is not an absolute path", c.kernel()));
  if (!c.initramfs().empty() && c.initramfs()[0] != '/') {
    throw ConfigError(fmt::format("initramfs: '{}' is not an absolute path", c.initramfs()));
  }
  if (c.memory_mib() < 1 || c.memory_mib() > kMaxMemoryMib) {
    throw ConfigError(fmt::format("memory_mib: {} is outside 1..{}", c.memory_mib(), kMaxMemoryMib));
  }
  if (c.vcpus() < 1 || c.vcpus() > TG_MAX_VCPUS) {
    throw ConfigError(fmt::format("vcpus: {} is outside 1..{}", c.vcpus(), TG_MAX_VCPUS));
  }
  if (c.weight() != 0 && (c.weight() < TG_SCHED_WEIGHT_MIN || c.weight() > TG_SCHED_WEIGHT_MAX)) {
    throw ConfigError(fmt::format("weight: {} is outside {}..{} (0 = default)", c.weight(), TG_SCHED_WEIGHT_MIN,
                                  TG_SCHED_WEIGHT_MAX));
  }
  if (c.cap() > kMaxCap) throw ConfigError(fmt::format("cap: {} is over {} percent", c.cap(), kMaxCap));
  for (char ch : c.cmdline()) {
    if (ch == '\0' || ch == '\n') throw ConfigError("cmdline: contains a NUL or newline");
  }
  validate_devices(c, check_files);
  if (check_files) {
    require_regular_file("kernel", c.kernel());
    if (!c.initramfs().empty()) require_regular_file("initramfs", c.initramfs());
  }
}

std::string config_to_json(const api::DomainConfig& config) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(config, &out, options);
  return out;
}

}  // namespace tortuga::toolstack
