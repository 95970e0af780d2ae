// The one-shot timer of every vCPU (ABI.md 10), on Boost.Asio: one thread
// per domain runs an io_context with a steady_timer per vCPU. Deadlines
// are absolute system time (ns since the domain was created, on
// CLOCK_MONOTONIC, which is std::chrono::steady_clock on Linux).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace tortuga {

class VcpuTimers {
 public:
  using Expired = std::function<void(uint32_t vcpu)>;
  // created_ns: CLOCK_MONOTONIC at system time 0.
  VcpuTimers(uint32_t nr_vcpus, uint64_t created_ns, Expired expired);
  ~VcpuTimers();
  VcpuTimers(const VcpuTimers&) = delete;
  VcpuTimers& operator=(const VcpuTimers&) = delete;

  // Replaces the vCPU's deadline; the callback runs on the timer thread.
  void arm(uint32_t vcpu, uint64_t deadline_ns);
  void disarm(uint32_t vcpu);
  // The vCPU's armed deadline (system time), 0 when none: what a save
  // keeps (ABI.md 21: timers travel as absolute system-time deadlines).
  uint64_t deadline(uint32_t vcpu) const;

 private:
  void set_deadline(uint32_t vcpu, uint64_t deadline_ns);
  void clear_deadline(uint32_t vcpu, uint64_t deadline_ns);

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> timers_;
  std::vector<uint64_t> generations_;  // touched on the timer thread only
  mutable std::mutex deadlines_mutex_;
  std::vector<uint64_t> deadlines_;
  uint64_t created_ns_;
  Expired expired_;
  std::thread thread_;
};

}  // namespace tortuga
