// How the CLI prints domains: `xl list`-like columns, key: value details,
// counters, and JSON (protobuf's own mapping) for scripts.
#pragma once

#include <string>

#include <google/protobuf/message.h>

#include "domain.pb.h"

namespace tortuga::cli {

std::string state_word(api::DomainInfo::State state);
std::string list_header();
std::string list_row(const api::DomainInfo& info);
std::string info_text(const api::DomainInfo& info);
std::string stats_text(const api::DomainStats& stats);
std::string to_json(const google::protobuf::Message& message);

}  // namespace tortuga::cli
