#include "hypercalls/mmu_trace.h"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "vcpu/guest_call_stack.h"

namespace tortuga {

MmuTrace::MmuTrace(const std::string& path) : file_(std::fopen(path.c_str(), "w")) {
  if (!file_) throw std::runtime_error(fmt::format("--trace-mmu: cannot create {}: {}", path, std::strerror(errno)));
  fmt::print(file_.get(), "# tortuga-vmm --trace-mmu: call kind context vcpu return-addresses...\n");
}

void MmuTrace::record(Vcpu& vcpu, const char* call, const char* kind, bool in_multicall) {
  std::vector<uint64_t> stack = guest_return_addresses(vcpu.kernel_address_space(), vcpu.regs().rsp);
  std::string line = fmt::format("{} {} {} {}", call, kind, in_multicall ? "multicall" : "alone", vcpu.id());
  for (uint64_t address : stack) line += fmt::format(" {:#x}", address);
  if (stack.empty()) line += " ?";
  line += '\n';
  std::lock_guard lock(mutex_);
  std::fputs(line.c_str(), file_.get());
}

}  // namespace tortuga
