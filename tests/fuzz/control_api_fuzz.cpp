// The control API's hostile inputs (toolstack/): bytes from a client of
// tortugad's socket, read as a frame (length check, Request decode, the
// checks a create runs), and as a JSON config file. Neither may crash or
// throw anything but the errors the daemon turns into replies.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "config.h"
#include "control.pb.h"
#include "framing.h"

namespace {

using namespace tortuga;
using namespace tortuga::toolstack;

void check_config(api::DomainConfig config) {
  apply_defaults(config);
  try {
    validate_config(config, false);  // no file checks: the fuzzer must not probe the disk
  } catch (const ConfigError&) {
  }
}

void as_frame(const uint8_t* data, size_t size) {
  if (size < kFrameHeaderBytes) return;
  uint8_t header[kFrameHeaderBytes];
  std::memcpy(header, data, sizeof header);
  uint32_t length = frame_length(header);
  if (frame_length_problem(length)) return;
  std::string body(reinterpret_cast<const char*>(data) + kFrameHeaderBytes,
                   std::min<size_t>(length, size - kFrameHeaderBytes));
  api::Request request;
  try {
    decode_body(body, request);
  } catch (const MalformedMessage&) {
    return;
  }
  if (request.has_create()) check_config(request.create().config());
  // The daemon answers with a frame of its own: it must encode whatever came in.
  api::Response echo;
  *echo.mutable_domain()->mutable_config() = request.create().config();
  try {
    (void)encode_frame(echo);
  } catch (const FramingError&) {
  }
}

void as_config(const uint8_t* data, size_t size) {
  try {
    check_config(parse_config_json(std::string(reinterpret_cast<const char*>(data), size)));
  } catch (const ConfigError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // protobuf logs every invalid UTF-8 string it refuses; the refusal is what counts.
  static bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  as_frame(data, size);
  as_config(data, size);
  return 0;
}
