// TG_HC_console_io: the emergency console. Writes go to the domain's
// console; reads take whatever input is waiting, never block.
#include <vector>

#include <tortuga/errno.h>
#include <tortuga/hypercall.h>

#include "domain/domain.h"
#include "hypercalls/hypercall_table.h"

namespace tortuga::hypercalls {

int64_t console_io(Vcpu& vcpu, const Args& args) {
  uint64_t cmd = args.a0, count = args.a1, buf = args.a2;
  if (count > TG_CONSOLE_IO_MAX) return -TG_E2BIG;  // a length over its limit (ABI.md 1.4, 7.0)
  std::vector<uint8_t> bytes(count);
  switch (cmd) {
    case TG_CONSOLEIO_WRITE:
      vcpu.address_space().copy_from(buf, bytes.data(), count);
      vcpu.domain().console().write(bytes);
      return static_cast<int64_t>(count);
    case TG_CONSOLEIO_READ: {
      // Every domain has a console ring, which takes all input (ABI.md 7.0).
      size_t n = 0;
      vcpu.address_space().copy_to(buf, bytes.data(), n);
      return static_cast<int64_t>(n);
    }
    default: return -TG_ENOSYS;  // unknown sub-operation (ABI.md 1.4)
  }
}

}  // namespace tortuga::hypercalls
