// Domain::save(): everything a paused domain is, apart from its memory,
// for a save (ABI.md 21): its own part, and each component's save(). The
// order matters where threads other than the vCPUs still run: the rings
// are drained first (so the memory written later already holds their
// indices), and timer deadlines are taken before memory, so an expiry in
// between is in memory, in the deadline, or both (a second VIRQ merges),
// never in neither. The devices go first of all: quiesced, they write no
// ring, grant or store node.
#include <fmt/format.h>

#include "domain/domain.h"
#include "events/host_clock.h"

namespace tortuga {

void copy_config_to_state(const DomainConfig& c, DomainState& st) {
  st.name = c.name;
  st.cmdline = c.cmdline;
  st.kernel = c.kernel;
  st.initramfs = c.initramfs;
  st.toolstack_config = c.toolstack_config;
  st.memory_mib = c.memory_mib;
  st.vcpus = c.vcpus;
}

DomainState Domain::save() {
  if (!paused()) throw std::logic_error("Domain::save on a running domain");
  // First: requests in flight complete and their responses are in the
  // rings (so in memory) before anything else is taken; no grant is held.
  devices_->quiesce();
  console_ring_->notified();
  store_ring_->notified();
  if (!mmu_->pending().empty()) throw std::runtime_error("page-table writes are still pending");

  DomainState st;
  copy_config_to_state(config_, st);
  st.layout = layout_;
  st.time = {system_time_ns(), host_clock_ns(CLOCK_REALTIME), tsc_khz_};
  for (auto& v : vcpus_) st.vcpu.push_back(v->save());
  {
    std::lock_guard lock(mmu_->frame_lock());
    if (grants_->in_use_by_backends()) throw std::runtime_error("a backend still holds a grant");
    st.page_types = mmu_->frames().save();
    st.grants = grants_->save();
  }
  st.events = events_->save();
  st.console_port = console_port_;
  st.store_port = store_port_;
  st.store_ring = store_ring_->save();
  st.console_ring = console_ring_->save();
  st.devices = devices_->save();
  return st;
}

}  // namespace tortuga
