// Files replaced atomically: write a temporary file beside the target,
// fsync it, rename it over the target, fsync the directory. A crash at any
// point leaves either the old file or the new one, never a torn one.
#pragma once

#include <string>

namespace tortuga {

// Throws std::runtime_error naming the path and the cause.
void write_file_atomically(const std::string& path, const std::string& data, unsigned mode = 0600);

// The whole file, at most max_bytes (std::runtime_error beyond that or on
// a read error); nullopt-like false when it does not exist.
bool read_small_file(const std::string& path, std::string& data, size_t max_bytes);

}  // namespace tortuga
