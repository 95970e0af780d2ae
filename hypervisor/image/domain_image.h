// Saved domain images (ABI.md 21, hypervisor/image/IMAGE.md): writing a paused
// domain to a file, and reading one back as a RestoreSource. The records
// are protobuf messages (domain_image.proto) in the framing of
// image_records.h; this is the only part of the VMM that speaks protobuf
// besides the control channel, and it lives in its own library.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "domain/domain.h"
#include "image_records.h"
#include "domain/restore_source.h"

namespace tortuga {

struct SaveFigures {
  uint64_t bytes = 0;
  uint64_t pages = 0;  // pages written (all-zero pages are left out)
  uint64_t records = 0;
};

// Writes the paused domain to `path`: a temporary file beside it, synced,
// then renamed over it (and the directory synced). On any failure the
// temporary file is removed, `path` is untouched, and std::runtime_error
// (or ImageError) says why; the domain is unchanged either way.
SaveFigures save_domain_image(Domain& domain, const std::string& path);

// The writer's half that migration reuses: every record of a state and
// memory, in order, on an ImageWriter.
void write_domain_records(ImageWriter& writer, const DomainState& state, const GuestMemory& memory,
                          SaveFigures& figures);
// The same in three parts, for a live migration (MIGRATION.md), which sends
// the head while the domain runs, memory in rounds, and the rest once it
// is paused. The head needs only the state's name, sizes, command line,
// layout and time.saved_realtime_ns.
void write_image_head(ImageWriter& writer, const DomainState& state, const GuestMemory& memory);
// One or more page batches holding these gfns (in RAM) as they are now,
// zero pages included: a later copy of a gfn replaces an earlier one.
void write_page_batches(ImageWriter& writer, const GuestMemory& memory, std::span<const uint64_t> gfns,
                        SaveFigures& figures);
// Everything after memory, up to the end record, then a flush.
void write_image_state(ImageWriter& writer, const DomainState& state, SaveFigures& figures);

// Reads an image in stream order (restore_source.h). Everything is checked:
// header (format version, page size, memory and vCPUs agreeing with the
// config), gfns inside memory, record order, the end record's counts.
class ImageSource final : public RestoreSource {
 public:
  explicit ImageSource(int fd);
  DomainConfig config() override;
  void read_memory(const GuestMemory& memory) override;
  DomainState read_state() override;

 private:
  Record next();
  void read_state_record(const Record& r, DomainState& st);

  ImageReader reader_;
  DomainConfig config_;
  uint64_t memory_bytes_ = 0;
  uint64_t pages_ = 0;
  Record pending_;  // the platform record, read before memory
  bool have_pending_ = false;
  Record state_first_;  // the first record after memory
  uint64_t saved_realtime_ns_ = 0;
};

}  // namespace tortuga
