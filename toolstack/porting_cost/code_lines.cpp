// Code-line classification: a small scanner that tracks whether it is inside
// a block comment from one line to the next.
#include "code_lines.h"

#include <cctype>

namespace tortuga::porting {
namespace {

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Skips a string or character literal that starts at line[i] (the quote);
// returns the index just past its closing quote, or the line's end.
size_t skip_literal(std::string_view line, size_t i) {
  char quote = line[i];
  for (++i; i < line.size(); ++i) {
    if (line[i] == '\\') {
      ++i;
    } else if (line[i] == quote) {
      return i + 1;
    }
  }
  return line.size();
}

// Scans one line in C style; in_comment carries a block comment's state
// across lines. Returns whether anything outside comments is not blank.
bool scan_c_line(std::string_view line, bool& in_comment) {
  bool code = false;
  for (size_t i = 0; i < line.size();) {
    if (in_comment) {
      size_t end = line.find("*/", i);
      if (end == std::string_view::npos) return code;
      in_comment = false;
      i = end + 2;
    } else if (line.compare(i, 2, "/*") == 0) {
      in_comment = true;
      i += 2;
    } else if (line.compare(i, 2, "//") == 0) {
      return code;
    } else if (line[i] == '"' || line[i] == '\'') {
      code = true;
      i = skip_literal(line, i);
    } else {
      code = code || !is_space(line[i]);
      ++i;
    }
  }
  return code;
}

bool is_hash_code(std::string_view line) {
  size_t first = line.find_first_not_of(" \t\r\f\v");
  return first != std::string_view::npos && line[first] != '#';
}

}  // namespace

CommentStyle comment_style(std::string_view path) {
  std::string_view name = path.substr(path.rfind('/') == std::string_view::npos ? 0 : path.rfind('/') + 1);
  bool hash = name.starts_with("Kconfig") || name.starts_with("Makefile") || name.starts_with("Kbuild") ||
              name.ends_with(".sh") || name.ends_with(".config") || name.ends_with(".mk");
  return hash ? CommentStyle::kHash : CommentStyle::kC;
}

std::vector<bool> classify_code_lines(const std::vector<std::string>& lines, CommentStyle style) {
  std::vector<bool> code;
  code.reserve(lines.size());
  bool in_comment = false;
  for (const auto& line : lines) {
    code.push_back(style == CommentStyle::kHash ? is_hash_code(line) : scan_c_line(line, in_comment));
  }
  return code;
}

std::vector<std::string> split_file_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return lines;
}

}  // namespace tortuga::porting
