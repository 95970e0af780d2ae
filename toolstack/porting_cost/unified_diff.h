// Unified diffs, as `git format-patch` and `diff -u` write them: the files a
// diff touches and each hunk's lines, in order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tortuga::porting {

struct HunkLine {
  char kind;         // ' ' context, '-' removed, '+' added
  std::string text;  // without the kind character
};

struct Hunk {
  int old_start = 0;  // 1-based, as in "@@ -old_start,old_count ..."
  int old_count = 0;
  int new_start = 0;
  int new_count = 0;
  std::vector<HunkLine> lines;
};

struct FileDiff {
  std::string old_path;  // "" for a file the diff creates (/dev/null)
  std::string new_path;  // "" for a file the diff deletes
  std::vector<Hunk> hunks;
  // The path the change is about: the new one, or the old one for a deletion.
  const std::string& path() const { return new_path.empty() ? old_path : new_path; }
};

// Parses every file of a unified diff. strip_components drops that many
// leading components of the paths ("a/", "b/": 1, as patch -p1). Text that is
// not a diff (a commit message, a diffstat, a signature) is skipped; a hunk
// shorter than its header says is an error naming the diff and the hunk.
std::vector<FileDiff> parse_unified_diff(std::string_view text, std::string_view name, int strip_components);

}  // namespace tortuga::porting
