// The time record (IMAGE.md, type 9) from the domain's clock and back.
#include "image/component_records.h"

namespace tortuga {

namespace pb = image;

pb::Time to_record(const DomainState::Time& t) {
  pb::Time time;
  time.set_system_time_ns(t.system_time_ns);
  time.set_tsc_khz(t.tsc_khz);
  time.set_realtime_ns(t.saved_realtime_ns);
  return time;
}

DomainState::Time from_record(const pb::Time& p) { return {p.system_time_ns(), p.realtime_ns(), p.tsc_khz()}; }

}  // namespace tortuga
