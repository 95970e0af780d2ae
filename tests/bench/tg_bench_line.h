// The line tg-bench (guest-linux-patches/initramfs/tg-bench.c) prints when it
// is done, "tg-bench KIND n=N ns=TOTAL ops=OPS", read back by the Linux
// table for both the guest's and the host's run.
#pragma once

#include <optional>
#include <string>

namespace tortuga::bench {

struct TgBenchLine {
  double ns = 0;   // the whole run, timed by tg-bench itself
  double ops = 0;  // what the operation counts (n, or context switches)
};

// The last such line of `kind` in `text`; nullopt when there is none.
std::optional<TgBenchLine> parse_tg_bench_line(const std::string& text, const std::string& kind);

}  // namespace tortuga::bench
