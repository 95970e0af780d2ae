#include "tg_bench_line.h"

#include <cstdlib>

namespace tortuga::bench {

namespace {

// The number after `key` at or after `from` on the same line, or nullopt.
std::optional<double> field(const std::string& text, size_t from, const std::string& key) {
  size_t at = text.find(key, from);
  if (at == std::string::npos || text.find('\n', from) < at) return std::nullopt;
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

}  // namespace

std::optional<TgBenchLine> parse_tg_bench_line(const std::string& text, const std::string& kind) {
  size_t at = text.rfind("tg-bench " + kind + " n=");
  if (at == std::string::npos) return std::nullopt;
  std::optional<double> ns = field(text, at, " ns="), ops = field(text, at, " ops=");
  if (!ns || !ops) return std::nullopt;
  return TgBenchLine{*ns, *ops};
}

}  // namespace tortuga::bench
