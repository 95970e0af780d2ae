// The console ring record (IMAGE.md, type 12) from a ConsoleRingState and
// back. ConsoleRing::restore checks the values.
#include "image/component_records.h"

namespace tortuga {

namespace pb = image;

pb::ConsoleRing to_record(const ConsoleRingState& s) {
  pb::ConsoleRing console;
  console.set_in_prod(s.in_prod);
  console.set_backlog(s.backlog);
  return console;
}

ConsoleRingState from_record(const pb::ConsoleRing& p) { return {p.in_prod(), p.backlog()}; }

}  // namespace tortuga
