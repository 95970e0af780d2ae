// Parses unified diffs: file headers (--- / +++), hunk headers (@@) and the
// hunk's lines, read by the counts the header gives so that a format-patch
// signature ("-- ") after the last hunk is never taken for a removed line.
#include "unified_diff.h"

#include <fmt/format.h>

#include <charconv>
#include <stdexcept>

namespace tortuga::porting {
namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return lines;
}

// "a/arch/x86/Kconfig\t2024-01-01 ..." with one component stripped: "arch/x86/Kconfig".
std::string header_path(std::string_view field, int strip_components) {
  field = field.substr(0, field.find('\t'));
  if (field == "/dev/null") return "";
  for (int i = 0; i < strip_components; ++i) {
    size_t slash = field.find('/');
    if (slash == std::string_view::npos) break;
    field = field.substr(slash + 1);
  }
  return std::string(field);
}

// "12,5" or "12" (a count of 1) after the '-' or '+' of a hunk header.
bool parse_range(std::string_view field, int& start, int& count) {
  size_t comma = field.find(',');
  std::string_view first = field.substr(0, comma);
  count = 1;
  if (std::from_chars(first.data(), first.data() + first.size(), start).ec != std::errc()) return false;
  if (comma == std::string_view::npos) return true;
  std::string_view second = field.substr(comma + 1);
  return std::from_chars(second.data(), second.data() + second.size(), count).ec == std::errc();
}

bool parse_hunk_header(std::string_view line, Hunk& hunk) {
  // "@@ -1046,11 +1046,31 @@ optional function context"
  if (!line.starts_with("@@ -")) return false;
  size_t plus = line.find(" +", 4);
  size_t close = line.find(" @@", 4);
  if (plus == std::string_view::npos || close == std::string_view::npos || plus > close) return false;
  return parse_range(line.substr(4, plus - 4), hunk.old_start, hunk.old_count) &&
         parse_range(line.substr(plus + 2, close - plus - 2), hunk.new_start, hunk.new_count);
}

class Parser {
 public:
  Parser(std::string_view text, std::string_view name, int strip)
      : lines_(split_lines(text)), name_(name), strip_(strip) {}

  std::vector<FileDiff> run() {
    while (i_ < lines_.size()) step();
    return std::move(files_);
  }

 private:
  void step() {
    std::string_view line = lines_[i_];
    if (line.starts_with("--- ") && i_ + 1 < lines_.size() && lines_[i_ + 1].starts_with("+++ ")) {
      files_.push_back({header_path(line.substr(4), strip_), header_path(lines_[i_ + 1].substr(4), strip_), {}});
      i_ += 2;
    } else if (line.starts_with("@@ -") && !files_.empty()) {
      read_hunk();
    } else {
      ++i_;
    }
  }

  void read_hunk() {
    Hunk hunk;
    if (!parse_hunk_header(lines_[i_], hunk)) fail("a malformed hunk header");
    ++i_;
    int old_left = hunk.old_count, new_left = hunk.new_count;
    while (old_left > 0 || new_left > 0) {
      if (i_ >= lines_.size()) fail("a hunk shorter than its header");
      std::string_view line = lines_[i_++];
      if (line.starts_with('\\')) continue;  // "\ No newline at end of file"
      char kind = line.empty() ? ' ' : line[0];  // some tools strip a blank context line's space
      if (kind != ' ' && kind != '-' && kind != '+') fail("a hunk shorter than its header");
      if (kind != '+') --old_left;
      if (kind != '-') --new_left;
      if (old_left < 0 || new_left < 0) fail("a hunk longer than its header");
      hunk.lines.push_back({kind, std::string(line.empty() ? line : line.substr(1))});
    }
    while (i_ < lines_.size() && lines_[i_].starts_with('\\')) ++i_;
    files_.back().hunks.push_back(std::move(hunk));
  }

  [[noreturn]] void fail(std::string_view what) const {
    throw std::runtime_error(fmt::format("{}: {} at line {} (in the diff of {})", name_, what, i_,
                                         files_.empty() ? "?" : files_.back().path()));
  }

  std::vector<std::string_view> lines_;
  std::string_view name_;
  int strip_;
  size_t i_ = 0;
  std::vector<FileDiff> files_;
};

}  // namespace

std::vector<FileDiff> parse_unified_diff(std::string_view text, std::string_view name, int strip_components) {
  return Parser(text, name, strip_components).run();
}

}  // namespace tortuga::porting
