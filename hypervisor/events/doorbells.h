// Event doorbells (ABI.md 9.6): one 8-byte slot per port in pages above
// guest RAM. A store to the slot of a backend-state port is an ioeventfd:
// KVM completes it in the host kernel and signals an eventfd, and this
// class's thread calls the backend. The vCPU does not exit to the VMM.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "kvm/kvm.h"

namespace tortuga {

class Doorbells {
 public:
  static constexpr uint64_t kPages = 8;  // 4096 ports of 8 bytes

  Doorbells(KvmVm& vm, uint64_t base_gpa);
  ~Doorbells();
  Doorbells(const Doorbells&) = delete;
  Doorbells& operator=(const Doorbells&) = delete;

  uint64_t base_gpa() const { return base_gpa_; }
  bool contains(uint64_t gpa) const { return gpa >= base_gpa_ && gpa < base_gpa_ + kPages * 4096; }
  uint64_t rings() const { return rings_.load(); }

  // rung() runs on the doorbell thread each time the guest stores to the
  // port's slot (stores that arrive together may merge into one call).
  void listen(uint32_t port, std::function<void()> rung);
  void stop_listening(uint32_t port);

 private:
  struct Listener;
  void wait_for_ring(std::shared_ptr<Listener> l);

  KvmVm& vm_;
  uint64_t base_gpa_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::mutex mutex_;
  std::map<uint32_t, std::shared_ptr<Listener>> listeners_;
  std::atomic<uint64_t> rings_{0};
  std::thread thread_;
};

}  // namespace tortuga
