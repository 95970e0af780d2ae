// A domain: one KVM VM with its memory, vCPUs, console and fate. Built from
// a DomainConfig; the kernel is validated before any VM exists.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <tortuga/shared_info.h>

#include "devices/console.h"
#include "devices/console_input.h"
#include "domain/domain_builder.h"
#include "vcpu/exit_stats.h"
#include "memory/grant_table.h"
#include "memory/guest_memory.h"
#include "domain/kernel_image.h"
#include "devices/device_set.h"
#include "devices/device_spec.h"
#include "console_ring.h"
#include "events/doorbells.h"
#include "events/event_channels.h"
#include "kvm/kvm.h"
#include "mmu/pv_mmu.h"
#include "vcpu/quiesce.h"
#include "domain/restore_source.h"
#include "store/store.h"
#include "store/store_ring.h"
#include "events/timers.h"
#include "vcpu/vcpu.h"

namespace tortuga {

class MmuTrace;  // hypercalls/mmu_trace.h

struct DomainConfig {
  std::string name = "domain";
  std::string kernel;
  std::string initramfs;
  std::string toolstack_config;  // opaque, travels in saved images (IMAGE.md)
  std::string cmdline;
  uint64_t memory_mib = 32;
  uint32_t vcpus = 1;
  uint16_t domid = 1;           // the domain's id in its store (the toolstack's domain id)
  std::vector<DiskSpec> disks;  // cold-plugged; complete_device_specs() fills the names in
  std::vector<NicSpec> nics;
};

// The saveable part of a config into a domain's saved state (the devices
// travel in records of their own).
void copy_config_to_state(const DomainConfig& config, DomainState& state);

// How a domain ended. The numeric values are tortuga-vmm's exit codes
// (ABI.md, "Domain exit").
enum class DomainExit : int {
  kPoweroff = 0,
  kVmmError = 1,
  kKilled = 2,  // the VMM found the guest broken or hostile
  kCrash = 3,
  kReboot = 4,
  kWatchdog = 5,
  kSuspend = 6,
  kDestroyed = 7,  // stopped from outside (signal, toolstack)
  kMigrated = 8,   // live-migrated: the destination runs it now (MIGRATION.md)
};

// What a restore may change (tortuga-vmm --restore).
struct RestoreOptions {
  std::string name;  // not empty: replaces the saved name
  // A saved NIC's TAP name -> the TAP to use instead (the saving host's may
  // still exist, or the destination names its interfaces otherwise).
  std::map<std::string, std::string> taps;
};

struct DomainResult {
  DomainExit exit = DomainExit::kPoweroff;
  std::string reason;  // one line, for the user
  int exit_code() const { return static_cast<int>(exit); }
};

class Domain {
 public:
  // Throws KernelImageError (bad kernel, does not fit) or KvmError.
  Domain(const DomainConfig& config, Console& console);
  // A domain restored from a saved image (ABI.md 21; domain_restore.cpp):
  // no domain builder, memory and state (DomainState) from the source, each
  // component restored from its State, devices re-created from theirs.
  // Throws the source's ImageError, RestoreError, or KvmError.
  Domain(RestoreSource& source, Console& console, const RestoreOptions& options = {});
  ~Domain();
  Domain(const Domain&) = delete;
  Domain& operator=(const Domain&) = delete;

  // Runs every vCPU until the domain stops; returns how it ended.
  // `started`, when given, is called once the vCPUs were started (a
  // migration's destination says "running" there).
  DomainResult run(const std::function<void()>& started = {});

  // Thread-safe ways to stop; the first one wins.
  void shutdown(uint32_t tg_shutdown_reason);
  void kill(const std::string& reason);
  void destroy(const std::string& reason);
  void vmm_error(const std::string& reason);
  bool stopping() const { return stopping_.load(std::memory_order_acquire); }
  // The toolstack's pause: every vCPU stops at a safe point (quiesce.h)
  // and stays there until unpause() or the domain stops. False when the
  // domain is stopping. Both are idempotent.
  bool pause();
  void unpause();
  bool paused() const { return paused_.load(); }
  // The toolstack's record of the domain, written into saved images. Only
  // while paused: nothing else reads it then.
  void set_toolstack_config(const std::string& bytes) { config_.toolstack_config = bytes; }

  // Save (domain_save.cpp): everything but memory, from a domain the
  // caller paused: its own part and every component's save(). Throws
  // std::runtime_error when it cannot be saved now.
  // The devices are quiesced (no request in flight, none taken) and stay
  // so until unpause(); a domain that stops after its save never lets
  // them take another request, so the image file sees no write after the
  // image was taken.
  DomainState save();
  // Dirty logging for live migration (domain_dirty_log.cpp): KVM's log of
  // guest writes plus the VMM's own writes (dirty_pages.h). take returns
  // the frames written since start or the last take, always including the
  // frames the VMM shares with the guest, and starts a new round.
  void start_dirty_log();
  void stop_dirty_log();
  std::vector<uint64_t> take_dirty_pages();

  // Ends a domain that was saved (ABI.md 4.3: exit code 6).
  void saved_and_stopped(const std::string& path);
  // Ends a domain whose migration's destination runs it (exit code 8).
  void migrated(uint64_t downtime_ms);

  const DomainConfig& config() const { return config_; }
  const GuestMemory& memory() const { return *memory_; }
  PvMmu& mmu() const { return *mmu_; }
  EventChannels& events() { return *events_; }
  VcpuTimers& timers() { return *timers_; }
  Doorbells& doorbells() { return *doorbells_; }
  GrantTable& grants() { return *grants_; }
  StoreRing& store() { return *store_ring_; }

  // Hot-plug (ABI.md 17-19), thread-safe while the vCPUs run: see
  // DeviceSet. Errors are std::runtime_error with one line for the user.
  void attach_disk(const DiskSpec& spec) { devices_->attach_disk(spec); }
  void attach_nic(const NicSpec& spec) { devices_->attach_nic(spec); }
  void detach_device(const std::string& type, uint32_t id, bool force, std::chrono::milliseconds timeout) {
    devices_->detach(type, id, force, timeout);
  }
  std::vector<DeviceInfo> devices() const { return devices_->list(); }
  const IoCounters& io() const { return io_; }

  // Requests to the guest through its store (guest_control.h).
  bool request_shutdown(const std::string& what);  // true: the guest will act on it
  void set_memory_target_kib(uint64_t kib);        // throws GuestControlError
  uint64_t memory_target_kib();                    // 0 if the guest wrote nonsense there
  uint64_t memory_current_kib() const;             // RAM populated now
  Vcpu& vcpu(uint32_t id) { return *vcpus_.at(id); }
  uint32_t vcpus_up() const;
  Quiesce& quiesce() { return quiesce_; }
  // A vCPU's thread ended (down, or the domain stops).
  void vcpu_stopped();
  Console& console() { return console_; }
  const BootLayout& layout() const { return layout_; }
  tg_shared_info& shared_info();
  uint64_t tsc_khz() const { return tsc_khz_; }
  // Nanoseconds since the domain was created: the guest's system time.
  uint64_t system_time_ns() const;
  ExitStats stats() const;
  // tortuga-vmm --trace-mmu: set before run(); nullptr when not tracing.
  void set_mmu_trace(std::unique_ptr<MmuTrace> trace);
  MmuTrace* mmu_trace() const { return mmu_trace_.get(); }

 private:
  void stop(DomainExit exit, const std::string& reason);
  void create_machine();
  void write_wall_clock();
  void restore(const DomainState& state, const RestoreOptions& options);
  void restore_page_types(const DomainState& state);
  void restore_vcpus(const DomainState& state);
  void restore_devices(const DomainState& state, const std::map<std::string, std::string>& taps);
  void resume_after_restore();
  void adopt_boot_memory();
  void start_clocks_and_events();
  // port 0: allocate one (boot); else the restored domain's port.
  void attach_console_ring(uint32_t port = 0);
  void attach_store(uint32_t port = 0);
  void plug_cold_devices();

  DomainConfig config_;
  Console& console_;
  std::unique_ptr<MmuTrace> mmu_trace_;  // before the vCPUs: they write to it until they go
  KernelImage kernel_;
  Kvm kvm_;
  KvmVm vm_;
  std::unique_ptr<GuestMemory> memory_;
  std::unique_ptr<PvMmu> mmu_;
  std::unique_ptr<GrantTable> grants_;
  std::unique_ptr<EventChannels> events_;
  std::unique_ptr<VcpuTimers> timers_;
  std::unique_ptr<Doorbells> doorbells_;
  std::unique_ptr<ConsoleRing> console_ring_;
  std::unique_ptr<ConsoleInput> console_input_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<StoreRing> store_ring_;
  IoCounters io_;  // before devices_: their backends add to it until they go
  std::unique_ptr<DeviceSet> devices_;
  BootLayout layout_;
  uint64_t tsc_khz_ = 0;
  uint64_t created_ns_ = 0;
  std::vector<std::unique_ptr<Vcpu>> vcpus_;
  std::vector<uint32_t> start_vcpus_{0};  // started by run()
  bool restored_ = false;
  uint32_t console_port_ = 0, store_port_ = 0;
  std::unique_ptr<DirtyPages> dirty_;

  Quiesce quiesce_;
  std::atomic<bool> stopping_{false};
  std::mutex pause_mutex_;
  std::atomic<bool> paused_{false};
  std::condition_variable stopped_cv_;
  std::mutex result_mutex_;
  DomainResult result_;
};

}  // namespace tortuga
