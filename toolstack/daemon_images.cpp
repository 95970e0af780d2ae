// tortugad's saved images: `tortuga save` asks the domain's VMM to write
// its whole state (ABI.md 21, hypervisor/image/IMAGE.md) with the daemon's own
// config inside, and forgets the domain once the VMM has ended (unless
// --keep); `tortuga restore` reads that config back from the image, claims
// the name, and starts a VMM from the image instead of the kernel.
#include <fmt/format.h>

#include "config.h"
#include "daemon.h"
#include "saved_image.h"
#include "vmm_client.h"
#include "vmm_reply.h"

namespace tortuga::toolstack {
namespace {

using State = api::DomainInfo;
using namespace std::chrono_literals;

// Writing a large domain to a slow disk takes a while; the VMM answers
// when the image is complete.
constexpr auto kSaveTimeout = 10min;
// After the reply, a VMM that saved and stops has nothing left to do.
constexpr auto kSavedExitTimeout = 10s;

bool absolute(const std::string& path) { return !path.empty() && path[0] == '/'; }

}  // namespace

awaitable<api::Response> Daemon::save_domain(const std::string& ref, const std::string& path, bool keep) {
  api::DomainRecord* r = table_.find(ref);
  if (r == nullptr) co_return error_response(fmt::format("no domain '{}'", ref));
  const std::string name = r->info().config().name();
  const uint32_t domid = r->info().domid();
  State::State s = r->info().state();
  if (s != State::RUNNING && s != State::PAUSED) {
    co_return error_response(fmt::format("{} is {}, not running", domain_label(name), state_name(s)));
  }
  if (!absolute(path))
    co_return error_response(fmt::format("{}: '{}' is not an absolute path", domain_label(name), path));
  if (saving_.count(name) != 0) co_return error_response(fmt::format("{} is being saved already", domain_label(name)));
  api::VmmRequest request;
  request.mutable_save()->set_path(path);
  request.mutable_save()->set_keep_running(keep);
  // Its config, and its id here: the names of its TAPs (tg<id>.<n>) in the image.
  api::DomainInfo kept;
  *kept.mutable_config() = r->info().config();
  kept.set_domid(domid);
  request.mutable_save()->set_toolstack_config(kept.SerializeAsString());
  if (!keep) saving_[name] = path;  // from now on its end means "saved"
  api::VmmReply reply;
  std::string failed;
  try {
    reply = co_await call_vmm(r->control_socket(), request, kSaveTimeout);
    failed = clean_line(reply.error());
  } catch (const VmmCallError& e) {
    failed = e.what();
  }
  if (!failed.empty()) {
    saving_.erase(name);
    co_return error_response(fmt::format("{}: {}", domain_label(name), failed));
  }
  api::Response response;
  api::SaveResult& saved = *response.mutable_saved();
  saved.set_path(path);
  saved.set_bytes(reply.saved_bytes());
  saved.set_pages(reply.saved_pages());
  saved.set_stopped(!keep);
  if (keep) {
    r = table_.find(name);
    if (r != nullptr && r->info().domid() == domid) {
      apply_vmm_reply(reply, *r->mutable_info());
      save(*r);
    }
  } else if (!co_await wait_for_exit(name, domid, kSavedExitTimeout)) {
    // Saved, but it did not end: it must not run on beside its image.
    end_notes_[name] = "saved, but its VMM did not end";
    destroying_.insert(name);
    co_await stop_vmm(name, domid);
  }
  co_return response;
}

awaitable<api::Response> Daemon::restore_domain(const std::string& path, const std::string& name) {
  if (!absolute(path)) co_return error_response(fmt::format("'{}' is not an absolute path", path));
  api::DomainConfig config;
  uint32_t saved_domid = 0;
  try {
    SavedDomain saved = read_saved_domain(path);
    config = saved.config;
    saved_domid = saved.domid;
    if (!name.empty()) config.set_name(name);
    apply_defaults(config);
    // The kernel is in the image: its file need not exist (until a reboot).
    validate_config(config, false);
  } catch (const SavedImageError& e) {
    co_return error_response(e.what());
  } catch (const ConfigError& e) {
    co_return error_response(fmt::format("{}: saved config: {}", domain_label(config.name()), e.what()));
  }
  api::DomainRecord fresh;
  *fresh.mutable_info()->mutable_config() = config;
  fresh.mutable_info()->set_state(State::STARTING);
  fresh.mutable_info()->set_created_unix(static_cast<int64_t>(std::time(nullptr)));
  api::DomainRecord* r = table_.insert(std::move(fresh));
  if (r == nullptr) co_return error_response(fmt::format("{} already exists", domain_label(config.name())));
  const uint32_t domid = r->info().domid();
  try {
    start_vmm(*r, path, saved_domid);
  } catch (const std::exception& e) {
    forget(config.name());
    co_return error_response(fmt::format("{}: cannot start tortuga-vmm: {}", domain_label(config.name()), e.what()));
  }
  co_return co_await finish_start(config.name(), domid);
}

}  // namespace tortuga::toolstack
