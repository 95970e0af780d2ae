// Thin RAII wrappers over the documented /dev/kvm API: the system handle,
// one VM, and its vCPUs. Nothing here knows about Tortuga's guest model.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "host_mapping.h"
#include "unique_fd.h"

namespace tortuga {

// Raised when a KVM ioctl fails: the host cannot run the domain.
class KvmError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Kvm {
 public:
  explicit Kvm(const std::string& device = "/dev/kvm");
  int fd() const { return fd_.get(); }
  int check_extension(long cap) const;
  size_t vcpu_mmap_size() const;
  std::vector<kvm_cpuid_entry2> supported_cpuid() const;

 private:
  UniqueFd fd_;
};

class KvmVcpu {
 public:
  KvmVcpu(int vcpu_fd, size_t mmap_size);
  int fd() const { return fd_.get(); }
  kvm_run* run() const { return run_; }

  // KVM_RUN; returns false when interrupted by a signal (EINTR).
  bool enter();
  kvm_regs& regs() { return run_->s.regs.regs; }
  kvm_sregs& sregs() { return run_->s.regs.sregs; }
  void mark_regs_dirty() { run_->kvm_dirty_regs |= KVM_SYNC_X86_REGS; }
  void mark_sregs_dirty() { run_->kvm_dirty_regs |= KVM_SYNC_X86_SREGS; }

  void set_sregs(const kvm_sregs& s);
  kvm_sregs get_sregs();
  void set_regs(const kvm_regs& r);
  kvm_regs get_regs();
  void set_msrs(const std::vector<kvm_msr_entry>& entries);
  uint64_t get_msr(uint32_t index);
  // The FPU/SSE/AVX state as the XSAVE area (KVM_GET_XSAVE's 4 KiB
  // region) and the extended control registers; empty when KVM lacks them.
  std::vector<uint8_t> get_xsave();
  void set_xsave(const std::vector<uint8_t>& region);
  std::vector<std::pair<uint32_t, uint64_t>> get_xcrs();
  void set_xcrs(const std::vector<std::pair<uint32_t, uint64_t>>& xcrs);
  void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
  // True while KVM holds an exception it has started to deliver (or will):
  // the vCPU is then not at an instruction boundary of the guest's.
  bool exception_in_flight();
  // TSC frequency of this vCPU in kHz, or 0 when KVM cannot tell.
  uint64_t tsc_khz();

 private:
  UniqueFd fd_;
  HostMapping run_mapping_;
  kvm_run* run_ = nullptr;
};

class KvmVm {
 public:
  explicit KvmVm(const Kvm& kvm);
  int fd() const { return fd_.get(); }
  void set_memory_region(uint32_t slot, uint64_t gpa, uint8_t* host, size_t size, uint32_t flags = 0);
  KvmVcpu create_vcpu(uint32_t id);
  // Dirty logging of a memory slot (KVM_MEM_LOG_DIRTY_PAGES): the slot is
  // registered again with the flag set or cleared. get_dirty_log fills
  // `bitmap` (one bit per page of the slot) with the pages the guest wrote
  // since the last call, and KVM starts the next log afresh.
  void set_dirty_logging(uint32_t slot, uint64_t gpa, uint8_t* host, size_t size, bool on);
  void get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap);
  // Registers an ioeventfd: a guest store of `len` bytes at gpa signals fd
  // inside the host kernel, with no exit to the VMM.
  void add_ioeventfd(uint64_t gpa, uint32_t len, int eventfd);
  void remove_ioeventfd(uint64_t gpa, uint32_t len, int eventfd);

 private:
  const Kvm& kvm_;
  UniqueFd fd_;
};

}  // namespace tortuga
