// Pairs each hunk's removed and added lines and classifies them as code or not.
#include "change_count.h"

#include "code_lines.h"

#include <algorithm>

namespace tortuga::porting {
namespace {

// One run of -/+ lines: how many of each, and how many of each are code.
struct ChangeRun {
  uint64_t removed = 0, added = 0, code_removed = 0, code_added = 0;
};

void add_run(LineCounts& c, const ChangeRun& r) {
  uint64_t modified = std::min(r.removed, r.added);
  uint64_t code_modified = std::min(r.code_removed, r.code_added);
  c.set_modified(c.modified() + modified);
  c.set_added(c.added() + r.added - modified);
  c.set_removed(c.removed() + r.removed - modified);
  c.set_code_modified(c.code_modified() + code_modified);
  c.set_code_added(c.code_added() + r.code_added - code_modified);
  c.set_code_removed(c.code_removed() + r.code_removed - code_modified);
}

// Whether the hunk's lines of one side (kind and context) sit at `start` in `file`.
bool hunk_matches(const Hunk& hunk, char side_kind, int start, const FileText& file) {
  size_t at = start > 0 ? start - 1 : 0;
  for (const auto& line : hunk.lines) {
    if (line.kind != ' ' && line.kind != side_kind) continue;
    if (at >= file.lines.size() || file.lines[at] != line.text) return false;
    ++at;
  }
  return true;
}

// Code flags for one side of a hunk: from the file where it matches, else
// from scanning the side's own lines.
std::vector<bool> side_code(const Hunk& hunk, char side_kind, int start, const FileText& file, CommentStyle style) {
  std::vector<std::string> side;
  for (const auto& line : hunk.lines) {
    if (line.kind == ' ' || line.kind == side_kind) side.push_back(line.text);
  }
  if (!hunk_matches(hunk, side_kind, start, file)) return classify_code_lines(side, style);
  size_t first = start > 0 ? start - 1 : 0;
  return {file.code.begin() + first, file.code.begin() + first + side.size()};
}

void count_hunk(const Hunk& hunk, const FileText& before, const FileText& after, CommentStyle style, LineCounts& c) {
  std::vector<bool> old_code = side_code(hunk, '-', hunk.old_start, before, style);
  std::vector<bool> new_code = side_code(hunk, '+', hunk.new_start, after, style);
  size_t o = 0, n = 0;
  ChangeRun run;
  for (const auto& line : hunk.lines) {
    if (line.kind == ' ') {
      add_run(c, run);
      run = {};
      ++o, ++n;
    } else if (line.kind == '-') {
      ++run.removed;
      run.code_removed += old_code[o++] ? 1 : 0;
    } else {
      ++run.added;
      run.code_added += new_code[n++] ? 1 : 0;
    }
  }
  add_run(c, run);
}

}  // namespace

FileText make_file_text(std::string_view text, std::string_view path) {
  FileText f{split_file_lines(text), {}};
  f.code = classify_code_lines(f.lines, comment_style(path));
  return f;
}

LineCounts count_file_diff(const FileDiff& diff, const FileText& before, const FileText& after) {
  LineCounts c;
  CommentStyle style = comment_style(diff.path());
  for (const auto& hunk : diff.hunks) count_hunk(hunk, before, after, style, c);
  return c;
}

LineCounts count_new_file(const FileText& after) {
  LineCounts c;
  c.set_added(after.lines.size());
  c.set_code_added(std::count(after.code.begin(), after.code.end(), true));
  return c;
}

void add_counts(LineCounts& into, const LineCounts& more) {
  into.set_added(into.added() + more.added());
  into.set_modified(into.modified() + more.modified());
  into.set_removed(into.removed() + more.removed());
  into.set_code_added(into.code_added() + more.code_added());
  into.set_code_modified(into.code_modified() + more.code_modified());
  into.set_code_removed(into.code_removed() + more.code_removed());
}

uint64_t changed_lines(const LineCounts& c) { return c.added() + c.modified(); }
uint64_t changed_code_lines(const LineCounts& c) { return c.code_added() + c.code_modified(); }

}  // namespace tortuga::porting
