// The framing of domain images (image_records.h): records round-trip, and
// every kind of damage is one ImageError, never a crash or a silent read.
#include "image_records.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crc32c.h"

namespace tortuga {
namespace {

using ::testing::HasSubstr;

std::span<const uint8_t> bytes(const std::string& s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// An in-memory file to write an image into and read it back from.
class MemoryFile {
 public:
  MemoryFile() : fd_(memfd_create("image", MFD_CLOEXEC)) {}
  int fd() const { return fd_.get(); }
  std::string contents() const {
    std::string out(static_cast<size_t>(lseek(fd_.get(), 0, SEEK_END)), '\0');
    pread(fd_.get(), out.data(), out.size(), 0);
    return out;
  }
  void replace(const std::string& data) {
    ftruncate(fd_.get(), 0);
    pwrite(fd_.get(), data.data(), data.size(), 0);
    lseek(fd_.get(), 0, SEEK_SET);
  }

 private:
  UniqueFd fd_;
};

std::string small_image() {
  MemoryFile f;
  ImageWriter w(f.fd());
  w.write(RecordType::kHeader, "header");
  w.write(RecordType::kConfig, std::string(3000, 'c'));
  w.write(RecordType::kEnd, "");
  w.flush();
  return f.contents();
}

std::vector<Record> read_all(const std::string& image) {
  MemoryFile f;
  f.replace(image);
  ImageReader r(f.fd());
  std::vector<Record> out;
  do {
    out.push_back(r.next());
  } while (out.back().type != static_cast<uint32_t>(RecordType::kEnd));
  return out;
}

TEST(Crc32c, KnownValues) {
  EXPECT_EQ(crc32c(bytes("123456789")), 0xe3069283u);  // the CRC-32C check value
  EXPECT_EQ(crc32c(bytes("")), 0u);
  Crc32c split;
  split.update(bytes("1234"));
  split.update(bytes("56789"));
  EXPECT_EQ(split.value(), 0xe3069283u);
}

TEST(ImageRecords, RecordsRoundTrip) {
  auto records = read_all(small_image());
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].payload, "header");
  EXPECT_EQ(records[1].payload, std::string(3000, 'c'));
  EXPECT_EQ(records[1].flags, kRecordMandatory);
  EXPECT_EQ(records[2].type, static_cast<uint32_t>(RecordType::kEnd));
}

TEST(ImageRecords, EveryFlippedBitIsCaught) {
  std::string image = small_image();
  for (size_t at = sizeof kImageMagic; at < image.size(); at += 7) {
    std::string bad = image;
    bad[at] ^= 0x01;
    EXPECT_THROW(read_all(bad), ImageError) << "flip at " << at;
  }
}

TEST(ImageRecords, EveryTruncationIsCaught) {
  std::string image = small_image();
  for (size_t keep = 0; keep < image.size(); ++keep) {
    try {
      read_all(image.substr(0, keep));
      ADD_FAILURE() << "truncated to " << keep << " bytes was read";
    } catch (const ImageError& e) {
      EXPECT_THAT(e.what(), HasSubstr(keep < 8 ? "magic" : "truncated")) << keep;
    }
  }
}

TEST(ImageRecords, WrongMagicIsRefused) {
  std::string image = small_image();
  image[3] = 'x';
  EXPECT_THROW(read_all(image), ImageError);
}

TEST(ImageRecords, ALengthOverTheLimitIsRefusedBeforeAnyAllocation) {
  std::string image = small_image();
  uint64_t huge = ~0ULL;
  std::memcpy(image.data() + sizeof kImageMagic + 8, &huge, 8);
  try {
    read_all(image);
    ADD_FAILURE();
  } catch (const ImageError& e) {
    EXPECT_THAT(e.what(), HasSubstr("claims"));
  }
}

TEST(PageBatch, DecodesWhatWasEncoded) {
  std::vector<uint64_t> gfns{7, 3};
  auto head = encode_page_batch_head(gfns);
  std::string payload(head.begin(), head.end());
  payload += std::string(4096, 'a') + std::string(4096, 'b');
  PageBatch b = decode_page_batch(payload);
  ASSERT_EQ(b.gfns.size(), 2u);
  EXPECT_EQ(b.gfns[0], 7u);
  EXPECT_EQ(b.gfns[1], 3u);
  EXPECT_EQ(b.pages[4096], 'b');
}

TEST(PageBatch, SizesThatDoNotAddUpAreRefused) {
  std::vector<uint64_t> gfns{1};
  auto head = encode_page_batch_head(gfns);
  std::string payload(head.begin(), head.end());
  EXPECT_THROW(decode_page_batch(payload), ImageError);  // no page
  EXPECT_THROW(decode_page_batch(payload + std::string(4097, 'x')), ImageError);
  EXPECT_THROW(decode_page_batch("abc"), ImageError);
  std::string zero(8, '\0');
  EXPECT_THROW(decode_page_batch(zero), ImageError);  // 0 pages
  std::string many(8, '\0');
  uint32_t count = kMaxPagesPerBatch + 1;
  std::memcpy(many.data(), &count, 4);
  EXPECT_THROW(decode_page_batch(many), ImageError);
}

}  // namespace
}  // namespace tortuga
