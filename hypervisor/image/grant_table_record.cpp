// The grant table record (IMAGE.md, type 8) from a GrantTableState and
// back. The values are checked by GrantTable::restore.
#include "image/component_records.h"

namespace tortuga {

namespace pb = image;

pb::GrantTable to_record(const GrantTableState& s) {
  pb::GrantTable grants;
  for (uint64_t gfn : s.frames) grants.add_frames(gfn);
  for (const GrantTableState::Map& m : s.maps) {
    auto* g = grants.add_maps();
    g->set_handle(m.handle);
    g->set_ref(m.ref);
    g->set_host_addr(m.host_addr);
    g->set_gfn(m.gfn);
    g->set_readonly(m.readonly);
  }
  return grants;
}

GrantTableState from_record(const pb::GrantTable& p) {
  GrantTableState s;
  s.frames.assign(p.frames().begin(), p.frames().end());
  for (const auto& m : p.maps()) s.maps.push_back({m.handle(), m.ref(), m.host_addr(), m.gfn(), m.readonly()});
  return s;
}

}  // namespace tortuga
