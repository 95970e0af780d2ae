// Stopping the other vCPUs of a domain while one of them changes its page
// tables (the PV MMU's exclusive section, for domains with several vCPUs).
//
// Each vCPU thread calls safe_point() wherever it touches nothing of the
// guest's: right after KVM_RUN returns and right before it enters again.
// A vCPU that sleeps (block, poll, waiting for another vCPU) counts as
// stopped until it wakes, and awake() holds it back while a section runs.
// begin() kicks the others and returns once every vCPU that is up is at a
// safe point or asleep; until end(), none of them reads or writes guest
// page tables, runs guest code, or sets an accessed or dirty bit. So the
// section needs no lock of its own and no atomic page-table updates.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

namespace tortuga {

class Quiesce {
 public:
  explicit Quiesce(uint32_t nr_vcpus) : state_(nr_vcpus) {}

  // Runs `kick(v)` for every other vCPU that is up, then waits until they
  // are all stopped. Returns false if `stopping()` became true first.
  bool begin(uint32_t self, const std::function<void(uint32_t)>& kick, const std::function<bool()>& stopping);
  void end(uint32_t self);

  // The toolstack's pause, from a thread that is no vCPU: like begin(), but
  // held until resume_all(); vCPUs that wake or come up meanwhile stop at
  // their first safe point. Returns false if `stopping()` became true first.
  bool pause_all(const std::function<void(uint32_t)>& kick, const std::function<bool()>& stopping);
  void resume_all() { end(kOutside); }

  void safe_point(uint32_t self) {
    if (!requested_.load(std::memory_order_acquire)) return;  // a section waits for us to get here
    park(self);
  }
  // Right after an exit, before it is handled: parks for another vCPU's
  // section only. A pause from outside lets the exit be handled first, so
  // that a paused vCPU is never left between an exit and its handling (a
  // save could not resume it there); it parks at its next safe_point(),
  // or counts as stopped if the handling sleeps.
  void safe_point_after_exit(uint32_t self) {
    if (!requested_.load(std::memory_order_acquire)) return;
    park(self, /*for_outside=*/false);
  }
  // A pause from outside is asked for or in force.
  bool pause_requested();
  void sleeping(uint32_t self);
  void awake(uint32_t self);
  // The vCPU's thread starts (up) or ends (down, domain stopped).
  void set_up(uint32_t self, bool up);

 private:
  struct State {
    bool up = false;
    bool quiet = false;  // parked at a safe point, or asleep
  };
  static constexpr uint32_t kOutside = UINT32_MAX;  // the owner of a pause
  void park(uint32_t self, bool for_outside = true);
  bool others_quiet(uint32_t self) const;
  bool claim_and_wait(std::unique_lock<std::mutex>& lock, uint32_t owner, const std::function<void(uint32_t)>& kick,
                      const std::function<bool()>& stopping);

  std::mutex mutex_;
  std::condition_variable cv_;
  std::atomic<bool> requested_{false};
  uint32_t owner_ = 0;
  std::vector<State> state_;
};

// begin() in the constructor, end() in the destructor.
class QuiesceSection {
 public:
  QuiesceSection(Quiesce& q, uint32_t self, const std::function<void(uint32_t)>& kick,
                 const std::function<bool()>& stopping)
      : q_(q), self_(self), active_(q.begin(self, kick, stopping)) {}
  ~QuiesceSection() {
    if (active_) q_.end(self_);
  }
  QuiesceSection(const QuiesceSection&) = delete;
  QuiesceSection& operator=(const QuiesceSection&) = delete;
  bool active() const { return active_; }

 private:
  Quiesce& q_;
  uint32_t self_;
  bool active_;
};

}  // namespace tortuga
