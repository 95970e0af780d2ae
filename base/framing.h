// Messages on a stream socket: a 4-byte big-endian length, then that many
// bytes of one serialized protobuf message. The length is checked against a
// hard limit before anything is allocated, because the peer may be hostile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

#include <google/protobuf/message_lite.h>

#include "unique_fd.h"

namespace tortuga {

constexpr size_t kFrameHeaderBytes = 4;
constexpr uint32_t kMaxMessageBytes = 1u << 20;  // 1 MiB, far above any real message

class FramingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A frame whose body is not the expected message: the stream itself is
// still in step, so a server can answer and go on reading.
class MalformedMessage : public FramingError {
 public:
  using FramingError::FramingError;
};

// The header's length field; nullopt text when it is acceptable, else why not.
uint32_t frame_length(const uint8_t (&header)[kFrameHeaderBytes]);
std::optional<std::string> frame_length_problem(uint32_t length);

// Header + body. Throws FramingError when the message is over the limit.
std::string encode_frame(const google::protobuf::MessageLite& message);

// Parses one frame's body; throws FramingError naming the message type.
void decode_body(const std::string& body, google::protobuf::MessageLite& message);

// Blocking I/O on a connected stream socket. timeout_ms < 0 waits forever.
// send throws FramingError on failure or timeout; receive returns false on a
// clean end of stream before a header, and throws FramingError for a
// truncated, oversized or malformed frame or a timeout.
void send_message(int fd, const google::protobuf::MessageLite& message, int timeout_ms);
bool receive_message(int fd, google::protobuf::MessageLite& message, int timeout_ms);

// The same frames with one file descriptor riding along (Unix sockets
// only): send puts `passed_fd` as SCM_RIGHTS on the frame's first byte, in
// the same sendmsg; the receiver gets a duplicate, the sender keeps its
// own. receive takes at most one descriptor per frame: it returns in
// `passed` (close-on-exec) whatever arrived with the frame, or an invalid
// UniqueFd; extra or truncated ones are closed and make it a FramingError.
// Used for a live migration's stream socket (MigrateSend, ABI.md 21).
void send_message_with_fd(int fd, const google::protobuf::MessageLite& message, int passed_fd, int timeout_ms);
bool receive_message_with_fd(int fd, google::protobuf::MessageLite& message, UniqueFd& passed, int timeout_ms);

}  // namespace tortuga
