// The image's writer and reader (domain_image.h): the head, memory in page
// batches, then each component's record in order (the conversions are in
// component_records.h, a file per component), the end record; and the same
// taken back off a reader, checking the order, the counts and that every
// record is there.
#include "image/domain_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <tortuga/types.h>

#include "domain_image.pb.h"
#include "image/component_records.h"
#include "unique_fd.h"

namespace tortuga {
namespace {

namespace pb = image;

constexpr uint64_t kPage = kImagePageSize;

// ---- writing ------------------------------------------------------------

void put(ImageWriter& w, RecordType type, const google::protobuf::MessageLite& m) {
  w.write(type, m.SerializeAsString());
}

// Every populated page that is not all zeros (a new domain's memory is
// zeros already), in batches sent straight from guest memory.
void write_memory(ImageWriter& w, const GuestMemory& memory, const std::vector<uint64_t>& absent, SaveFigures& f) {
  std::vector<bool> skip(memory.ram_pages());
  for (uint64_t gfn : absent) skip.at(gfn) = true;
  std::vector<uint64_t> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<uint8_t> head = encode_page_batch_head(batch);
    std::vector<std::span<const uint8_t>> parts{head};
    for (uint64_t gfn : batch) parts.emplace_back(memory.ram(gfn * kPage, kPage), kPage);
    w.write(RecordType::kPages, parts);
    f.pages += batch.size();
    batch.clear();
  };
  for (uint64_t gfn = 0; gfn < memory.ram_pages(); ++gfn) {
    if (skip[gfn] || page_is_zero(memory.ram(gfn * kPage, kPage))) continue;
    batch.push_back(gfn);
    if (batch.size() == kMaxPagesPerBatch) flush();
  }
  flush();
}

// ---- reading ------------------------------------------------------------

template <typename M>
M parse(const Record& r) {
  M m;
  if (!m.ParseFromString(r.payload)) throw ImageError(fmt::format("{} record does not parse", record_name(r.type)));
  return m;
}

// A temporary file beside the target, removed unless committed.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& target) : target_(target) {
    std::filesystem::path t(target);
    std::string dir = t.parent_path().empty() ? "." : t.parent_path().string();
    path_ = dir + "/." + t.filename().string() + ".XXXXXX";
    fd_ = UniqueFd(::mkostemp(path_.data(), O_CLOEXEC));
    if (!fd_.valid())
      throw std::runtime_error(fmt::format("cannot create a file beside {}: {}", target, std::strerror(errno)));
    dir_ = dir;
  }
  ~TemporaryFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  int fd() const { return fd_.get(); }

  // fsync, rename over the target, fsync the directory.
  void commit() {
    if (::fchmod(fd_.get(), 0600) != 0 || ::fsync(fd_.get()) != 0) fail("sync");
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail("rename into place");
    committed_ = true;
    UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) != 0) fail("sync the directory of");
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(fmt::format("cannot {} {}: {}", what, target_, std::strerror(errno)));
  }
  std::string target_, path_, dir_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace

void write_domain_records(ImageWriter& w, const DomainState& st, const GuestMemory& memory, SaveFigures& figures) {
  write_image_head(w, st, memory);
  write_memory(w, memory, st.page_types.absent, figures);
  write_image_state(w, st, figures);
}

void write_page_batches(ImageWriter& w, const GuestMemory& memory, std::span<const uint64_t> gfns, SaveFigures& f) {
  for (size_t at = 0; at < gfns.size(); at += kMaxPagesPerBatch) {
    auto batch = gfns.subspan(at, std::min<size_t>(kMaxPagesPerBatch, gfns.size() - at));
    std::vector<uint8_t> head = encode_page_batch_head(batch);
    std::vector<std::span<const uint8_t>> parts{head};
    for (uint64_t gfn : batch) {
      if (gfn >= memory.ram_pages()) throw std::logic_error("write_page_batches: gfn outside RAM");
      parts.emplace_back(memory.ram(gfn * kPage, kPage), kPage);
    }
    w.write(RecordType::kPages, parts);
    f.pages += batch.size();
  }
}

void write_image_head(ImageWriter& w, const DomainState& st, const GuestMemory& memory) {
  pb::Header header;
  header.set_format_version(kImageFormatVersion);
  header.set_abi_version(TG_ABI_VERSION);
  header.set_page_size(kImagePageSize);
  header.set_memory_bytes(memory.ram_size());
  header.set_vcpus(st.vcpus);
  header.set_saved_realtime_ns(st.time.saved_realtime_ns);
  header.set_vmm_version(TORTUGA_VERSION);
  put(w, RecordType::kHeader, header);
  pb::Config config;
  config.set_name(st.name);
  config.set_memory_mib(st.memory_mib);
  config.set_vcpus(st.vcpus);
  config.set_cmdline(st.cmdline);
  config.set_kernel(st.kernel);
  config.set_initramfs(st.initramfs);
  config.set_toolstack(st.toolstack_config);
  put(w, RecordType::kConfig, config);
  put(w, RecordType::kPlatform, to_record(st.layout));
}

void write_image_state(ImageWriter& w, const DomainState& st, SaveFigures& figures) {
  for (const VcpuState& v : st.vcpu) put(w, RecordType::kVcpu, to_record(v));
  put(w, RecordType::kPageTypes, to_record(st.page_types));
  put(w, RecordType::kEventChannels, to_record(st.events, st.console_port, st.store_port));
  put(w, RecordType::kGrantTable, to_record(st.grants));
  put(w, RecordType::kTime, to_record(st.time));
  put(w, RecordType::kStore, to_record(st.store_ring.store));
  put(w, RecordType::kStoreRing, to_record(st.store_ring));
  put(w, RecordType::kConsoleRing, to_record(st.console_ring));
  // Only with devices: an image without them stays readable by a VMM
  // that knows no device record (it is mandatory when present).
  if (!st.devices.plugged.empty()) put(w, RecordType::kDevices, to_record(st.devices));
  pb::End end;
  end.set_records(w.records());
  end.set_pages(figures.pages);
  put(w, RecordType::kEnd, end);
  w.flush();
  figures.records = w.records();
  figures.bytes = w.bytes();
}

SaveFigures save_domain_image(Domain& domain, const std::string& path) {
  if (path.empty()) throw std::runtime_error("no path to save to");
  DomainState state = domain.save();
  TemporaryFile file(path);
  ImageWriter writer(file.fd());
  SaveFigures figures;
  try {
    write_domain_records(writer, state, domain.memory(), figures);
  } catch (const ImageError& e) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, e.what()));
  }
  file.commit();
  return figures;
}

ImageSource::ImageSource(int fd) : reader_(fd) {
  Record r = reader_.next();
  if (r.type != static_cast<uint32_t>(RecordType::kHeader)) throw ImageError("the first record is not the header");
  auto h = parse<pb::Header>(r);
  if (h.format_version() != kImageFormatVersion) {
    throw ImageError(
        fmt::format("image format version {} (this VMM reads version {})", h.format_version(), kImageFormatVersion));
  }
  if (h.abi_version() >> 16 != TG_ABI_VERSION >> 16) {
    throw ImageError(
        fmt::format("image of ABI version {:#x}; this VMM implements {:#x}", h.abi_version(), TG_ABI_VERSION));
  }
  if (h.page_size() != kImagePageSize)
    throw ImageError(fmt::format("page size {} (not {})", h.page_size(), kImagePageSize));
  r = reader_.next();
  if (r.type != static_cast<uint32_t>(RecordType::kConfig)) throw ImageError("the second record is not the config");
  auto c = parse<pb::Config>(r);
  if (c.memory_mib() == 0 || c.memory_mib() > (1ULL << 20) || c.memory_mib() << 20 != h.memory_bytes()) {
    throw ImageError(
        fmt::format("memory size disagrees: header {} bytes, config {} MiB", h.memory_bytes(), c.memory_mib()));
  }
  if (c.vcpus() != h.vcpus() || c.vcpus() == 0 || c.vcpus() > TG_MAX_VCPUS) {
    throw ImageError(fmt::format("vCPU count disagrees: header {}, config {}", h.vcpus(), c.vcpus()));
  }
  config_.name = c.name();
  config_.memory_mib = c.memory_mib();
  config_.vcpus = c.vcpus();
  config_.cmdline = c.cmdline();
  config_.kernel = c.kernel();
  config_.initramfs = c.initramfs();
  config_.toolstack_config = c.toolstack();
  memory_bytes_ = h.memory_bytes();
  saved_realtime_ns_ = h.saved_realtime_ns();
}

DomainConfig ImageSource::config() { return config_; }

Record ImageSource::next() {
  Record r = reader_.next();
  bool known =
      r.type >= static_cast<uint32_t>(RecordType::kHeader) && r.type <= static_cast<uint32_t>(RecordType::kConsoleRing);
  known = known || r.type == static_cast<uint32_t>(RecordType::kDevices) ||
          r.type == static_cast<uint32_t>(RecordType::kEnd);
  if (!known) {
    if (r.flags & kRecordMandatory) throw ImageError(fmt::format("unknown mandatory {}", record_name(r.type)));
    return next();  // optional and unknown: a newer writer's extra, skipped
  }
  return r;
}

void ImageSource::read_memory(const GuestMemory& memory) {
  if (memory.ram_size() != memory_bytes_) throw std::logic_error("memory of another size than the image's");
  Record r = next();
  if (r.type != static_cast<uint32_t>(RecordType::kPlatform)) throw ImageError("the platform record is missing");
  pending_ = std::move(r);
  have_pending_ = true;
  for (;;) {
    r = next();
    if (r.type != static_cast<uint32_t>(RecordType::kPages)) break;
    PageBatch b = decode_page_batch(r.payload);
    for (size_t i = 0; i < b.gfns.size(); ++i) {
      uint64_t gfn = b.gfns[i];
      uint8_t* dst = gfn < memory.ram_pages() ? memory.ram(gfn * kPage, kPage) : nullptr;
      if (dst == nullptr) throw ImageError(fmt::format("page batch holds gfn {:#x}, outside the domain's memory", gfn));
      std::memcpy(dst, b.pages + i * kPage, kPage);  // a later copy of a gfn wins
    }
    pages_ += b.gfns.size();
  }
  state_first_ = std::move(r);
}

// One record after memory into its part of the state.
void ImageSource::read_state_record(const Record& r, DomainState& st) {
  switch (static_cast<RecordType>(r.type)) {
    case RecordType::kVcpu: {
      VcpuState v = from_record(parse<pb::Vcpu>(r));
      if (v.id != st.vcpu.size() || v.id >= config_.vcpus) {
        throw ImageError(fmt::format("vcpu record {} out of order", v.id));
      }
      st.vcpu.push_back(std::move(v));
      break;
    }
    case RecordType::kPageTypes: st.page_types = from_record(parse<pb::PageTypes>(r), memory_bytes_); break;
    case RecordType::kEventChannels:
      st.events = from_record(parse<pb::EventChannels>(r), st.console_port, st.store_port);
      break;
    case RecordType::kGrantTable: st.grants = from_record(parse<pb::GrantTable>(r)); break;
    case RecordType::kTime: st.time = from_record(parse<pb::Time>(r)); break;
    case RecordType::kStore: st.store_ring.store = from_record(parse<pb::Store>(r)); break;
    case RecordType::kStoreRing: {
      StoreRingState ring = from_record(parse<pb::StoreRing>(r));
      ring.store = std::move(st.store_ring.store);  // the store record's, when it came first
      st.store_ring = std::move(ring);
      break;
    }
    case RecordType::kConsoleRing: st.console_ring = from_record(parse<pb::ConsoleRing>(r)); break;
    case RecordType::kDevices: st.devices = from_record(parse<pb::Devices>(r)); break;
    default: throw ImageError(fmt::format("{} record out of place", record_name(r.type)));
  }
}

DomainState ImageSource::read_state() {
  DomainState st;
  copy_config_to_state(config_, st);
  if (!have_pending_) throw std::logic_error("read_state before read_memory");
  st.layout = from_record(parse<pb::Platform>(pending_));
  std::set<uint32_t> seen;
  Record r = std::move(state_first_);
  for (;; r = next()) {
    auto type = static_cast<RecordType>(r.type);
    if (type == RecordType::kEnd) break;
    if (type != RecordType::kVcpu && !seen.insert(r.type).second) {
      throw ImageError(fmt::format("{} record appears twice", record_name(r.type)));
    }
    read_state_record(r, st);
  }
  auto end = parse<pb::End>(r);
  if (end.records() + 1 != reader_.records() || end.pages() != pages_) {
    throw ImageError(fmt::format("the end record counts {} records and {} pages, the image has {} and {}",
                                 end.records(), end.pages(), reader_.records() - 1, pages_));
  }
  if (st.vcpu.size() != config_.vcpus) {
    throw ImageError(fmt::format("{} vcpu records for {} vCPUs", st.vcpu.size(), config_.vcpus));
  }
  for (RecordType t : {RecordType::kPageTypes, RecordType::kEventChannels, RecordType::kGrantTable, RecordType::kTime,
                       RecordType::kStore, RecordType::kStoreRing, RecordType::kConsoleRing}) {
    if (!seen.contains(static_cast<uint32_t>(t)))
      throw ImageError(fmt::format("the {} record is missing", record_name(static_cast<uint32_t>(t))));
  }
  // When the domain stopped: the time record's, else (an older image) the
  // header's.
  if (st.time.saved_realtime_ns == 0) st.time.saved_realtime_ns = saved_realtime_ns_;
  return st;
}

}  // namespace tortuga
