#include "memory/grant_table.h"

#include <stdexcept>
#include <string>

#include <tortuga/errno.h>

namespace tortuga {
namespace {

constexpr uint16_t kKnownFlags = TG_GTF_type_mask | TG_GTF_readonly | TG_GTF_reading | TG_GTF_writing;
// A guest that keeps changing the flags word could keep a backend's
// compare-and-exchange failing forever; after this many tries the use is
// refused instead.
constexpr int kClaimTries = 64;

std::atomic_ref<uint16_t> flags_of(tg_grant_entry_v1& e) { return std::atomic_ref<uint16_t>(e.flags); }

}  // namespace

GrantTable::GrantTable(const GuestMemory& memory, PvMmu& mmu) : memory_(memory), mmu_(mmu) {}

uint32_t GrantTable::nr_frames() const { return static_cast<uint32_t>(frames_.size()); }

int GrantTable::setup(std::span<const uint64_t> gfns) {
  if (gfns.empty() || gfns.size() > TG_GNTTAB_MAX_FRAMES || gfns.size() < frames_.size()) return -TG_EINVAL;
  for (size_t i = 0; i < frames_.size(); ++i) {
    if (gfns[i] != frames_[i]) return -TG_EINVAL;  // growing keeps the current frames, in order
  }
  std::span<const uint64_t> added = gfns.subspan(frames_.size());
  for (size_t i = 0; i < added.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (added[j] == added[i]) return -TG_EBUSY;  // the same frame twice: already VMM for this use
    }
    if (!mmu_.is_ram(added[i])) return -TG_EPERM;
  }
  // Check every new frame before typing any, so that a refusal changes nothing.
  for (uint64_t gfn : added) {
    const FrameInfo& f = mmu_.frames().at(gfn);
    if (f.type != PageType::kWritable || f.io_refs != 0) return -TG_EBUSY;
  }
  for (uint64_t gfn : added) {
    if (mmu_.take_vmm_frame(gfn) != 0) throw std::logic_error("grant frame changed while the frame lock was held");
    frames_.push_back(gfn);
  }
  active_.resize(nr_entries());
  return 0;
}

tg_grant_entry_v1* GrantTable::entry(uint32_t ref) const {
  if (ref >= nr_entries()) return nullptr;
  uint64_t gpa = (frames_[ref / TG_GRANT_ENTRIES_PER_FRAME] << 12) +
                 sizeof(tg_grant_entry_v1) * (ref % TG_GRANT_ENTRIES_PER_FRAME);
  return memory_.ram_object<tg_grant_entry_v1>(gpa);
}

GrantUse GrantTable::use(uint16_t user, uint32_t ref, bool write) {
  std::lock_guard lock(mmu_.frame_lock());
  return use_locked(user, ref, write);
}

// Sets the in-use bit for this access with compare-and-exchange, after
// checking the flags it replaces (the guest may change them at any time).
int GrantTable::claim_entry(tg_grant_entry_v1& e, uint16_t user, bool write) {
  uint16_t busy_bit = write ? TG_GTF_writing : TG_GTF_reading;
  uint16_t flags = flags_of(e).load(std::memory_order_acquire);
  for (int tries = 0; tries < kClaimTries; ++tries) {
    if ((flags & ~kKnownFlags) != 0) return -TG_EACCES;
    if ((flags & TG_GTF_type_mask) != TG_GTF_permit_access) return -TG_EACCES;
    if (std::atomic_ref<uint16_t>(e.domid).load(std::memory_order_relaxed) != user) return -TG_EACCES;
    if (write && (flags & TG_GTF_readonly)) return -TG_EACCES;
    if (flags_of(e).compare_exchange_weak(flags, flags | busy_bit, std::memory_order_acq_rel)) return 0;
  }
  return -TG_EACCES;
}

GrantUse GrantTable::use_locked(uint16_t user, uint32_t ref, bool write) {
  tg_grant_entry_v1* e = entry(ref);
  if (e == nullptr) return GrantUse(-TG_ENOENT);
  Active& a = active_[ref];
  uint16_t& count = write ? a.writers : a.readers;
  if (count == UINT16_MAX) return GrantUse(-TG_EBUSY);
  if (int err = claim_entry(*e, user, write); err != 0) return GrantUse(err);
  ++count;
  // The frame is read only now that the entry is claimed (ABI.md 12.2).
  uint64_t gfn = std::atomic_ref<uint32_t>(e->frame).load(std::memory_order_relaxed);
  if (int err = mmu_.hold_for_io(gfn); err != 0) {
    --count;
    if (count == 0) flags_of(*e).fetch_and(static_cast<uint16_t>(~(write ? TG_GTF_writing : TG_GTF_reading)));
    return GrantUse(err);
  }
  return GrantUse(this, ref, gfn, write, memory_.ram(gfn << 12, 4096));
}

void GrantTable::end(uint32_t ref, uint64_t gfn, bool write) {
  std::lock_guard lock(mmu_.frame_lock());
  end_locked(ref, gfn, write);
}

void GrantTable::page_written(uint64_t gfn) {
  dirty_pages_.fetch_add(1, std::memory_order_relaxed);
  memory_.note_written(gfn << 12, 4096);
  if (dirty_hook_) dirty_hook_(gfn);
}

void GrantTable::end_locked(uint32_t ref, uint64_t gfn, bool write) {
  if (write) page_written(gfn);
  mmu_.release_io(gfn);
  Active& a = active_.at(ref);
  uint16_t& count = write ? a.writers : a.readers;
  if (--count == 0) {
    // The table only grows, so the entry is still there; a guest that
    // overwrote the flags meanwhile loses nothing but its own bits.
    flags_of(*entry(ref))
        .fetch_and(static_cast<uint16_t>(~(write ? TG_GTF_writing : TG_GTF_reading)), std::memory_order_release);
  }
}

int GrantTable::map(uint32_t ref, bool readonly, uint64_t host_addr, uint64_t* gfn, uint32_t* handle) {
  size_t slot = 0;
  while (slot < maps_.size() && maps_[slot].used) ++slot;
  if (slot == TG_GNTTAB_MAX_MAPS) return -TG_ENOSPC;
  GrantUse u = use_locked(TG_DOMID_VMM, ref, !readonly);
  if (!u.ok()) return u.error();
  if (slot == maps_.size()) maps_.emplace_back();
  // The use outlives this call: the slot keeps what end() needs.
  maps_[slot] = {true, ref, {host_addr, 0, readonly}};
  *gfn = maps_[slot].m.gfn = ((u.page() - memory_.ram_base()) >> 12);
  u.detach();  // unmap() ends it
  *handle = static_cast<uint32_t>(slot);
  return 0;
}

int GrantTable::unmap(uint32_t handle, uint64_t host_addr, Mapping* was) {
  if (handle >= maps_.size() || !maps_[handle].used || maps_[handle].m.host_addr != host_addr) return -TG_EINVAL;
  MapSlot& s = maps_[handle];
  *was = s.m;
  s.used = false;
  end_locked(s.ref, s.m.gfn, !s.m.readonly);
  return 0;
}

GrantTableState GrantTable::save() const {
  GrantTableState out{frames_, {}};
  for (size_t h = 0; h < maps_.size(); ++h) {
    const MapSlot& s = maps_[h];
    if (s.used) out.maps.push_back({static_cast<uint32_t>(h), s.ref, s.m.host_addr, s.m.gfn, s.m.readonly});
  }
  return out;
}

// Uses beyond the guest's own mappings are backends' (requests in flight).
bool GrantTable::in_use_by_backends() const {
  std::vector<Active> mapped(active_.size());
  for (const MapSlot& s : maps_) {
    if (s.used) ++(s.m.readonly ? mapped[s.ref].readers : mapped[s.ref].writers);
  }
  for (size_t r = 0; r < active_.size(); ++r) {
    if (active_[r].readers != mapped[r].readers || active_[r].writers != mapped[r].writers) return true;
  }
  return false;
}

void GrantTable::restore(const GrantTableState& state) {
  if (!frames_.empty()) throw std::logic_error("grant table restored twice");
  if (!state.frames.empty()) {
    if (int err = setup(state.frames); err != 0) {
      throw std::invalid_argument("grant table: its frames are not the domain's free RAM (error " +
                                  std::to_string(err) + ")");
    }
  }
  restore_maps(state.maps);
}

void GrantTable::restore_maps(const std::vector<GrantTableState::Map>& maps) {
  for (const GrantTableState::Map& m : maps) {
    if (m.handle >= TG_GNTTAB_MAX_MAPS || m.ref >= nr_entries()) {
      throw std::invalid_argument("grant table: mapping " + std::to_string(m.handle) + " out of range");
    }
    if (m.handle >= maps_.size()) maps_.resize(m.handle + 1);
    if (maps_[m.handle].used) throw std::invalid_argument("grant table: mapping handle used twice");
    Active& a = active_[m.ref];
    uint16_t& count = m.readonly ? a.readers : a.writers;
    if (count == UINT16_MAX || mmu_.hold_for_io(m.gfn) != 0) {
      throw std::invalid_argument("grant table: mapping " + std::to_string(m.handle) +
                                  " of a frame that cannot be mapped");
    }
    ++count;
    maps_[m.handle] = {true, m.ref, {m.host_addr, m.gfn, m.readonly}};
  }
}

const GrantTable::Mapping* GrantTable::mapping(uint32_t handle) const {
  return handle < maps_.size() && maps_[handle].used ? &maps_[handle].m : nullptr;
}

}  // namespace tortuga
