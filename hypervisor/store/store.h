// The store of one domain (ABI.md 16): a tree of nodes with values and
// permissions, watches and transactions. Pure logic, no wire: store_ring.h
// speaks the ring protocol to the guest, and the VMM calls this directly as
// domid 0. Not thread-safe (StoreRing serialises every caller).
//
// The tree is kept flat, by absolute path, in byte order, so a node's
// children are the keys that follow "path/" and a transaction's view is a
// copy of the map. Each node records the generation of its last change; a
// transaction commits only if no node it read or wrote changed since it
// started (otherwise EAGAIN, nothing applied).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tortuga {

struct StorePerm {
  char access;  // n, r, w, b
  uint16_t domid;
  bool operator==(const StorePerm&) const = default;
};

struct StoreWatchEvent {
  uint16_t who;  // the watcher
  std::string path, token;
};

// What a save records of the store (README.md, "Saving a component"):
// the whole store as plain data.
struct StoreState {
  struct Node {
    std::string path, value;
    std::vector<StorePerm> perms;
    uint64_t changed = 0;
  };
  struct Watch {
    uint16_t who = 0;
    std::string given, path, token;
  };
  struct Transaction {
    uint32_t id = 0;
    uint16_t who = 0;
    std::vector<Node> start, view;
    std::vector<std::string> touched, written, removed;
  };
  uint16_t guest = 0;
  std::vector<Node> nodes;
  uint64_t generation = 0;
  uint32_t next_tx = 1;
  std::vector<Watch> watches;
  std::vector<Transaction> transactions;
  std::vector<StoreWatchEvent> events;
};

class StoreStateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Store {
 public:
  // The reply: error empty and the payload, or the error name (TG_STORE_ERR_*).
  struct Result {
    std::string error;
    std::string payload;
    bool ok() const { return error.empty(); }
  };

  explicit Store(uint16_t guest_domid);
  uint16_t guest() const { return guest_; }
  std::string home(uint16_t who) const;

  Result read(uint16_t who, uint32_t tx, std::string_view path);
  Result write(uint16_t who, uint32_t tx, std::string_view path, std::string_view value);
  Result mkdir(uint16_t who, uint32_t tx, std::string_view path);
  Result rm(uint16_t who, uint32_t tx, std::string_view path);
  Result directory(uint16_t who, uint32_t tx, std::string_view path);
  Result get_perms(uint16_t who, uint32_t tx, std::string_view path);
  Result set_perms(uint16_t who, uint32_t tx, std::string_view path, const std::vector<std::string>& perms);
  Result transaction_start(uint16_t who);
  Result transaction_end(uint16_t who, uint32_t tx, bool commit);
  Result watch(uint16_t who, std::string_view path, std::string_view token);
  Result unwatch(uint16_t who, std::string_view path, std::string_view token);

  // Watch events since the last call, in order.
  std::vector<StoreWatchEvent> take_events() { return std::exchange(events_, {}); }
  // Forgets a caller's transactions and watches (its connection ended).
  void disconnect(uint16_t who);
  size_t nodes() const { return tree_.size(); }

  // Save and restore (ABI.md 21; store_state.cpp): the tree, watches, open
  // transactions and unrouted events. restore() replaces everything after
  // checking the state as hostile input (paths, parents, permissions,
  // limits, generations); StoreStateError names the first problem, and the
  // store is unchanged.
  StoreState save() const;
  void restore(const StoreState& state);

 private:
  struct Node {
    std::string value;
    std::vector<StorePerm> perms;
    uint64_t changed = 0;
  };
  using Tree = std::map<std::string, Node, std::less<>>;
  struct Transaction {
    uint16_t who;
    Tree start, view;
    std::set<std::string> touched, written, removed;
  };
  struct Watch {
    uint16_t who;
    std::string given, path, token;
  };

  std::optional<std::string> absolute(uint16_t who, std::string_view path) const;
  bool can(uint16_t who, const Node& n, bool write) const;
  // The tree a call works on, or nullptr for an unknown transaction.
  Tree* tree_for(uint16_t who, uint32_t tx);
  Result locate(uint16_t who, uint32_t tx, std::string_view path, Tree*& tree, std::optional<std::string>& abs);
  void touched(uint32_t tx, const std::string& path, bool write);
  Result create(uint16_t who, uint32_t tx, Tree& t, const std::string& path, std::string_view value, bool keep);
  void changed(uint32_t tx, const std::string& path);
  void fire(const std::string& path, bool removed);
  size_t owned_by_guest(const Tree& t) const;
  bool conflicts(const Transaction& x) const;
  static std::vector<StoreState::Node> nodes_of(const Tree& t);
  Tree tree_of(const std::vector<StoreState::Node>& nodes, uint64_t generation, const char* what) const;

  uint16_t guest_;
  Tree tree_;
  uint64_t generation_ = 1;
  uint32_t next_tx_ = 1;
  std::map<uint32_t, Transaction> transactions_;
  std::vector<Watch> watches_;
  std::vector<StoreWatchEvent> events_;
};

// Permissions as the wire spells them ("r1"): nullopt for a malformed one.
std::optional<StorePerm> parse_store_perm(std::string_view s);
std::string format_store_perm(const StorePerm& p);

// The parent of an absolute path ("/" for "/x"), and its last component.
std::string store_parent(const std::string& path);
std::string_view store_basename(const std::string& path);

}  // namespace tortuga
