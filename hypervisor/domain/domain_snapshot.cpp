// Domain::capture_state(): everything a paused domain is, apart from its
// memory, for a save (ABI.md 21). The order matters where threads other
// than the vCPUs still run: the rings are drained first (so the memory
// written later already holds their indices), and timer deadlines are
// taken before memory, so an expiry in between is in memory, in the
// deadline, or both (a second VIRQ merges), never in neither. The devices
// go first of all: quiesced, they write no ring, grant or store node.
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

DomainState Domain::capture_state() {
  if (!paused()) throw std::logic_error("capture_state on a running domain");
  // First: requests in flight complete and their responses are in the
  // rings (so in memory) before anything else is taken; no grant is held.
  devices_->quiesce();
  console_ring_->notified();
  store_ring_->notified();
  if (!mmu_->pending().empty()) throw std::runtime_error("page-table writes are still pending");

  DomainState st;
  copy_config_to_state(config_, st);
  st.layout = layout_;
  st.system_time_ns = system_time_ns();
  st.saved_realtime_ns = host_clock_ns(CLOCK_REALTIME);
  st.tsc_khz = tsc_khz_;
  for (auto& v : vcpus_) st.vcpu.push_back(v->snapshot());
  {
    std::lock_guard lock(mmu_->frame_lock());
    if (grants_->in_use_by_backends()) throw std::runtime_error("a backend still holds a grant");
    const FrameTable& frames = mmu_->frames();
    for (uint64_t gfn = 0; gfn < frames.nr_frames(); ++gfn) {
      const FrameInfo& f = frames.at(gfn);
      if (f.absent) st.page_types.absent.push_back(gfn);
      if (f.pinned) st.page_types.pins.emplace_back(gfn, table_level(f.type));
      if (f.type != PageType::kWritable) st.page_types.typed.emplace_back(gfn, f.type);
    }
    st.grant_frames = grants_->frames();
    st.grant_maps = grants_->maps();
  }
  st.ports = events_->snapshot();
  st.console_port = console_port_;
  st.store_port = store_port_;
  store_ring_->snapshot(st.store, st.store_ring);
  st.console_ring = console_ring_->state();
  st.devices = devices_->snapshot();
  return st;
}

}  // namespace tortuga
