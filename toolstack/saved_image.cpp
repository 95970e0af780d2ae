#include "saved_image.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "domain_image.pb.h"
#include "image_records.h"
#include "unique_fd.h"

namespace tortuga::toolstack {
namespace {

template <typename Message>
Message parse_record(const Record& r, RecordType want, const char* what) {
  if (r.type != static_cast<uint32_t>(want)) throw SavedImageError(fmt::format("its {} record is missing", what));
  Message m;
  if (!m.ParseFromString(r.payload)) throw SavedImageError(fmt::format("its {} record does not parse", what));
  return m;
}

// An image saved by tortuga-vmm alone: the daemon's config from the VMM's.
api::DomainConfig from_vmm_record(const image::Config& c) {
  api::DomainConfig config;
  config.set_name(c.name());
  config.set_kernel(c.kernel());
  config.set_cmdline(c.cmdline());
  config.set_initramfs(c.initramfs());
  config.set_memory_mib(static_cast<uint32_t>(c.memory_mib()));
  config.set_vcpus(c.vcpus());
  return config;
}

}  // namespace

SavedDomain read_saved_domain(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) throw SavedImageError(fmt::format("cannot open {}: {}", path, std::strerror(errno)));
  try {
    ImageReader reader(fd.get());
    parse_record<image::Header>(reader.next(), RecordType::kHeader, "header");
    auto vmm = parse_record<image::Config>(reader.next(), RecordType::kConfig, "config");
    if (vmm.toolstack().empty()) return {from_vmm_record(vmm), 0};
    api::DomainInfo info;
    if (!info.ParseFromString(vmm.toolstack())) throw SavedImageError("its toolstack record does not parse");
    SavedDomain saved{info.config(), info.domid()};
    // The VMM's record is the one the restored domain will have.
    saved.config.set_memory_mib(static_cast<uint32_t>(vmm.memory_mib()));
    saved.config.set_vcpus(vmm.vcpus());
    return saved;
  } catch (const ImageError& e) {
    throw SavedImageError(fmt::format("{} is not a domain image Tortuga can restore: {}", path, e.what()));
  }
}

}  // namespace tortuga::toolstack
