// tg-bench run natively: tests/bench/CMakeLists.txt builds the guest's
// guest-linux-patches/initramfs/tg-bench.c for the host too, and the Linux
// table runs it as a child with the guest's N to set each guest figure
// beside the host's.
#pragma once

#include <cstdint>
#include <string>

#include "tg_bench_line.h"

namespace tortuga::bench {

// Runs `tg-bench kind n` on the host and reads its line back. Throws
// std::runtime_error when it cannot be run or prints no line.
TgBenchLine run_native_tg_bench(const std::string& kind, uint64_t n);

}  // namespace tortuga::bench
