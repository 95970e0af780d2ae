// Which lines of a file are code: not blank and not comment-only. C, headers
// and assembler (.S goes through the C preprocessor) follow C's comments,
// /* */ across lines and //, with string and character literals (which may
// hold a "/*") skipped; Kconfig, Makefiles and scripts follow '#'.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tortuga::porting {

enum class CommentStyle { kC, kHash };

// The comment style of a file by its name.
CommentStyle comment_style(std::string_view path);

// For each line, whether it is code, scanning from the file's start (so a
// line inside a block comment opened earlier is a comment).
std::vector<bool> classify_code_lines(const std::vector<std::string>& lines, CommentStyle style);

// The lines of a file's text (a final newline ends the last line; it does not start another).
std::vector<std::string> split_file_lines(std::string_view text);

}  // namespace tortuga::porting
