#include "native_tg_bench.h"

#include <sys/wait.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>

namespace tortuga::bench {

namespace {

struct PcloseDeleter {
  void operator()(FILE* f) const { pclose(f); }
};

std::string output_of(const std::string& command) {
  std::unique_ptr<FILE, PcloseDeleter> pipe(popen(command.c_str(), "r"));
  if (!pipe) throw std::runtime_error("cannot run " + command);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe.get())) > 0;) out.append(buf, n);
  int status = pclose(pipe.release());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error(command + " failed: " + out);
  return out;
}

}  // namespace

TgBenchLine run_native_tg_bench(const std::string& kind, uint64_t n) {
  std::string command = fmt::format("{} {} {}", TORTUGA_HOST_TG_BENCH, kind, n);
  std::optional<TgBenchLine> line = parse_tg_bench_line(output_of(command), kind);
  if (!line) throw std::runtime_error(command + " printed no tg-bench line");
  return *line;
}

}  // namespace tortuga::bench
