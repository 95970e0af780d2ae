// The store ring record (IMAGE.md, type 11) from a StoreRingState and back:
// the ring's VMM side only (the store behind it is the store record's).
// StoreRing::restore checks the values.
#include "image/component_records.h"

namespace tortuga {

namespace pb = image;

pb::StoreRing to_record(const StoreRingState& s) {
  pb::StoreRing ring;
  ring.set_req_cons(s.req_cons);
  ring.set_rsp_prod(s.rsp_prod);
  ring.set_partial_request(s.partial_request);
  ring.set_discarding(s.discarding);
  ring.set_output(s.output);
  for (uint64_t n : s.output_sizes) ring.add_output_sizes(n);
  return ring;
}

StoreRingState from_record(const pb::StoreRing& p) {
  StoreRingState s{{}, p.req_cons(), p.rsp_prod(), p.partial_request(), p.discarding(), p.output(), {}};
  s.output_sizes.assign(p.output_sizes().begin(), p.output_sizes().end());
  return s;
}

}  // namespace tortuga
