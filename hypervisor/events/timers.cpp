#include "events/timers.h"

#include <boost/asio/post.hpp>

namespace tortuga {

VcpuTimers::VcpuTimers(uint32_t nr_vcpus, uint64_t created_ns, Expired expired)
    : work_(boost::asio::make_work_guard(io_)), created_ns_(created_ns), expired_(std::move(expired)) {
  for (uint32_t v = 0; v < nr_vcpus; ++v) timers_.push_back(std::make_unique<boost::asio::steady_timer>(io_));
  generations_.assign(nr_vcpus, 0);
  deadlines_.assign(nr_vcpus, 0);
  thread_ = std::thread([this] { io_.run(); });
}

VcpuTimers::~VcpuTimers() {
  work_.reset();
  io_.stop();
  thread_.join();
}

void VcpuTimers::arm(uint32_t vcpu, uint64_t deadline_ns) {
  set_deadline(vcpu, deadline_ns);
  auto when = std::chrono::steady_clock::time_point(std::chrono::nanoseconds(created_ns_ + deadline_ns));
  // Timers belong to the io_context's thread: change them there.
  boost::asio::post(io_, [this, vcpu, when, deadline_ns] {
    auto& timer = *timers_.at(vcpu);
    // A completion already queued for the old deadline must not fire:
    // only the newest arming of a vCPU's timer counts.
    uint64_t generation = ++generations_.at(vcpu);
    timer.expires_at(when);  // cancels a wait in progress
    timer.async_wait([this, vcpu, generation, deadline_ns](const boost::system::error_code& error) {
      if (!error && generations_.at(vcpu) == generation) {
        // Only this arming's deadline: a newer one set but not yet posted stays.
        clear_deadline(vcpu, deadline_ns);
        expired_(vcpu);
      }
    });
  });
}

void VcpuTimers::disarm(uint32_t vcpu) {
  set_deadline(vcpu, 0);
  boost::asio::post(io_, [this, vcpu] {
    ++generations_.at(vcpu);
    timers_.at(vcpu)->cancel();
  });
}

uint64_t VcpuTimers::deadline(uint32_t vcpu) const {
  std::lock_guard lock(deadlines_mutex_);
  return deadlines_.at(vcpu);
}

void VcpuTimers::set_deadline(uint32_t vcpu, uint64_t deadline_ns) {
  std::lock_guard lock(deadlines_mutex_);
  deadlines_.at(vcpu) = deadline_ns;
}

void VcpuTimers::clear_deadline(uint32_t vcpu, uint64_t deadline_ns) {
  std::lock_guard lock(deadlines_mutex_);
  if (deadlines_.at(vcpu) == deadline_ns) deadlines_.at(vcpu) = 0;
}

}  // namespace tortuga
