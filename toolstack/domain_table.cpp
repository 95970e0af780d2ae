#include "domain_table.h"

#include <algorithm>
#include <charconv>

namespace tortuga::toolstack {

api::DomainRecord* DomainTable::insert(api::DomainRecord record) {
  const std::string name = record.info().config().name();
  if (by_name_.count(name) != 0) return nullptr;
  uint32_t id = record.info().domid();
  if (id == 0) {
    id = next_id_;
  } else {
    for (const auto& [n, r] : by_name_) {
      if (r->info().domid() == id) return nullptr;
    }
  }
  // Ids are not reused while the daemon runs, so a stale id in a script
  // cannot silently name a newer domain.
  next_id_ = std::max(next_id_, id + 1);
  record.mutable_info()->set_domid(id);
  auto owned = std::make_unique<api::DomainRecord>(std::move(record));
  auto* raw = owned.get();
  by_name_.emplace(name, std::move(owned));
  return raw;
}

api::DomainRecord* DomainTable::find(const std::string& key) {
  auto it = by_name_.find(key);
  if (it != by_name_.end()) return it->second.get();
  uint32_t id = 0;
  auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
  if (key.empty() || ec != std::errc() || end != key.data() + key.size()) return nullptr;
  for (auto& [n, r] : by_name_) {
    if (r->info().domid() == id) return r.get();
  }
  return nullptr;
}

api::DomainRecord* DomainTable::find_by_pid(int pid) {
  if (pid <= 0) return nullptr;
  for (auto& [n, r] : by_name_) {
    if (r->info().pid() == pid) return r.get();
  }
  return nullptr;
}

bool DomainTable::erase(const std::string& name) { return by_name_.erase(name) != 0; }

std::vector<api::DomainRecord*> DomainTable::all() {
  std::vector<api::DomainRecord*> out;
  for (auto& [n, r] : by_name_) out.push_back(r.get());
  std::sort(out.begin(), out.end(), [](auto* a, auto* b) { return a->info().domid() < b->info().domid(); });
  return out;
}

}  // namespace tortuga::toolstack
