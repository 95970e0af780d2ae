#include "state_store.h"

#include <sys/stat.h>

#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include "atomic_file.h"
#include "config.h"

namespace tortuga::toolstack {
namespace fs = std::filesystem;
namespace {

constexpr size_t kMaxRecordBytes = 1 << 20;
constexpr const char* kSuffix = ".json";

void make_private_dir(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw std::runtime_error(fmt::format("cannot create {}: {}", path, ec.message()));
  if (::chmod(path.c_str(), 0700) != 0) throw std::runtime_error(fmt::format("cannot chmod 0700 {}", path));
}

}  // namespace

StateStore::StateStore(std::string dir) : dir_(std::move(dir)) {
  make_private_dir(dir_);
  make_private_dir(dir_ + "/domains");
  make_private_dir(dir_ + "/run");
  make_private_dir(dir_ + "/logs");
}

std::string StateStore::record_path(const std::string& name) const { return dir_ + "/domains/" + name + kSuffix; }
std::string StateStore::run_dir(const std::string& name) const { return dir_ + "/run/" + name; }
std::string StateStore::console_log(const std::string& name) const { return dir_ + "/logs/" + name + ".console.log"; }
std::string StateStore::vmm_log(const std::string& name) const { return dir_ + "/logs/" + name + ".vmm.log"; }

void StateStore::save(const api::DomainRecord& record) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  auto status = google::protobuf::util::MessageToJsonString(record, &json, options);
  if (!status.ok()) throw std::runtime_error(fmt::format("cannot encode a record: {}", std::string(status.message())));
  write_file_atomically(record_path(record.info().config().name()), json);
}

void StateStore::remove(const std::string& name) {
  std::error_code ec;
  fs::remove(record_path(name), ec);
}

StateStore::Loaded StateStore::load_all() const {
  Loaded out;
  for (const auto& entry : fs::directory_iterator(dir_ + "/domains")) {
    const std::string file = entry.path().filename().string();
    if (file.empty() || file[0] == '.' || entry.path().extension() != kSuffix) continue;  // temporaries
    try {
      std::string json;
      read_small_file(entry.path().string(), json, kMaxRecordBytes);
      api::DomainRecord record;
      google::protobuf::util::JsonParseOptions options;
      auto status = google::protobuf::util::JsonStringToMessage(json, &record, options);
      if (!status.ok()) throw std::runtime_error(std::string(std::string(status.message())));
      // The file name is the key: a record that disagrees was not written by us.
      const std::string& name = record.info().config().name();
      if (!valid_domain_name(name) || file != name + kSuffix) {
        throw std::runtime_error(fmt::format("names domain '{}'", name));
      }
      out.records.push_back(std::move(record));
    } catch (const std::exception& e) {
      out.problems.push_back(fmt::format("{}: {}", entry.path().string(), e.what()));
    }
  }
  return out;
}

std::string StateStore::make_run_dir(const std::string& name) const {
  std::string path = run_dir(name);
  remove_run_dir(name);
  make_private_dir(path);
  return path;
}

void StateStore::remove_run_dir(const std::string& name) const {
  std::error_code ec;
  fs::remove_all(run_dir(name), ec);
}

}  // namespace tortuga::toolstack
