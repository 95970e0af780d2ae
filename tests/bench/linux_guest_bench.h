// The Linux guest's table in `make bench`: what tg-bench's operations
// (null syscall, fork+exit, fork+exec, context switch, page fault, pipe
// round trip, a fork+exec shell loop) cost inside the patched Linux, in time
// and exits per operation, beside the same program run natively on the
// host; the exits and VMM CPU of an idle domain; the VMM's resident memory
// outside guest RAM (tortuga-vmm as a child); and the time and exits from
// domain creation to /init at 128 MiB, 1 GiB and 4 GiB. Figures only.
#pragma once

#include <cstdint>
#include <string>

namespace tortuga::bench {

// linux_dir holds vmlinux and initramfs.cpio.gz (`make linux`). Throws on a
// domain that does not end as the benchmark expects.
void print_linux_table(const std::string& linux_dir, uint64_t n);

}  // namespace tortuga::bench
