// How a backend reaches guest memory: only through grants (ABI.md 12.2).
// The hypervisor's GrantTable implements this; backends see nothing else of
// the guest, so a backend cannot touch a frame the guest did not grant.
//
// A GrantUse is one use of one grant reference, held for the duration of
// one request (or one pass over a ring): while it lives, the entry carries
// TG_GTF_reading or TG_GTF_writing (so the guest cannot revoke it) and the
// frame cannot become a page table or be released. It is released, and a
// written page counted as dirty, when the GrantUse is destroyed.
#pragma once

#include <cstdint>
#include <utility>

namespace tortuga {

class GrantAccess;

class GrantUse {
 public:
  GrantUse() = default;
  GrantUse(GrantAccess* owner, uint32_t ref, uint64_t gfn, bool write, uint8_t* page)
      : owner_(owner), ref_(ref), gfn_(gfn), write_(write), page_(page) {}
  explicit GrantUse(int error) : error_(error) {}
  ~GrantUse() { reset(); }
  GrantUse(GrantUse&& o) noexcept { *this = std::move(o); }
  GrantUse& operator=(GrantUse&& o) noexcept;
  GrantUse(const GrantUse&) = delete;
  GrantUse& operator=(const GrantUse&) = delete;

  bool ok() const { return page_ != nullptr; }
  // 0 while held, else the negative TG_E* code that refused the grant.
  int error() const { return error_; }
  // The host mapping of the granted 4 KiB page; valid while held.
  uint8_t* page() const { return page_; }
  uint32_t ref() const { return ref_; }
  bool writable() const { return write_; }
  void reset();
  // The owner keeps the use going past this object (a guest map_grant_ref
  // that lasts until unmap); it is ended by the owner, not here.
  void detach() {
    owner_ = nullptr;
    page_ = nullptr;
  }

 private:
  GrantAccess* owner_ = nullptr;
  uint32_t ref_ = 0;
  uint64_t gfn_ = 0;
  bool write_ = false;
  uint8_t* page_ = nullptr;
  int error_ = 0;
};

class GrantAccess {
 public:
  virtual ~GrantAccess() = default;
  // Starts a use of grant ref by domain `user` (TG_DOMID_VMM for backends)
  // for reading or (write) reading and writing: ABI.md 12.2 step 2.
  virtual GrantUse use(uint16_t user, uint32_t ref, bool write) = 0;

 protected:
  friend class GrantUse;
  // Ends a use started by use(): clears the in-use bit when it was the last
  // use of the reference, lets the frame be retyped, and counts a written
  // page as dirty.
  virtual void end(uint32_t ref, uint64_t gfn, bool write) = 0;
};

inline void GrantUse::reset() {
  if (owner_ != nullptr) owner_->end(ref_, gfn_, write_);
  owner_ = nullptr;
  page_ = nullptr;
}

inline GrantUse& GrantUse::operator=(GrantUse&& o) noexcept {
  if (this != &o) {
    reset();
    owner_ = std::exchange(o.owner_, nullptr);
    ref_ = o.ref_;
    gfn_ = o.gfn_;
    write_ = o.write_;
    page_ = std::exchange(o.page_, nullptr);
    error_ = o.error_;
  }
  return *this;
}

}  // namespace tortuga
