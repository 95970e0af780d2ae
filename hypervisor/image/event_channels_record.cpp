// The event channels record (IMAGE.md, type 7) from an EventChannelsState
// and back, with the ports of the domain's console and store. The values
// are checked by EventChannels::restore and the domain.
#include "image/component_records.h"

namespace tortuga {

namespace pb = image;

pb::EventChannels to_record(const EventChannelsState& s, uint32_t console_port, uint32_t store_port) {
  pb::EventChannels events;
  for (const EventChannelsState::Port& p : s.ports) {
    auto* e = events.add_ports();
    e->set_port(p.port);
    e->set_state(p.state);
    e->set_vcpu(p.vcpu);
    e->set_virq(p.virq);
  }
  events.set_console_port(console_port);
  events.set_store_port(store_port);
  return events;
}

EventChannelsState from_record(const pb::EventChannels& p, uint32_t& console_port, uint32_t& store_port) {
  EventChannelsState s;
  for (const auto& e : p.ports()) s.ports.push_back({e.port(), e.state(), e.vcpu(), e.virq()});
  console_port = p.console_port();
  store_port = p.store_port();
  return s;
}

}  // namespace tortuga
