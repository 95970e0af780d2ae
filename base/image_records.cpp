#include "image_records.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "crc32c.h"

namespace tortuga {

bool page_is_zero(const uint8_t* page) {
  uint64_t acc = 0;
  for (size_t i = 0; i < kImagePageSize; i += 8) {
    uint64_t v;
    std::memcpy(&v, page + i, 8);
    acc |= v;
  }
  return acc == 0;
}
namespace {

constexpr size_t kHeaderBytes = 16;
constexpr size_t kBufferBytes = 4 << 20;

void put_u32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }  // x86-64: little-endian
void put_u64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t get_u32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

std::string record_name(uint32_t type) {
  switch (static_cast<RecordType>(type)) {
    case RecordType::kHeader: return "header";
    case RecordType::kConfig: return "config";
    case RecordType::kPlatform: return "platform";
    case RecordType::kPages: return "page batch";
    case RecordType::kVcpu: return "vcpu";
    case RecordType::kPageTypes: return "page types";
    case RecordType::kEventChannels: return "event channels";
    case RecordType::kGrantTable: return "grant table";
    case RecordType::kTime: return "time";
    case RecordType::kStore: return "store";
    case RecordType::kStoreRing: return "store ring";
    case RecordType::kConsoleRing: return "console ring";
    case RecordType::kDevices: return "devices";
    case RecordType::kEnd: return "end";
  }
  return fmt::format("record type {}", type);
}

ImageWriter::ImageWriter(int fd) : fd_(fd) {
  buffer_.reserve(kBufferBytes);
  put({reinterpret_cast<const uint8_t*>(kImageMagic), sizeof kImageMagic});
}

void ImageWriter::put(std::span<const uint8_t> bytes) {
  if (buffer_.size() + bytes.size() > kBufferBytes) flush();
  if (bytes.size() >= kBufferBytes) {  // large: straight through
    for (size_t done = 0; done < bytes.size();) {
      ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw ImageError(fmt::format("write: {}", std::strerror(errno)));
      done += static_cast<size_t>(n);
    }
  } else {
    buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  }
  bytes_ += bytes.size();
}

void ImageWriter::flush() {
  for (size_t done = 0; done < buffer_.size();) {
    ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ImageError(fmt::format("write: {}", std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  buffer_.clear();
}

void ImageWriter::write(RecordType type, std::span<const std::span<const uint8_t>> parts, uint32_t flags) {
  uint64_t length = 0;
  for (auto p : parts) length += p.size();
  if (length > kMaxRecordBytes)
    throw ImageError(
        fmt::format("{} record of {} bytes is over the limit", record_name(static_cast<uint32_t>(type)), length));
  uint8_t header[kHeaderBytes];
  put_u32(header, static_cast<uint32_t>(type));
  put_u32(header + 4, flags);
  put_u64(header + 8, length);
  Crc32c crc;
  crc.update(header);
  put(header);
  for (auto p : parts) {
    crc.update(p);
    put(p);
  }
  uint8_t sum[4];
  put_u32(sum, crc.value());
  put(sum);
  ++records_;
}

void ImageWriter::write(RecordType type, const std::string& payload, uint32_t flags) {
  write(type, {bytes_of(payload)}, flags);
}

ImageReader::ImageReader(int fd) : fd_(fd), buffer_(1 << 20) {
  uint8_t magic[sizeof kImageMagic];
  if (!get(magic, "magic") || std::memcmp(magic, kImageMagic, sizeof magic) != 0) {
    throw ImageError("not a Tortuga domain image (wrong magic)");
  }
}

bool ImageReader::get(std::span<uint8_t> dst, const char* what) {
  size_t done = 0;
  while (done < dst.size()) {
    if (at_ == end_) {
      ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw ImageError(fmt::format("read: {}", std::strerror(errno)));
      if (n == 0) {
        if (done == 0) return false;
        throw ImageError(fmt::format("image truncated in the {} (after {} records)", what, records_));
      }
      at_ = 0;
      end_ = static_cast<size_t>(n);
    }
    size_t take = std::min(dst.size() - done, end_ - at_);
    std::memcpy(dst.data() + done, buffer_.data() + at_, take);
    at_ += take;
    done += take;
  }
  return true;
}

Record ImageReader::next() {
  uint8_t header[kHeaderBytes];
  if (!get(header, "record header")) {
    throw ImageError(fmt::format("image truncated: it ends after {} records, without an end record", records_));
  }
  Record r;
  r.type = get_u32(header);
  r.flags = get_u32(header + 4);
  uint64_t length = get_u64(header + 8);
  std::string name = record_name(r.type);
  if (length > kMaxRecordBytes) {
    throw ImageError(fmt::format("{} record {} claims {} bytes (limit {})", name, records_, length, kMaxRecordBytes));
  }
  r.payload.resize(length);
  auto payload = std::span<uint8_t>(reinterpret_cast<uint8_t*>(r.payload.data()), length);
  if (length > 0 && !get(payload, (name + " record").c_str())) {
    throw ImageError(fmt::format("image truncated in the {} record", name));
  }
  uint8_t sum[4];
  if (!get(sum, (name + " record's checksum").c_str())) {
    throw ImageError(fmt::format("image truncated in the {} record's checksum", name));
  }
  Crc32c crc;
  crc.update(header);
  crc.update(payload);
  if (crc.value() != get_u32(sum)) {
    throw ImageError(fmt::format("{} record {} is corrupt (checksum {:#010x}, expected {:#010x})", name, records_,
                                 get_u32(sum), crc.value()));
  }
  ++records_;
  return r;
}

std::vector<uint8_t> encode_page_batch_head(std::span<const uint64_t> gfns) {
  std::vector<uint8_t> head(8 + 8 * gfns.size());
  put_u32(head.data(), static_cast<uint32_t>(gfns.size()));
  put_u32(head.data() + 4, 0);
  std::memcpy(head.data() + 8, gfns.data(), 8 * gfns.size());
  return head;
}

PageBatch decode_page_batch(const std::string& payload) {
  const auto* p = reinterpret_cast<const uint8_t*>(payload.data());
  if (payload.size() < 8) throw ImageError("page batch shorter than its count");
  uint32_t count = get_u32(p);
  if (count == 0 || count > kMaxPagesPerBatch || get_u32(p + 4) != 0) {
    throw ImageError(fmt::format("page batch with {} pages (1 to {} allowed)", count, kMaxPagesPerBatch));
  }
  uint64_t want = 8 + uint64_t{count} * (8 + kImagePageSize);
  if (payload.size() != want) {
    throw ImageError(fmt::format("page batch of {} pages has {} bytes, not {}", count, payload.size(), want));
  }
  // A payload this long lives on the heap (16-byte aligned): the gfns at
  // offset 8 are aligned for u64.
  PageBatch b;
  b.gfns = {reinterpret_cast<const uint64_t*>(p + 8), count};
  b.pages = p + 8 + 8 * uint64_t{count};
  return b;
}

}  // namespace tortuga
