// Store::save() and Store::restore(): the store's save and restore. A
// restored store must be one the store itself could have reached, because
// everything after trusts it: paths well formed, every node's parent
// present, permissions present, the guest's limits kept.
#include <fmt/format.h>
#include <tortuga/io/store.h>

#include "store/store.h"

namespace tortuga {

std::vector<StoreState::Node> Store::nodes_of(const Tree& t) {
  std::vector<StoreState::Node> out;
  out.reserve(t.size());
  for (const auto& [path, n] : t) out.push_back({path, n.value, n.perms, n.changed});
  return out;
}

StoreState Store::save() const {
  StoreState s;
  s.guest = guest_;
  s.nodes = nodes_of(tree_);
  s.generation = generation_;
  s.next_tx = next_tx_;
  for (const Watch& w : watches_) s.watches.push_back({w.who, w.given, w.path, w.token});
  for (const auto& [id, x] : transactions_) {
    StoreState::Transaction t{id, x.who, nodes_of(x.start), nodes_of(x.view), {}, {}, {}};
    t.touched.assign(x.touched.begin(), x.touched.end());
    t.written.assign(x.written.begin(), x.written.end());
    t.removed.assign(x.removed.begin(), x.removed.end());
    s.transactions.push_back(std::move(t));
  }
  s.events = events_;
  return s;
}

// A tree from nodes, checked: "/" present, every path absolute and well
// formed, listed once, its parent present, owned by someone, values within
// the limit, generations not from the future.
Store::Tree Store::tree_of(const std::vector<StoreState::Node>& nodes, uint64_t generation, const char* what) const {
  Tree t;
  for (const auto& n : nodes) {
    auto abs = absolute(0, n.path);
    if (!abs || *abs != n.path) throw StoreStateError(fmt::format("{}: malformed path '{}'", what, n.path));
    if (n.perms.empty()) throw StoreStateError(fmt::format("{}: {} has no owner", what, n.path));
    if (n.value.size() > TG_STORE_VALUE_MAX)
      throw StoreStateError(fmt::format("{}: {} has an oversized value", what, n.path));
    if (n.changed > generation)
      throw StoreStateError(fmt::format("{}: {} changed after the store's generation", what, n.path));
    if (!t.emplace(n.path, Node{n.value, n.perms, n.changed}).second) {
      throw StoreStateError(fmt::format("{}: {} listed twice", what, n.path));
    }
  }
  if (!t.contains("/")) throw StoreStateError(fmt::format("{}: no root node", what));
  for (const auto& [path, n] : t) {
    if (path != "/" && !t.contains(store_parent(path))) {
      throw StoreStateError(fmt::format("{}: {} has no parent", what, path));
    }
  }
  if (owned_by_guest(t) > TG_STORE_MAX_NODES)
    throw StoreStateError(fmt::format("{}: the guest owns too many nodes", what));
  return t;
}

void Store::restore(const StoreState& s) {
  if (s.guest != guest_) throw StoreStateError(fmt::format("store of domain {}, not {}", s.guest, guest_));
  if (s.generation == 0 || s.next_tx == 0) throw StoreStateError("store generation or transaction counter is 0");
  Tree tree = tree_of(s.nodes, s.generation, "store");
  auto caller = [&](uint16_t who, const char* what) {
    if (who != 0 && who != guest_) throw StoreStateError(fmt::format("{} of unknown domain {}", what, who));
  };
  std::vector<Watch> watches;
  for (const auto& w : s.watches) {
    caller(w.who, "watch");
    auto abs = absolute(w.who, w.given);
    if (!abs || *abs != w.path || w.token.find('\0') != std::string::npos) {
      throw StoreStateError(fmt::format("malformed watch '{}'", w.given));
    }
    size_t mine = 0;
    for (const Watch& o : watches) mine += o.who == w.who;
    if (mine >= TG_STORE_MAX_WATCHES) throw StoreStateError("too many watches");
    watches.push_back({w.who, w.given, w.path, w.token});
  }
  std::map<uint32_t, Transaction> transactions;
  for (const auto& x : s.transactions) {
    caller(x.who, "transaction");
    if (x.id == 0 || transactions.contains(x.id))
      throw StoreStateError(fmt::format("transaction id {} is 0 or repeated", x.id));
    size_t open = 0;
    for (const auto& [id, o] : transactions) open += o.who == x.who;
    if (open >= TG_STORE_MAX_TRANSACTIONS) throw StoreStateError("too many open transactions");
    auto paths = [&](const std::vector<std::string>& v) {
      std::set<std::string> out;
      for (const auto& p : v) {
        auto abs = absolute(0, p);
        if (!abs || *abs != p) throw StoreStateError(fmt::format("transaction {}: malformed path '{}'", x.id, p));
        out.insert(p);
      }
      return out;
    };
    transactions[x.id] = Transaction{x.who,
                                     tree_of(x.start, s.generation, "transaction start"),
                                     tree_of(x.view, s.generation, "transaction view"),
                                     paths(x.touched),
                                     paths(x.written),
                                     paths(x.removed)};
  }
  for (const auto& e : s.events) caller(e.who, "watch event");
  tree_ = std::move(tree);
  generation_ = s.generation;
  next_tx_ = s.next_tx;
  watches_ = std::move(watches);
  transactions_ = std::move(transactions);
  events_ = s.events;
}

}  // namespace tortuga
