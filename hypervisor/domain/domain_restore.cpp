// Domain::restore(): a domain built from a saved state instead of a kernel
// (ABI.md 21), each component by its restore() from its State. Memory is
// already in place. The image is hostile input, so nothing in it is taken
// on trust that the VMM relies on:
// page types and counts are derived again by pinning the same tables
// (which validates them), base pointers must be pinned L4s, ports, grants,
// the store and every vCPU are checked as the hypercalls that made them
// would have checked them. Anything wrong is one RestoreError line.
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <tortuga/event_channel.h>
#include <tortuga/shared_info.h>
#include <tortuga/start_info.h>

#include "domain/domain.h"
#include "events/host_clock.h"

namespace tortuga {
namespace {

constexpr uint64_t kPage = 4096;

// The pages the VMM shares with the guest: page aligned, in RAM, distinct.
void check_layout(const BootLayout& l, const GuestMemory& m) {
  std::set<uint64_t> seen;
  for (auto [gpa, what] : {std::pair{l.start_info_gpa, "start info"},
                           {l.shared_info_gpa, "shared info"},
                           {l.console_ring_gpa, "console ring"},
                           {l.store_ring_gpa, "store ring"}}) {
    if (gpa % kPage != 0 || !m.ram_contains(gpa, kPage) || !seen.insert(gpa).second) {
      throw RestoreError(fmt::format("the {} page {:#x} is not a page of its own in guest memory", what, gpa));
    }
  }
}

}  // namespace

void Domain::restore(const DomainState& st, const RestoreOptions& options) {
  try {
    if (st.vcpu.size() != config_.vcpus) {
      throw RestoreError(fmt::format("{} vCPU records for {} vCPUs", st.vcpu.size(), config_.vcpus));
    }
    check_layout(st.layout, *memory_);
    layout_ = st.layout;
    // System time continues from where it stopped, plus the wall-clock
    // time the domain was away (never less: a clock stepped back counts 0).
    uint64_t now_real = host_clock_ns(CLOCK_REALTIME);
    uint64_t gap = now_real > st.time.saved_realtime_ns ? now_real - st.time.saved_realtime_ns : 0;
    created_ns_ = host_clock_ns(CLOCK_MONOTONIC) - (st.time.system_time_ns + gap);
    restore_page_types(st);
    events_ = std::make_unique<EventChannels>(
        shared_info(), config_.vcpus, [this](uint32_t v, bool unmasked) { vcpus_.at(v)->notify_event(unmasked); });
    events_->restore(st.events);
    timers_ = std::make_unique<VcpuTimers>(config_.vcpus, created_ns_,
                                           [this](uint32_t v) { events_->raise_virq(v, TG_VIRQ_TIMER); });
    write_wall_clock();
    attach_console_ring(st.console_port);
    console_ring_->restore(st.console_ring);
    // The domain keeps its id: its store paths (and its devices') hold it.
    const StoreState& store = st.store_ring.store;
    if (store.guest < TG_DOMID_FIRST_GUEST || store.guest > TG_DOMID_MAX_GUEST) {
      throw RestoreError(fmt::format("the store is of domain {}, not a guest's id", store.guest));
    }
    config_.domid = store.guest;
    attach_store(st.store_port);
    store_ring_->restore(st.store_ring);
    restore_devices(st, options.taps);
    restore_vcpus(st);
  } catch (const std::invalid_argument& e) {
    throw RestoreError(e.what());
  } catch (const StoreStateError& e) {
    throw RestoreError(fmt::format("store: {}", e.what()));
  }
  restored_ = true;
}

// Types and counts from scratch: the VMM's frames, released frames and the
// grant table's frames first, then every pin (each validates its tables),
// then the base pointers; the types that result must be those saved.
void Domain::restore_page_types(const DomainState& st) {
  for (uint64_t gpa : {layout_.shared_info_gpa, layout_.console_ring_gpa, layout_.store_ring_gpa}) {
    mmu_->set_vmm_frame(gpa >> 12);
  }
  ApplyProgram program;
  for (uint64_t gfn : st.page_types.absent) {
    if (!mmu_->release(gfn, program)) throw RestoreError(fmt::format("frame {:#x} cannot be released", gfn));
  }
  std::lock_guard lock(mmu_->frame_lock());
  grants_->restore({st.grants.frames, {}});  // the mappings below, once the tables are typed
  for (auto [gfn, level] : st.page_types.pins) {
    if (level < 1 || level > 4) throw RestoreError(fmt::format("frame {:#x} pinned at level {}", gfn, level));
    if (int err = mmu_->pin(gfn, level, program); err != 0) {
      throw RestoreError(
          fmt::format("frame {:#x} does not validate as a pinned L{} table (error {})", gfn, level, err));
    }
  }
  program.apply_to(*memory_);
  mmu_->applied();
  for (const VcpuState& v : st.vcpu) {
    if (v.id >= config_.vcpus) throw RestoreError(fmt::format("vCPU record {} out of range", v.id));
    bool ok = (v.kernel_base_gfn == kNoBasePointer || mmu_->set_kernel_base(v.id, v.kernel_base_gfn) == 0) &&
              (v.user_base_gfn == kNoBasePointer || mmu_->set_user_base(v.id, v.user_base_gfn) == 0);
    if (!ok) throw RestoreError(fmt::format("vcpu {}: a base pointer is not a pinned L4", v.id));
  }
  // Now that the tables are typed, the guest's grant mappings (which need
  // ordinary RAM) can be held again.
  grants_->restore_maps(st.grants.maps);
  std::vector<std::pair<uint64_t, PageType>> derived;
  const FrameTable& frames = mmu_->frames();
  for (uint64_t gfn = 0; gfn < frames.nr_frames(); ++gfn) {
    if (frames.at(gfn).type != PageType::kWritable) derived.emplace_back(gfn, frames.at(gfn).type);
  }
  if (derived != st.page_types.typed) {
    throw RestoreError(fmt::format("page types disagree with the image: {} typed frames derived, {} saved",
                                   derived.size(), st.page_types.typed.size()));
  }
}

// Each device from its record, after the store (which holds its
// directories), the event channels (its port comes back unbound) and the
// grant table (its ring refs). A device that cannot come back refuses the
// image: its frontend would find a dead ring.
void Domain::restore_devices(const DomainState& st, const std::map<std::string, std::string>& taps) {
  devices_ = std::make_unique<DeviceSet>(
      DeviceSet::Parts{*store_ring_, *events_, *doorbells_, *grants_, config_.domid, config_.name, &io_});
  devices_->restore(st.devices, taps);
}

void Domain::restore_vcpus(const DomainState& st) {
  start_vcpus_.clear();
  for (const VcpuState& v : st.vcpu) {
    Vcpu& vcpu = *vcpus_.at(v.id);
    vcpu.restore(v, st.time.system_time_ns);
    if (v.mask_events) __atomic_store_n(&vcpu.info().upcall_mask, 1, __ATOMIC_RELEASE);
    if (v.timer_deadline_ns != 0) timers_->arm(v.id, v.timer_deadline_ns);  // a past one fires at once
    if (v.up) {
      if (!v.initialised) throw RestoreError(fmt::format("vcpu {} is up but was never initialised", v.id));
      start_vcpus_.push_back(v.id);
    }
  }
  if (start_vcpus_.empty()) throw RestoreError("no vCPU was running");
  // Every time record gets this host's TSC parameters and the restored
  // clock (odd version, new values, even) before any vCPU runs.
  for (auto& v : vcpus_) v->refresh_time_record();
}

// Once the vCPUs run: the backends look at their rings (the guest may have
// queued work just before the save), the NICs announce the guest's MAC,
// every backend port is raised so the guest's frontends look at theirs
// (ABI.md 9.8, 21), and every vCPU is kicked once, so an upcall that was
// pending is delivered.
void Domain::resume_after_restore() {
  console_ring_->notified();
  store_ring_->notified();
  devices_->resumed_after_restore();
  events_->raise_all_backend_ports();
  for (uint32_t v : start_vcpus_) vcpus_.at(v)->kick();
}

}  // namespace tortuga
