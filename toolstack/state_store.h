// The daemon's state directory:
//   domains/NAME.json   each domain's record (config, id, state, VMM pid),
//                       replaced atomically (atomic_file.h) on every change
//   run/NAME/           the live VMM's control socket, console input FIFO
//                       and exit record; removed when the VMM is gone
//   logs/NAME.console.log, logs/NAME.vmm.log
//                       the guest console, and the VMM's own lines with the
//                       daemon's about that domain; kept after the domain is
//                       destroyed, like /var/log/xen
// Every directory is created 0700: only the daemon's user reads them.
#pragma once

#include <string>
#include <vector>

#include "state.pb.h"

namespace tortuga::toolstack {

class StateStore {
 public:
  // Creates the directories; throws std::runtime_error.
  explicit StateStore(std::string dir);

  void save(const api::DomainRecord& record);
  void remove(const std::string& name);

  struct Loaded {
    std::vector<api::DomainRecord> records;
    std::vector<std::string> problems;  // files that could not be read, one line each
  };
  // Every record; a damaged file is reported and skipped, never fatal.
  Loaded load_all() const;

  const std::string& dir() const { return dir_; }
  std::string record_path(const std::string& name) const;
  std::string run_dir(const std::string& name) const;
  std::string console_log(const std::string& name) const;
  std::string vmm_log(const std::string& name) const;
  // Creates run/NAME (0700), empty; removes run/NAME and all in it.
  std::string make_run_dir(const std::string& name) const;
  void remove_run_dir(const std::string& name) const;

 private:
  std::string dir_;
};

}  // namespace tortuga::toolstack
