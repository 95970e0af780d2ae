// The daemon's domains: unique names, unique numeric ids (from 1; 0 is the
// VMM in the ABI), each a DomainRecord that the state store persists.
// Lookups take what a user types: a name or an id.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "state.pb.h"

namespace tortuga::toolstack {

class DomainTable {
 public:
  // Adds a domain, giving it the next id when its record has none. Returns
  // nullptr (and changes nothing) when the name or the id is taken.
  api::DomainRecord* insert(api::DomainRecord record);
  // By name, or by id when the text is all digits. nullptr if none.
  api::DomainRecord* find(const std::string& name_or_id);
  api::DomainRecord* find_by_pid(int pid);
  bool erase(const std::string& name);
  // Ordered by id, as `list` shows them.
  std::vector<api::DomainRecord*> all();
  size_t size() const { return by_name_.size(); }

 private:
  std::map<std::string, std::unique_ptr<api::DomainRecord>> by_name_;
  uint32_t next_id_ = 1;
};

}  // namespace tortuga::toolstack
