// The framing of a domain image (IMAGE.md): an 8-byte magic, then records,
// each a 16-byte header (type, flags, payload length; little-endian), the
// payload, and a CRC-32C of header and payload. The first record is the
// header record, the last the end record. The same framing carries a
// migration stream: memory may arrive in any number of page batches, and a
// gfn sent twice takes the later copy.
//
// The reader trusts nothing: a wrong magic, a length over the limit, a
// checksum that does not match, bytes missing at the end, or an unknown
// record marked mandatory each end the read with one ImageError line.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "unique_fd.h"

namespace tortuga {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr char kImageMagic[8] = {'T', 'O', 'R', 'T', 'U', 'G', 'A', '\n'};
constexpr uint32_t kImageFormatVersion = 1;
constexpr uint32_t kImagePageSize = 4096;
constexpr uint64_t kMaxRecordBytes = 64ULL << 20;
// Pages per batch: about 2 MiB of payload, so a batch is cheap to buffer.
constexpr uint32_t kMaxPagesPerBatch = 512;

enum class RecordType : uint32_t {
  kHeader = 1,
  kConfig = 2,
  kPlatform = 3,
  kPages = 4,
  kVcpu = 5,
  kPageTypes = 6,
  kEventChannels = 7,
  kGrantTable = 8,
  kTime = 9,
  kStore = 10,
  kStoreRing = 11,
  kConsoleRing = 12,
  kDevices = 30,  // 30-39: devices (IMAGE.md)
  kEnd = 0x7fff,
};
constexpr uint32_t kRecordMandatory = 1;  // a reader that does not know the type must refuse the image

// Whether a kImagePageSize page holds only zero bytes: such pages are left
// out of images and first rounds (a new domain's memory is zeros already).
bool page_is_zero(const uint8_t* page);

// The name of a record type for messages ("vcpu", "record type 77").
std::string record_name(uint32_t type);

struct Record {
  uint32_t type = 0;
  uint32_t flags = 0;
  std::string payload;
};

// Writes records to a file descriptor through a buffer. Throws ImageError
// naming what failed (a full disk, say).
class ImageWriter {
 public:
  explicit ImageWriter(int fd);
  // Payload given in parts (a page batch's gfns, then its pages).
  void write(RecordType type, std::span<const std::span<const uint8_t>> parts, uint32_t flags = kRecordMandatory);
  void write(RecordType type, std::initializer_list<std::span<const uint8_t>> parts,
             uint32_t flags = kRecordMandatory) {
    write(type, std::span<const std::span<const uint8_t>>(parts.begin(), parts.size()), flags);
  }
  void write(RecordType type, const std::string& payload, uint32_t flags = kRecordMandatory);
  void flush();
  uint64_t records() const { return records_; }
  uint64_t bytes() const { return bytes_; }

 private:
  void put(std::span<const uint8_t> bytes);

  int fd_;
  std::vector<uint8_t> buffer_;
  uint64_t records_ = 0, bytes_ = 0;
};

// Reads records from a file descriptor; checks the magic first.
class ImageReader {
 public:
  explicit ImageReader(int fd);
  // The next record with its checksum verified. Throws ImageError on a
  // truncated or corrupt record, or when the stream ends (the end record
  // must come first: a reader stops there).
  Record next();
  uint64_t records() const { return records_; }

 private:
  // Fills dst; false when the stream ended before the first byte.
  bool get(std::span<uint8_t> dst, const char* what);

  int fd_;
  std::vector<uint8_t> buffer_;
  size_t at_ = 0, end_ = 0;
  uint64_t records_ = 0;
};

// A page batch's payload: u32 count, u32 zero, count gfns (u64), then count
// pages. decode checks every size; the caller checks the gfns.
struct PageBatch {
  std::span<const uint64_t> gfns;
  const uint8_t* pages = nullptr;  // count * kImagePageSize bytes
};
std::vector<uint8_t> encode_page_batch_head(std::span<const uint64_t> gfns);
PageBatch decode_page_batch(const std::string& payload);

}  // namespace tortuga
