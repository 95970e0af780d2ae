#include "events/doorbells.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

namespace tortuga {

struct Doorbells::Listener {
  Listener(boost::asio::io_context& io, int fd) : eventfd(io, fd) {}
  boost::asio::posix::stream_descriptor eventfd;  // owns the fd
  uint64_t gpa = 0;
  uint64_t counter = 0;
  std::function<void()> rung;
};

Doorbells::Doorbells(KvmVm& vm, uint64_t base_gpa)
    : vm_(vm), base_gpa_(base_gpa), work_(boost::asio::make_work_guard(io_)), thread_([this] { io_.run(); }) {}

Doorbells::~Doorbells() {
  work_.reset();
  io_.stop();
  thread_.join();
}

void Doorbells::listen(uint32_t port, std::function<void()> rung) {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error(fmt::format("eventfd: {}", std::strerror(errno)));
  auto l = std::make_shared<Listener>(io_, fd);
  l->gpa = base_gpa_ + 8 * uint64_t{port};
  l->rung = std::move(rung);
  vm_.add_ioeventfd(l->gpa, 8, fd);
  {
    std::lock_guard lock(mutex_);
    listeners_[port] = l;
  }
  boost::asio::post(io_, [this, l] { wait_for_ring(l); });
}

void Doorbells::stop_listening(uint32_t port) {
  std::shared_ptr<Listener> l;
  {
    std::lock_guard lock(mutex_);
    auto it = listeners_.find(port);
    if (it == listeners_.end()) return;
    l = it->second;
    listeners_.erase(it);
  }
  vm_.remove_ioeventfd(l->gpa, 8, l->eventfd.native_handle());
  boost::asio::post(io_, [l] { l->eventfd.close(); });
}

void Doorbells::wait_for_ring(std::shared_ptr<Listener> l) {
  l->eventfd.async_read_some(boost::asio::buffer(&l->counter, sizeof l->counter),
                             [this, l](const boost::system::error_code& error, size_t) {
                               if (error) return;  // closed: the port stopped listening
                               rings_.fetch_add(1);
                               l->rung();
                               wait_for_ring(l);
                             });
}

}  // namespace tortuga
