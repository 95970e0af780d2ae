#include "store/store_layout.h"

#include <stdexcept>

namespace tortuga {

void vmm_node(Store& store, const std::string& path, const std::string& value, char guest_access) {
  if (!store.write(0, 0, path, value).ok() ||
      !store.set_perms(0, 0, path, {"n0", std::string(1, guest_access) + std::to_string(store.guest())}).ok()) {
    throw std::logic_error("cannot create store node " + path);
  }
}

void fill_domain_store(Store& store, const std::string& name, uint64_t memory_kib) {
  std::string home = store.home(store.guest());
  vmm_node(store, home, "", 'r');
  vmm_node(store, home + "/domid", std::to_string(store.guest()), 'r');
  vmm_node(store, home + "/name", name, 'r');
  for (const char* dir : {"/device", "/control", "/memory", "/data"}) vmm_node(store, home + dir, "", 'b');
  vmm_node(store, home + "/memory/target", std::to_string(memory_kib), 'b');
  vmm_node(store, "/local/domain/0/backend", "", 'r');
}

}  // namespace tortuga
