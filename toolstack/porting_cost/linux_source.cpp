// Extraction with `tar --wildcards --no-wildcards-match-slash '*/PATH'`: the
// tarball's top directory (linux-source-6.1/) is matched, not assumed, so a
// tarball of another version still yields its Makefile and the version
// error, rather than tar's complaint about a missing member.
#include "linux_source.h"

#include "process.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tortuga::porting {
namespace fs = std::filesystem;
namespace {

// The value of "NAME = value" in a Makefile.
std::string makefile_variable(std::string_view makefile, std::string_view name) {
  std::istringstream in{std::string(makefile)};
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name)) continue;
    size_t eq = line.find('=');
    if (eq == std::string::npos || line.find_first_not_of(" \t", name.size()) != eq) continue;
    size_t start = line.find_first_not_of(" \t", eq + 1);
    return start == std::string::npos ? "" : line.substr(start, line.find_last_not_of(" \t\r") + 1 - start);
  }
  return "";
}

// tar names a pattern "not found" when an earlier one took all its members:
// a member inside another one listed is dropped.
bool inside_another(const std::string& m, const std::vector<std::string>& members) {
  for (const auto& other : members) {
    if (other != m && m.starts_with(other) && m.size() > other.size() && m[other.size()] == '/') return true;
  }
  return false;
}

std::vector<std::string> tar_command(const fs::path& tarball, const fs::path& into,
                                     const std::vector<std::string>& members) {
  std::vector<std::string> argv = {"tar",        "-xJf", tarball.string(), "-C", into.string(), "--strip-components=1",
                                   "--wildcards", "--no-wildcards-match-slash", "*/Makefile"};
  std::set<std::string> unique;
  for (const auto& m : members) {
    if (!inside_another(m, members) && unique.insert(m).second) argv.push_back("*/" + m);
  }
  return argv;
}

void check_version(const fs::path& root, const fs::path& tarball, std::string_view want) {
  if (!fs::exists(root / "Makefile")) {
    throw std::runtime_error(fmt::format("{} is not a Linux source tarball (no top-level Makefile)", tarball.string()));
  }
  std::string have = makefile_version(read_text_file(root / "Makefile"), false);
  if (have != want) {
    throw std::runtime_error(fmt::format("{} is Linux {} (its Makefile's VERSION.PATCHLEVEL), not {}: the series is for {}",
                                         tarball.string(), have.empty() ? "of no version" : have, want, want));
  }
}

}  // namespace

TempDir::TempDir(std::string_view prefix) {
  std::string pattern = (fs::temp_directory_path() / fmt::format("{}XXXXXX", prefix)).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("cannot create a temporary directory");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  if (!path_.empty()) fs::remove_all(path_, ignored);
}

std::string makefile_version(std::string_view makefile, bool with_sublevel) {
  std::string version = makefile_variable(makefile, "VERSION");
  std::string patchlevel = makefile_variable(makefile, "PATCHLEVEL");
  if (version.empty() || patchlevel.empty()) return "";
  std::string sublevel = makefile_variable(makefile, "SUBLEVEL");
  return with_sublevel && !sublevel.empty() ? fmt::format("{}.{}.{}", version, patchlevel, sublevel)
                                            : fmt::format("{}.{}", version, patchlevel);
}

LinuxSource extract_linux_source(const fs::path& tarball, const std::vector<std::string>& members,
                                 std::string_view want_version) {
  if (!fs::is_regular_file(tarball)) {
    throw std::runtime_error(fmt::format("{} is missing: install Debian's linux-source-{} "
                                         "(scripts/install-deps.sh porting-cost)", tarball.string(), want_version));
  }
  LinuxSource src{TempDir("tortuga-porting-cost-"), ""};
  ProcessResult tar = run_process(tar_command(tarball, src.root(), members));
  check_version(src.root(), tarball, want_version);
  if (tar.exit_status != 0) {
    throw std::runtime_error(fmt::format("cannot extract what the port needs from {}:\n{}", tarball.string(), tar.output));
  }
  src.version = makefile_version(read_text_file(src.root() / "Makefile"), true);
  return src;
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(fmt::format("cannot read {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text_file(const fs::path& path, std::string_view text) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw std::runtime_error(fmt::format("cannot write {}", path.string()));
}

}  // namespace tortuga::porting
