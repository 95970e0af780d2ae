// The Linux guest's table in `make bench`: time from domain creation to
// /init, and what null syscall, fork+exit, page fault and pipe round trip
// cost inside the patched Linux, in time and exits per operation.
#pragma once

#include <cstdint>
#include <string>

namespace tortuga::bench {

// linux_dir holds vmlinux and initramfs.cpio.gz (`make linux`). Throws on a
// domain that does not end as the benchmark expects.
void print_linux_table(const std::string& linux_dir, uint64_t n);

}  // namespace tortuga::bench
