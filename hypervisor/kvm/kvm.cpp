#include "kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstddef>
#include <algorithm>
#include <cstring>
#include <memory>

#include <fmt/format.h>

namespace tortuga {
namespace {

// <linux/kvm.h> declares kvm_cpuid2 and kvm_msrs with __DECLARE_FLEX_ARRAY,
// which C++ sizes as 12 bytes instead of C's 8, and the ioctl numbers encode
// that size. These are the numbers as the kernel defines them.
struct FlexHeader {
  uint32_t count;
  uint32_t padding;
};
constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, FlexHeader);
constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, FlexHeader);
constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, FlexHeader);
constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, FlexHeader);

// kvm_xsave ends in a flexible array too (4100 bytes in C++, 4096 in C).
struct XsaveBuffer {
  uint32_t region[1024];
};
constexpr unsigned long kGetXsave = _IOR(KVMIO, 0xa4, XsaveBuffer);
constexpr unsigned long kSetXsave = _IOW(KVMIO, 0xa5, XsaveBuffer);

// The same structures laid out as the kernel expects them.
constexpr size_t kMaxCpuidEntries = 256, kMaxMsrs = 32;
struct CpuidBuffer {
  FlexHeader header;
  kvm_cpuid_entry2 entries[kMaxCpuidEntries];
};
struct MsrBuffer {
  FlexHeader header;
  kvm_msr_entry entries[kMaxMsrs];
};

[[noreturn]] void fail(const char* what) { throw KvmError(fmt::format("{}: {}", what, std::strerror(errno))); }

}  // namespace

HostMapping HostMapping::anonymous(size_t size) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error(fmt::format("mmap {} bytes: {}", size, std::strerror(errno)));
  return HostMapping(p, size);
}

Kvm::Kvm(const std::string& device) : fd_(::open(device.c_str(), O_RDWR | O_CLOEXEC)) {
  if (!fd_.valid()) throw KvmError(fmt::format("open {}: {}", device, std::strerror(errno)));
  int version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
  if (version != KVM_API_VERSION) throw KvmError(fmt::format("KVM API version {} (need {})", version, KVM_API_VERSION));
  for (long cap : {KVM_CAP_SYNC_REGS, KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_IOEVENTFD}) {
    if (check_extension(cap) <= 0) throw KvmError(fmt::format("KVM lacks capability {}", cap));
  }
}

int Kvm::check_extension(long cap) const { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap); }

size_t Kvm::vcpu_mmap_size() const {
  int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size <= 0) fail("KVM_GET_VCPU_MMAP_SIZE");
  return static_cast<size_t>(size);
}

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const {
  auto buf = std::make_unique<CpuidBuffer>();
  buf->header.count = kMaxCpuidEntries;
  if (::ioctl(fd_.get(), kGetSupportedCpuid, buf.get()) < 0) fail("KVM_GET_SUPPORTED_CPUID");
  return {buf->entries, buf->entries + buf->header.count};
}

KvmVm::KvmVm(const Kvm& kvm) : kvm_(kvm), fd_(::ioctl(kvm.fd(), KVM_CREATE_VM, 0)) {
  if (!fd_.valid()) fail("KVM_CREATE_VM");
}

void KvmVm::set_memory_region(uint32_t slot, uint64_t gpa, uint8_t* host, size_t size, uint32_t flags) {
  kvm_userspace_memory_region region{};
  region.slot = slot;
  region.flags = flags;
  region.guest_phys_addr = gpa;
  region.memory_size = size;
  region.userspace_addr = reinterpret_cast<uint64_t>(host);
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0) fail("KVM_SET_USER_MEMORY_REGION");
}

void KvmVm::set_dirty_logging(uint32_t slot, uint64_t gpa, uint8_t* host, size_t size, bool on) {
  set_memory_region(slot, gpa, host, size, on ? KVM_MEM_LOG_DIRTY_PAGES : 0);
}

void KvmVm::get_dirty_log(uint32_t slot, std::span<uint64_t> bitmap) {
  kvm_dirty_log log{};
  log.slot = slot;
  log.dirty_bitmap = bitmap.data();
  if (::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) < 0) fail("KVM_GET_DIRTY_LOG");
}

KvmVcpu KvmVm::create_vcpu(uint32_t id) {
  int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, id);
  if (fd < 0) fail("KVM_CREATE_VCPU");
  return KvmVcpu(fd, kvm_.vcpu_mmap_size());
}

void KvmVm::add_ioeventfd(uint64_t gpa, uint32_t len, int eventfd) {
  kvm_ioeventfd io{};
  io.addr = gpa;
  io.len = len;
  io.fd = eventfd;
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &io) < 0) fail("KVM_IOEVENTFD");
}

void KvmVm::remove_ioeventfd(uint64_t gpa, uint32_t len, int eventfd) {
  kvm_ioeventfd io{};
  io.addr = gpa;
  io.len = len;
  io.fd = eventfd;
  io.flags = KVM_IOEVENTFD_FLAG_DEASSIGN;
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &io) < 0) fail("KVM_IOEVENTFD deassign");
}

KvmVcpu::KvmVcpu(int vcpu_fd, size_t mmap_size) : fd_(vcpu_fd) {
  void* p = ::mmap(nullptr, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_.get(), 0);
  if (p == MAP_FAILED) fail("mmap kvm_run");
  run_mapping_ = HostMapping(p, mmap_size);
  run_ = static_cast<kvm_run*>(p);
  run_->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
}

bool KvmVcpu::enter() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return true;
  if (errno == EINTR || errno == EAGAIN) return false;
  fail("KVM_RUN");
}

bool KvmVcpu::exception_in_flight() {
  kvm_vcpu_events events{};
  if (::ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &events) < 0) fail("KVM_GET_VCPU_EVENTS");
  return events.exception.injected || events.exception.pending || events.nmi.injected || events.interrupt.injected;
}

void KvmVcpu::set_sregs(const kvm_sregs& s) {
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &s) < 0) fail("KVM_SET_SREGS");
}

kvm_sregs KvmVcpu::get_sregs() {
  kvm_sregs s{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) fail("KVM_GET_SREGS");
  return s;
}

void KvmVcpu::set_regs(const kvm_regs& r) {
  if (::ioctl(fd_.get(), KVM_SET_REGS, &r) < 0) fail("KVM_SET_REGS");
}

kvm_regs KvmVcpu::get_regs() {
  kvm_regs r{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &r) < 0) fail("KVM_GET_REGS");
  return r;
}

std::vector<uint8_t> KvmVcpu::get_xsave() {
  auto x = std::make_unique<XsaveBuffer>();
  if (::ioctl(fd_.get(), kGetXsave, x.get()) < 0) {
    if (errno == EINVAL || errno == ENOTTY) return {};  // no XSAVE on this host
    fail("KVM_GET_XSAVE");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(x->region);
  return {p, p + sizeof x->region};
}

void KvmVcpu::set_xsave(const std::vector<uint8_t>& region) {
  auto x = std::make_unique<XsaveBuffer>();
  if (region.size() != sizeof x->region) throw KvmError("XSAVE area of the wrong size");
  std::memcpy(x->region, region.data(), region.size());
  if (::ioctl(fd_.get(), kSetXsave, x.get()) < 0) fail("KVM_SET_XSAVE");
}

std::vector<std::pair<uint32_t, uint64_t>> KvmVcpu::get_xcrs() {
  kvm_xcrs x{};
  if (::ioctl(fd_.get(), KVM_GET_XCRS, &x) < 0) {
    if (errno == EINVAL || errno == ENOTTY) return {};
    fail("KVM_GET_XCRS");
  }
  std::vector<std::pair<uint32_t, uint64_t>> out;
  for (uint32_t i = 0; i < x.nr_xcrs && i < KVM_MAX_XCRS; ++i) out.emplace_back(x.xcrs[i].xcr, x.xcrs[i].value);
  return out;
}

void KvmVcpu::set_xcrs(const std::vector<std::pair<uint32_t, uint64_t>>& xcrs) {
  kvm_xcrs x{};
  if (xcrs.size() > KVM_MAX_XCRS) throw KvmError("too many XCRs");
  x.nr_xcrs = static_cast<uint32_t>(xcrs.size());
  for (size_t i = 0; i < xcrs.size(); ++i) x.xcrs[i] = {xcrs[i].first, 0, xcrs[i].second};
  if (::ioctl(fd_.get(), KVM_SET_XCRS, &x) < 0) fail("KVM_SET_XCRS");
}

void KvmVcpu::set_msrs(const std::vector<kvm_msr_entry>& entries) {
  if (entries.size() > kMaxMsrs) throw KvmError("too many MSRs in one KVM_SET_MSRS");
  auto buf = std::make_unique<MsrBuffer>();
  buf->header.count = static_cast<uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), buf->entries);
  int set = ::ioctl(fd_.get(), kSetMsrs, buf.get());
  if (set < 0) fail("KVM_SET_MSRS");
  if (static_cast<size_t>(set) != entries.size()) {
    throw KvmError(fmt::format("KVM_SET_MSRS: MSR {:#x} refused", entries[static_cast<size_t>(set)].index));
  }
}

uint64_t KvmVcpu::get_msr(uint32_t index) {
  auto buf = std::make_unique<MsrBuffer>();
  buf->header.count = 1;
  buf->entries[0].index = index;
  if (::ioctl(fd_.get(), kGetMsrs, buf.get()) != 1) fail("KVM_GET_MSRS");
  return buf->entries[0].data;
}

void KvmVcpu::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
  if (entries.size() > kMaxCpuidEntries) throw KvmError("too many CPUID entries");
  auto buf = std::make_unique<CpuidBuffer>();
  buf->header.count = static_cast<uint32_t>(entries.size());
  std::copy(entries.begin(), entries.end(), buf->entries);
  if (::ioctl(fd_.get(), kSetCpuid2, buf.get()) < 0) fail("KVM_SET_CPUID2");
}

uint64_t KvmVcpu::tsc_khz() {
  int khz = ::ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0);
  return khz > 0 ? static_cast<uint64_t>(khz) : 0;
}

}  // namespace tortuga
