#include "domain/domain.h"

#include <ctime>
#include <fstream>
#include <iterator>
#include <thread>

#include <fmt/format.h>
#include <tortuga/event_channel.h>
#include <tortuga/hypercall.h>
#include <tortuga/start_info.h>

#include "hypercalls/hypercall_table.h"
#include "hypercalls/mmu_trace.h"
#include "store/guest_control.h"
#include "vcpu/reserved_area.h"
#include "store/store_layout.h"

namespace tortuga {
namespace {

constexpr uint64_t kMaxMemoryMib = reserved_area::kGpa >> 20;
constexpr uint32_t kRamSlot = 0, kReservedSlot = 1;
// Doorbell pages: right above the VMM's area, in no memslot.
constexpr uint64_t kDoorbellGpa = reserved_area::kGpa + reserved_area::kSize;

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

std::vector<uint8_t> read_initramfs(const std::string& path) {
  if (path.empty()) return {};
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KernelImageError(fmt::format("cannot open initramfs {}", path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void validate(const DomainConfig& c) {
  if (c.memory_mib < 1 || c.memory_mib > kMaxMemoryMib) {
    throw KernelImageError(fmt::format("memory must be between 1 and {} MiB, not {}", kMaxMemoryMib, c.memory_mib));
  }
  if (c.vcpus < 1 || c.vcpus > TG_MAX_VCPUS) {
    throw KernelImageError(fmt::format("vcpus must be between 1 and {}, not {}", TG_MAX_VCPUS, c.vcpus));
  }
  if (c.domid < TG_DOMID_FIRST_GUEST || c.domid > TG_DOMID_MAX_GUEST) {
    throw KernelImageError(
        fmt::format("domid must be between {} and {}, not {}", TG_DOMID_FIRST_GUEST, TG_DOMID_MAX_GUEST, c.domid));
  }
  // Names filled in and duplicates refused before any VM exists.
  std::vector<DiskSpec> disks = c.disks;
  std::vector<NicSpec> nics = c.nics;
  complete_device_specs(disks, nics);
}

DomainConfig checked(DomainConfig c) {
  validate(c);
  return c;
}

}  // namespace

Domain::Domain(RestoreSource& source, Console& console, const RestoreOptions& options)
    : config_(checked(source.config())), console_(console), vm_(kvm_), quiesce_(config_.vcpus) {
  if (!options.name.empty()) config_.name = options.name;
  create_machine();
  source.read_memory(*memory_);
  restore(source.read_state(), options);
}

Domain::Domain(const DomainConfig& config, Console& console)
    : config_(config),
      console_(console),
      kernel_((validate(config), load_kernel_image(config.kernel))),
      vm_(kvm_),
      quiesce_(config.vcpus) {
  created_ns_ = monotonic_ns();
  create_machine();
  BootParams params{config.cmdline, read_initramfs(config.initramfs), config.vcpus, tsc_khz_};
  check_required_features(kernel_, hypercalls::offered_features());
  layout_ = build_domain(*memory_, kernel_, params);
  adopt_boot_memory();
  start_clocks_and_events();
  attach_store();
  plug_cold_devices();
  vcpus_[0]->boot(layout_);
}

// The VM, its memory with the VMM's reserved area, the PV MMU, the grant
// table and the vCPUs: what a booted and a restored domain share.
void Domain::create_machine() {
  memory_ = std::make_unique<GuestMemory>(config_.memory_mib << 20, reserved_area::kGpa, reserved_area::kSize);
  reserved_area::build(*memory_, config_.vcpus);
  mmu_ = std::make_unique<PvMmu>(*memory_, config_.vcpus, kDoorbellGpa >> 12, Doorbells::kPages);
  grants_ = std::make_unique<GrantTable>(*memory_, *mmu_);
  vm_.set_memory_region(kRamSlot, 0, memory_->ram_base(), memory_->ram_size());
  vm_.set_memory_region(kReservedSlot, memory_->reserved_gpa(), memory_->reserved_base(), memory_->reserved_size());
  for (uint32_t id = 0; id < config_.vcpus; ++id) {
    vcpus_.push_back(std::make_unique<Vcpu>(*this, id, vm_.create_vcpu(id)));
  }
  tsc_khz_ = vcpus_[0]->tsc_khz();
}

Domain::~Domain() {
  // Their threads raise events on the vCPUs and call the backends: stop them first.
  console_input_.reset();
  if (devices_) devices_->shutdown();  // their threads answer through the rings and raise events
  timers_.reset();
  doorbells_.reset();
  devices_.reset();
}

// The builder wrote the bootstrap tables directly (nothing has run yet);
// from here on the PV MMU owns them: the shared pages are the VMM's, and
// the bootstrap L4 is pinned, which types and counts every table under it.
void Domain::adopt_boot_memory() {
  for (uint64_t gpa : {layout_.shared_info_gpa, layout_.console_ring_gpa, layout_.store_ring_gpa}) {
    mmu_->set_vmm_frame(gpa >> 12);
  }
  ApplyProgram program;
  mmu_->adopt_boot_tables(layout_.page_tables_gpa >> 12, program);
  program.apply_to(*memory_);
  mmu_->applied();
}

// The wall clock at system time 0, the event channels, and the timers that
// raise VIRQ_TIMER.
void Domain::start_clocks_and_events() {
  write_wall_clock();
  events_ = std::make_unique<EventChannels>(
      shared_info(), config_.vcpus, [this](uint32_t v, bool unmasked) { vcpus_.at(v)->notify_event(unmasked); });
  timers_ = std::make_unique<VcpuTimers>(config_.vcpus, created_ns_,
                                         [this](uint32_t v) { events_->raise_virq(v, TG_VIRQ_TIMER); });
  attach_console_ring();
}

// The wall clock at system time 0 (ABI.md 6.2), under the version
// protocol: at start and again after a restore.
void Domain::write_wall_clock() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t realtime_ns = static_cast<uint64_t>(now.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(now.tv_nsec);
  uint64_t at_zero = realtime_ns - system_time_ns();
  tg_wall_clock& wc = shared_info().wc;
  wc.version |= 1;  // odd while it changes, whatever the image said
  __atomic_thread_fence(__ATOMIC_RELEASE);
  wc.sec = at_zero / 1'000'000'000ULL;
  wc.nsec = static_cast<uint32_t>(at_zero % 1'000'000'000ULL);
  __atomic_thread_fence(__ATOMIC_RELEASE);
  wc.version += 1;
}

// The console ring's backend, on the first port, with its doorbell
// (ABI.md 5.2, 9.6, 20): the guest's console output costs no exit.
void Domain::attach_console_ring(uint32_t port) {
  doorbells_ = std::make_unique<Doorbells>(vm_, kDoorbellGpa);
  if (port == 0 && events_->alloc_unbound(TG_DOMID_VMM, &port) != 0) throw std::logic_error("no port for the console");
  console_port_ = port;
  auto* ring = memory_->ram_object<tg_console_ring>(layout_.console_ring_gpa);
  console_ring_ = std::make_unique<ConsoleRing>(
      *ring, [this](std::span<const uint8_t> bytes) { console_.write(bytes); },
      [this, port] { events_->raise_backend_port(port); });
  if (events_->bind_backend(
          port, [this] { console_ring_->notified(); }, [this, port] { doorbells_->stop_listening(port); }) != 0) {
    throw RestoreError("the console's port is not an unbound port");
  }
  doorbells_->listen(port, [this] { console_ring_->notified(); });
  // Console input goes to the ring (ABI.md 7.0, 20): console_io READ returns 0.
  if (console_.input_fd() >= 0) console_input_ = std::make_unique<ConsoleInput>(console_.input_fd(), *console_ring_);
  auto* si = memory_->ram_object<tg_start_info>(layout_.start_info_gpa);
  si->console_evtchn = port;
  si->doorbell_gpa = kDoorbellGpa;
  si->nr_doorbell_pages = Doorbells::kPages;
}

// The store (ABI.md 16) on its ring page and port, filled with the
// domain's home under the domain id the toolstack gave (--domid).
void Domain::attach_store(uint32_t port) {
  store_ = std::make_unique<Store>(config_.domid);
  fill_domain_store(*store_, config_.name, config_.memory_mib * 1024);
  if (port == 0 && events_->alloc_unbound(TG_DOMID_VMM, &port) != 0) throw std::logic_error("no port for the store");
  store_port_ = port;
  auto* ring = memory_->ram_object<tg_store_ring>(layout_.store_ring_gpa);
  store_ring_ = std::make_unique<StoreRing>(*ring, *store_, [this, port] { events_->raise_backend_port(port); });
  if (events_->bind_backend(
          port, [this] { store_ring_->notified(); }, [this, port] { doorbells_->stop_listening(port); }) != 0) {
    throw RestoreError("the store's port is not an unbound port");
  }
  doorbells_->listen(port, [this] { store_ring_->notified(); });
  memory_->ram_object<tg_start_info>(layout_.start_info_gpa)->store_evtchn = port;
}

// The disks and NICs of the command line, in the store before the guest
// starts (cold-plug, ABI.md 17.1).
void Domain::plug_cold_devices() {
  devices_ = std::make_unique<DeviceSet>(
      DeviceSet::Parts{*store_ring_, *events_, *doorbells_, *grants_, config_.domid, config_.name, &io_});
  std::vector<DiskSpec> disks = config_.disks;
  std::vector<NicSpec> nics = config_.nics;
  complete_device_specs(disks, nics);
  for (const DiskSpec& d : disks) devices_->attach_disk(d);
  for (const NicSpec& n : nics) devices_->attach_nic(n);
}

bool Domain::request_shutdown(const std::string& what) { return request_guest_shutdown(*store_ring_, what); }

void Domain::set_memory_target_kib(uint64_t kib) { set_balloon_target(*store_ring_, kib, config_.memory_mib * 1024); }

uint64_t Domain::memory_target_kib() { return balloon_target_kib(*store_ring_).value_or(0); }

uint64_t Domain::memory_current_kib() const { return mmu_->populated_frames() * 4; }

tg_shared_info& Domain::shared_info() { return *memory_->ram_object<tg_shared_info>(layout_.shared_info_gpa); }

uint64_t Domain::system_time_ns() const { return monotonic_ns() - created_ns_; }

// vCPU 0 starts at the entry point; the others when the guest brings them
// up (vcpu_op). Each runs on its own thread until the domain stops.
DomainResult Domain::run(const std::function<void()>& started) {
  for (uint32_t v : start_vcpus_) vcpus_.at(v)->start();
  if (restored_) resume_after_restore();
  if (started) started();
  {
    std::unique_lock lock(result_mutex_);
    stopped_cv_.wait(lock, [&] { return stopping_.load(); });
  }
  // A vCPU may bring another up just as the domain stops: join until no
  // thread is left (start() refuses once the domain is stopping).
  for (bool joined = true; joined;) {
    joined = false;
    for (auto& v : vcpus_) v->kick();
    for (auto& v : vcpus_) joined = v->join() || joined;
  }
  std::lock_guard lock(result_mutex_);
  return result_;
}

uint32_t Domain::vcpus_up() const {
  uint32_t n = 0;
  for (const auto& v : vcpus_) n += v->is_up() ? 1 : 0;
  return n;
}

void Domain::vcpu_stopped() {
  std::lock_guard lock(result_mutex_);
  stopped_cv_.notify_all();
}

void Domain::stop(DomainExit exit, const std::string& reason) {
  // Everything under the lock: run() cannot return (and the domain cannot
  // be destroyed under a thread that stops it from outside, such as the
  // signal watcher) until the vCPUs were kicked.
  std::lock_guard lock(result_mutex_);
  if (stopping_.load()) return;
  result_ = {exit, reason};
  stopping_.store(true, std::memory_order_release);
  stopped_cv_.notify_all();
  for (auto& v : vcpus_) v->kick();
  // Parked vCPUs must see the stop: they leave through the kick above.
  unpause();
}

bool Domain::pause() {
  std::lock_guard lock(pause_mutex_);
  if (paused_.load()) return true;
  if (stopping()) return false;
  bool done = quiesce_.pause_all([this](uint32_t v) { vcpus_.at(v)->kick(); }, [this] { return stopping(); });
  paused_.store(done);
  // A stop that raced with the pause must not leave the vCPUs parked.
  if (done && stopping()) {
    quiesce_.resume_all();
    paused_.store(false);
    return false;
  }
  return done;
}

void Domain::unpause() {
  std::lock_guard lock(pause_mutex_);
  if (!paused_.load()) return;
  // Devices quiesced by a save take requests again, before the vCPUs run;
  // never in a domain that stops (its image is all the disk may see).
  if (devices_ && !stopping()) devices_->resume();
  quiesce_.resume_all();
  paused_.store(false);
}

void Domain::shutdown(uint32_t reason) {
  static constexpr DomainExit kExit[TG_NR_SHUTDOWN_REASONS] = {
      DomainExit::kPoweroff, DomainExit::kReboot, DomainExit::kSuspend, DomainExit::kCrash, DomainExit::kWatchdog};
  static constexpr const char* kName[TG_NR_SHUTDOWN_REASONS] = {"poweroff", "reboot", "suspend", "crash", "watchdog"};
  stop(kExit[reason], fmt::format("guest shut down: {}", kName[reason]));
}

void Domain::kill(const std::string& reason) { stop(DomainExit::kKilled, fmt::format("guest killed: {}", reason)); }

void Domain::vmm_error(const std::string& reason) { stop(DomainExit::kVmmError, fmt::format("VMM error: {}", reason)); }

void Domain::saved_and_stopped(const std::string& path) {
  stop(DomainExit::kSuspend, fmt::format("saved to {}", path));
}

void Domain::migrated(uint64_t downtime_ms) {
  stop(DomainExit::kMigrated, fmt::format("migrated: downtime {} ms", downtime_ms));
}

void Domain::destroy(const std::string& reason) { stop(DomainExit::kDestroyed, fmt::format("destroyed: {}", reason)); }

void Domain::set_mmu_trace(std::unique_ptr<MmuTrace> trace) { mmu_trace_ = std::move(trace); }

ExitStats Domain::stats() const {
  ExitStats total;
  for (const auto& v : vcpus_) total.add(v->stats());
  return total;
}

}  // namespace tortuga
