#include "vmm_reply.h"

#include <algorithm>
#include <vector>

namespace tortuga::toolstack {
namespace {

constexpr size_t kMaxLineLength = 512;
constexpr size_t kMaxNameLength = 64;
constexpr int kMaxDevices = 64;

api::DeviceStatus sanitized(const api::DeviceStatus& in) {
  api::DeviceStatus out = in;
  out.set_type(clean_line(in.type()).substr(0, kMaxNameLength));
  out.set_name(clean_line(in.name()).substr(0, kMaxNameLength));
  out.set_backend(clean_line(in.backend()));
  out.set_mac(clean_line(in.mac()).substr(0, kMaxNameLength));
  return out;
}

}  // namespace

std::string clean_line(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, kMaxLineLength)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

api::DomainStats sanitized(api::DomainStats stats) {
  constexpr int kMaxOps = 64, kMaxVectors = 256;
  constexpr size_t kMaxName = 32;
  auto identifier = [](const std::string& name) {
    return !name.empty() && name.size() <= kMaxName && std::all_of(name.begin(), name.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
  };
  auto* ops = stats.mutable_hypercalls_by_op();
  std::vector<std::string> bad;
  for (const auto& [name, count] : *ops) {
    if (!identifier(name)) bad.push_back(name);
  }
  for (const auto& name : bad) ops->erase(name);
  if (ops->size() > kMaxOps) ops->clear();
  if (stats.exceptions_by_vector_size() > kMaxVectors) stats.clear_exceptions_by_vector();
  return stats;
}

bool apply_vmm_reply(const api::VmmReply& reply, api::DomainInfo& info) {
  *info.mutable_stats() = sanitized(reply.stats());
  info.clear_devices();
  for (int i = 0; i < reply.devices_size() && i < kMaxDevices; ++i) *info.add_devices() = sanitized(reply.devices(i));
  info.set_memory_target_kib(reply.memory_target_kib());
  info.set_memory_current_kib(reply.memory_current_kib());
  using State = api::DomainInfo;
  if (info.state() != State::RUNNING && info.state() != State::PAUSED) return false;
  State::State now = reply.paused() ? State::PAUSED : State::RUNNING;
  if (now == info.state()) return false;
  info.set_state(now);
  return true;
}

}  // namespace tortuga::toolstack
