// The page types record (IMAGE.md, type 6) from a PageTypesState and back.
// The reader checks the types are known and the released frames lie in
// memory; the domain checks the rest by pinning the same tables again
// (Domain::restore_page_types).
#include <fmt/format.h>
#include <tortuga/memory.h>

#include "image/component_records.h"
#include "image_records.h"

namespace tortuga {

namespace pb = image;

pb::PageTypes to_record(const PageTypesState& s) {
  pb::PageTypes types;
  for (auto [gfn, level] : s.pins) {
    auto* p = types.add_pins();
    p->set_gfn(gfn);
    p->set_level(level);
  }
  for (uint64_t gfn : s.absent) types.add_absent(gfn);
  for (auto [gfn, type] : s.typed) {
    auto* t = types.add_typed();
    t->set_gfn(gfn);
    t->set_type(static_cast<uint32_t>(type));
  }
  return types;
}

PageTypesState from_record(const pb::PageTypes& p, uint64_t memory_bytes) {
  PageTypesState s;
  for (const auto& pin : p.pins()) s.pins.emplace_back(pin.gfn(), pin.level());
  s.absent.assign(p.absent().begin(), p.absent().end());
  for (const auto& t : p.typed()) {
    if (t.type() > TG_PGT_VMM) throw ImageError("unknown page type");
    s.typed.emplace_back(t.gfn(), static_cast<PageType>(t.type()));
  }
  for (uint64_t gfn : s.absent) {
    if (gfn * kImagePageSize >= memory_bytes) throw ImageError(fmt::format("released gfn {:#x} outside memory", gfn));
  }
  return s;
}

}  // namespace tortuga
