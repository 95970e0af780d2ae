// Counting a diff's lines as added, modified and removed, physical and code.
// Within a hunk, each run of consecutive -/+ lines (no context between) pairs
// its removed lines with its added lines: min(removed, added) are
// "modified", the rest of the added are "added", the rest of the removed
// "removed". Code lines are paired the same way among themselves.
#pragma once

#include "porting_cost.pb.h"
#include "unified_diff.h"

#include <string>
#include <vector>

namespace tortuga::porting {

// A file's lines before or after a change, with which of them are code.
struct FileText {
  std::vector<std::string> lines;
  std::vector<bool> code;
};

FileText make_file_text(std::string_view text, std::string_view path);

// Counts one file's diff. Each hunk line is classified by its line in
// `before` (removed) or `after` (added) when the hunk's numbers point at the
// same text there; otherwise (a hunk that applied at an offset) by scanning
// the hunk alone from outside any comment.
LineCounts count_file_diff(const FileDiff& diff, const FileText& before, const FileText& after);

// Every line of a file as added (a file the port creates whole).
LineCounts count_new_file(const FileText& after);

void add_counts(LineCounts& into, const LineCounts& more);

// added + modified, physical and code: what Table 2 calls "lines modified or added".
uint64_t changed_lines(const LineCounts& c);
uint64_t changed_code_lines(const LineCounts& c);

}  // namespace tortuga::porting
