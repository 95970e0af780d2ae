#include "store/guest_control.h"

#include <charconv>

#include <fmt/format.h>
#include <tortuga/io/store.h>

#include "store/store_layout.h"

namespace tortuga {
namespace {

// A key under the guest's home, read as the VMM.
std::string read_home_key(StoreRing& store, const char* key) {
  std::string value;
  store.with_store([&](Store& s) {
    Store::Result r = s.read(0, 0, s.home(s.guest()) + "/" + key);
    if (r.ok()) value = r.payload;
  });
  return value;
}

// Writes a key under the guest's home that the guest may write too (it
// clears control/shutdown when it acts on it).
void write_home_key(StoreRing& store, const char* key, const std::string& value) {
  store.with_store([&](Store& s) {
    try {
      vmm_node(s, s.home(s.guest()) + "/" + key, value, 'b');
    } catch (const std::logic_error& e) {
      throw GuestControlError(e.what());
    }
  });
}

}  // namespace

bool request_guest_shutdown(StoreRing& store, const std::string& what) {
  write_home_key(store, TG_STORE_KEY_CONTROL_SHUTDOWN, what);
  return read_home_key(store, TG_STORE_KEY_FEATURE_SHUTDOWN) == "1";
}

void set_balloon_target(StoreRing& store, uint64_t target_kib, uint64_t max_kib) {
  if (read_home_key(store, TG_STORE_KEY_FEATURE_BALLOON) != "1") {
    throw GuestControlError(
        "not supported by this guest yet: the guest has no balloon driver (control/feature-balloon)");
  }
  if (target_kib < 1024 || target_kib > max_kib) {
    throw GuestControlError(
        fmt::format("memory target must be between 1 and {} MiB, not {} KiB", max_kib / 1024, target_kib));
  }
  write_home_key(store, TG_STORE_KEY_MEMORY_TARGET, std::to_string(target_kib));
}

std::optional<uint64_t> balloon_target_kib(StoreRing& store) {
  std::string text = read_home_key(store, TG_STORE_KEY_MEMORY_TARGET);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace tortuga
