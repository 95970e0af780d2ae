// The pristine Linux tree: the members we need, extracted from Debian's
// linux-source tarball into a temporary directory, after checking that it is
// the version the port is for.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace tortuga::porting {

// A directory of our own, removed with everything in it when this dies.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix);
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct LinuxSource {
  TempDir dir;
  std::string version;  // "6.1.192": VERSION.PATCHLEVEL.SUBLEVEL of the top Makefile
  std::filesystem::path root() const { return dir.path(); }
};

// Extracts `members` (paths from the tree's top; a directory comes whole)
// and the top Makefile in one pass of tar. Throws, naming what is wrong, if
// the tarball is missing, is not a Linux tree, is not Linux `want_version`
// ("6.1"), or lacks a member.
LinuxSource extract_linux_source(const std::filesystem::path& tarball, const std::vector<std::string>& members,
                                 std::string_view want_version);

// The "VERSION.PATCHLEVEL" and SUBLEVEL of a top-level Makefile's text; empty if it has none.
std::string makefile_version(std::string_view makefile, bool with_sublevel);

std::string read_text_file(const std::filesystem::path& path);
void write_text_file(const std::filesystem::path& path, std::string_view text);

}  // namespace tortuga::porting
