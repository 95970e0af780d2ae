// Replay driver for the fuzz targets in the normal (gcc) build: runs
// LLVMFuzzerTestOneInput on every file of a seed corpus directory, then on
// deterministic pseudo-random mutations of those seeds. The targets catch
// the exceptions their code may legitimately throw; anything that escapes
// is a bug, so this exits non-zero and saves the input that caused it.
//
//   <target>_replay CORPUS_DIR [MUTATIONS]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kMaxInput = 1 << 16;
constexpr uint32_t kSeed = 0x7047u;  // fixed: every run replays the same inputs

Bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Values that tend to sit on the edges of size and offset checks.
// clang-format off
constexpr uint64_t kInteresting[] = {0, 1, 4, 7, 8, 0x38, 0x40, 0x7f, 0x80, 0xff, 0x1000, 0xfff,
                                     0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ULL,
                                     0xffffffff80000000ULL, 0xffff800000000000ULL, 0x00007fffffffffffULL,
                                     ~0ULL - 7, ~0ULL};
// clang-format on

void mutate_once(Bytes& b, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  switch (pick(7)) {
    case 0:  // flip a bit
      if (!b.empty()) b[pick(b.size())] ^= static_cast<uint8_t>(1u << pick(8));
      break;
    case 1:  // set a random byte
      if (!b.empty()) b[pick(b.size())] = static_cast<uint8_t>(rng());
      break;
    case 2: {  // overwrite a 1/2/4/8-byte field with an interesting value
      size_t width = size_t{1} << pick(4);
      if (b.size() < width) break;
      uint64_t v = kInteresting[pick(std::size(kInteresting))];
      if (rng() & 1) v += pick(3) - 1;
      size_t at = pick(b.size() - width + 1);
      for (size_t i = 0; i < width; ++i) b[at + i] = static_cast<uint8_t>(v >> (8 * i));
      break;
    }
    case 3:  // truncate
      if (!b.empty()) b.resize(pick(b.size()));
      break;
    case 4: {  // insert random bytes
      size_t n = 1 + pick(16);
      Bytes ins(n);
      for (auto& x : ins) x = static_cast<uint8_t>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(pick(b.size() + 1)), ins.begin(), ins.end());
      break;
    }
    case 5: {  // erase a range
      if (b.empty()) break;
      size_t at = pick(b.size()), n = 1 + pick(std::min<size_t>(16, b.size() - at));
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    default: {  // copy a chunk over another place
      if (b.size() < 2) break;
      size_t n = 1 + pick(std::min<size_t>(32, b.size() - 1));
      size_t from = pick(b.size() - n + 1), to = pick(b.size() - n + 1);
      std::memmove(b.data() + to, b.data() + from, n);
      break;
    }
  }
  if (b.size() > kMaxInput) b.resize(kMaxInput);
}

bool run(const Bytes& input, const std::string& what) {
  try {
    LLVMFuzzerTestOneInput(input.data(), input.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: unexpected exception: %s\n", what.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected non-standard exception\n", what.c_str());
  }
  const char* out = "replay-failure.bin";
  std::ofstream(out, std::ios::binary)
      .write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
  std::fprintf(stderr, "input (%zu bytes) saved to %s\n", input.size(), out);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR [MUTATIONS]\n", argv[0]);
    return 2;
  }
  const unsigned long mutations = argc == 3 ? std::strtoul(argv[2], nullptr, 10) : 20000;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(argv[1])) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "%s: no seeds in %s\n", argv[0], argv[1]);
    return 2;
  }
  std::vector<Bytes> seeds;
  for (const auto& f : files) {
    seeds.push_back(read_file(f));
    if (!run(seeds.back(), f.string())) return 1;
  }
  std::mt19937_64 rng(kSeed);
  for (unsigned long i = 0; i < mutations; ++i) {
    Bytes input = seeds[rng() % seeds.size()];
    for (unsigned n = 1 + static_cast<unsigned>(rng() % 4); n > 0; --n) mutate_once(input, rng);
    if (!run(input, "mutation " + std::to_string(i))) return 1;
  }
  std::printf("%zu seeds and %lu mutations ran cleanly\n", seeds.size(), mutations);
  return 0;
}
