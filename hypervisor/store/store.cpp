#include "store/store.h"

#include <charconv>

#include <fmt/format.h>
#include <tortuga/io/store.h>

namespace tortuga {
namespace {

using Result = Store::Result;

Result fail(const char* error) { return {error, {}}; }
Result ok() { return {{}, std::string("OK", 3)}; }

bool is_below_or_at(const std::string& path, const std::string& top) {
  if (top == "/") return true;
  return path == top || (path.size() > top.size() && path.compare(0, top.size(), top) == 0 && path[top.size()] == '/');
}

}  // namespace

std::optional<StorePerm> parse_store_perm(std::string_view s) {
  if (s.size() < 2 || std::string_view("nrwb").find(s[0]) == std::string_view::npos) return std::nullopt;
  unsigned domid = 0;
  auto [end, ec] = std::from_chars(s.data() + 1, s.data() + s.size(), domid);
  if (ec != std::errc() || end != s.data() + s.size() || domid > 0xffff) return std::nullopt;
  return StorePerm{s[0], static_cast<uint16_t>(domid)};
}

std::string format_store_perm(const StorePerm& p) { return fmt::format("{}{}", p.access, p.domid); }

std::string store_parent(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string_view store_basename(const std::string& path) { return std::string_view(path).substr(path.rfind('/') + 1); }

Store::Store(uint16_t guest_domid) : guest_(guest_domid) { tree_["/"] = Node{{}, {{'n', 0}}, generation_}; }

std::string Store::home(uint16_t who) const { return fmt::format("/local/domain/{}", who); }

// Relative paths are under the caller's home; every component is 1..255
// bytes without '/' or NUL, the whole path below the limit.
std::optional<std::string> Store::absolute(uint16_t who, std::string_view path) const {
  if (path.empty() || path.find('\0') != std::string_view::npos) return std::nullopt;
  std::string abs = path[0] == '/' ? std::string(path) : home(who) + "/" + std::string(path);
  if (abs.size() + 1 > TG_STORE_PATH_MAX) return std::nullopt;
  if (abs == "/") return abs;
  if (abs.back() == '/') return std::nullopt;
  for (size_t at = 1, next; at <= abs.size(); at = next + 1) {
    next = abs.find('/', at);
    if (next == std::string::npos) next = abs.size();
    if (next == at || next - at >= TG_STORE_NAME_MAX) return std::nullopt;
  }
  return abs;
}

bool Store::can(uint16_t who, const Node& n, bool write) const {
  if (who == 0) return true;  // the VMM may do anything
  if (n.perms.empty()) return false;
  if (n.perms[0].domid == who) return true;  // the owner too
  char access = n.perms[0].access;
  for (size_t i = 1; i < n.perms.size(); ++i) {
    if (n.perms[i].domid == who) access = n.perms[i].access;
  }
  return access == 'b' || access == (write ? 'w' : 'r');
}

Store::Tree* Store::tree_for(uint16_t who, uint32_t tx) {
  if (tx == 0) return &tree_;
  auto it = transactions_.find(tx);
  return it != transactions_.end() && it->second.who == who ? &it->second.view : nullptr;
}

void Store::touched(uint32_t tx, const std::string& path, bool write) {
  if (tx == 0) return;
  Transaction& x = transactions_.at(tx);
  x.touched.insert(path);
  if (write) x.written.insert(path);
}

void Store::changed(uint32_t tx, const std::string& path) {
  if (tx != 0) return;  // a transaction's changes fire at commit
  fire(path, false);
}

void Store::fire(const std::string& path, bool removed) {
  for (const Watch& w : watches_) {
    std::string event_path;
    if (is_below_or_at(path, w.path)) {
      event_path = path;
    } else if (removed && is_below_or_at(w.path, path)) {
      event_path = w.path;  // an ancestor of the watched node went away
    } else {
      continue;
    }
    if (w.given[0] != '/') {
      std::string h = home(w.who) + "/";
      if (event_path.compare(0, h.size(), h) == 0) event_path = event_path.substr(h.size());
    }
    events_.push_back({w.who, event_path, w.token});
  }
}

size_t Store::owned_by_guest(const Tree& t) const {
  size_t n = 0;
  for (const auto& [path, node] : t) n += !node.perms.empty() && node.perms[0].domid == guest_;
  return n;
}

// Creates path and its missing parents (owned by the caller), or, with
// keep, leaves an existing node's value alone (mkdir).
Result Store::create(uint16_t who, uint32_t tx, Tree& t, const std::string& path, std::string_view value, bool keep) {
  auto it = t.find(path);
  if (it != t.end()) {
    if (!can(who, it->second, true)) return fail(TG_STORE_ERR_EACCES);
    touched(tx, path, true);
    if (!keep) {
      it->second.value = value;
      it->second.changed = ++generation_;
    }
    if (!keep) changed(tx, path);
    return ok();
  }
  std::vector<std::string> missing{path};
  std::string parent = store_parent(path);
  while (!t.contains(parent)) {
    missing.push_back(parent);
    parent = store_parent(parent);
  }
  if (!can(who, t.at(parent), true)) return fail(TG_STORE_ERR_EACCES);
  if (who == guest_ && owned_by_guest(t) + missing.size() > TG_STORE_MAX_NODES) return fail(TG_STORE_ERR_ENOSPC);
  touched(tx, parent, true);  // its children changed
  t.at(parent).changed = ++generation_;
  for (auto p = missing.rbegin(); p != missing.rend(); ++p) {
    t[*p] = Node{*p == path ? std::string(value) : std::string(), {{'n', who}}, ++generation_};
    touched(tx, *p, true);
  }
  changed(tx, path);
  return ok();
}

// The tree a request works on (the transaction's or the live one) and its
// absolute path; an error result when either is wrong.
Result Store::locate(uint16_t who, uint32_t tx, std::string_view path, Tree*& tree, std::optional<std::string>& abs) {
  tree = tree_for(who, tx);
  abs = absolute(who, path);
  if (tree == nullptr || !abs) return fail(tree ? TG_STORE_ERR_EINVAL : TG_STORE_ERR_ENOENT);
  return {{}, {}};
}

Result Store::read(uint16_t who, uint32_t tx, std::string_view path) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  touched(tx, *abs, false);
  auto it = t->find(*abs);
  if (it == t->end()) return fail(TG_STORE_ERR_ENOENT);
  if (!can(who, it->second, false)) return fail(TG_STORE_ERR_EACCES);
  return {{}, it->second.value};
}

Result Store::write(uint16_t who, uint32_t tx, std::string_view path, std::string_view value) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  if (value.size() > TG_STORE_VALUE_MAX) return fail(TG_STORE_ERR_E2BIG);
  return create(who, tx, *t, *abs, value, false);
}

Result Store::mkdir(uint16_t who, uint32_t tx, std::string_view path) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  return create(who, tx, *t, *abs, {}, true);
}

Result Store::rm(uint16_t who, uint32_t tx, std::string_view path) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  auto it = t->find(*abs);
  if (it == t->end()) return fail(TG_STORE_ERR_ENOENT);
  // Removing a node changes its parent's children too: both must allow it
  // (so a guest cannot remove the directories of its home it writes in).
  if (*abs == "/" || !can(who, it->second, true) || !can(who, t->at(store_parent(*abs)), true)) {
    return fail(TG_STORE_ERR_EACCES);
  }
  auto end = it;
  while (end != t->end() && is_below_or_at(end->first, *abs)) ++end;
  t->erase(it, end);
  t->at(store_parent(*abs)).changed = ++generation_;
  if (tx != 0) {
    transactions_.at(tx).removed.insert(*abs);
    touched(tx, *abs, true);
    touched(tx, store_parent(*abs), true);
  } else {
    fire(*abs, true);
  }
  return ok();
}

Result Store::directory(uint16_t who, uint32_t tx, std::string_view path) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  touched(tx, *abs, false);
  auto it = t->find(*abs);
  if (it == t->end()) return fail(TG_STORE_ERR_ENOENT);
  if (!can(who, it->second, false)) return fail(TG_STORE_ERR_EACCES);
  std::string prefix = *abs == "/" ? "/" : *abs + "/";
  std::string names;
  for (auto c = t->lower_bound(prefix); c != t->end() && c->first.compare(0, prefix.size(), prefix) == 0; ++c) {
    std::string_view name = std::string_view(c->first).substr(prefix.size());
    if (name.empty() || name.find('/') != std::string_view::npos) continue;
    names.append(name);
    names.push_back('\0');
  }
  if (names.size() > TG_STORE_PAYLOAD_MAX) return fail(TG_STORE_ERR_E2BIG);
  return {{}, names};
}

Result Store::get_perms(uint16_t who, uint32_t tx, std::string_view path) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  touched(tx, *abs, false);
  auto it = t->find(*abs);
  if (it == t->end()) return fail(TG_STORE_ERR_ENOENT);
  if (!can(who, it->second, false)) return fail(TG_STORE_ERR_EACCES);
  std::string out;
  for (const StorePerm& p : it->second.perms) out += fmt::format("{}{}", p.access, p.domid) + '\0';
  return {{}, out};
}

Result Store::set_perms(uint16_t who, uint32_t tx, std::string_view path, const std::vector<std::string>& perms) {
  Tree* t = nullptr;
  std::optional<std::string> abs;
  if (Result r = locate(who, tx, path, t, abs); !r.ok()) return r;
  std::vector<StorePerm> parsed;
  for (const std::string& s : perms) {
    auto p = parse_store_perm(s);
    if (!p) return fail(TG_STORE_ERR_EINVAL);
    parsed.push_back(*p);
  }
  if (parsed.empty()) return fail(TG_STORE_ERR_EINVAL);
  auto it = t->find(*abs);
  if (it == t->end()) return fail(TG_STORE_ERR_ENOENT);
  Node& n = it->second;
  // Only the owner or the VMM, and only the VMM may give a node away.
  bool owner = !n.perms.empty() && n.perms[0].domid == who;
  if (who != 0 && (!owner || parsed[0].domid != who)) return fail(TG_STORE_ERR_EACCES);
  n.perms = parsed;
  n.changed = ++generation_;
  touched(tx, *abs, true);
  changed(tx, *abs);
  return ok();
}

Result Store::transaction_start(uint16_t who) {
  size_t open = 0;
  for (const auto& [id, x] : transactions_) open += x.who == who;
  if (open >= TG_STORE_MAX_TRANSACTIONS) return fail(TG_STORE_ERR_ENOSPC);
  uint32_t id = next_tx_++;
  if (next_tx_ == 0) next_tx_ = 1;
  transactions_[id] = Transaction{who, tree_, tree_, {}, {}, {}};
  return {{}, std::to_string(id) + '\0'};
}

// A node the transaction touched changed (appeared, went, or was written)
// since it started; for removed subtrees, any node inside.
bool Store::conflicts(const Transaction& x) const {
  auto same = [&](const std::string& p) {
    auto a = x.start.find(p);
    auto b = tree_.find(p);
    if ((a == x.start.end()) != (b == tree_.end())) return false;
    return a == x.start.end() || a->second.changed == b->second.changed;
  };
  for (const std::string& p : x.touched) {
    if (!same(p)) return true;
  }
  for (const std::string& top : x.removed) {
    for (auto it = tree_.lower_bound(top); it != tree_.end() && is_below_or_at(it->first, top); ++it) {
      if (!same(it->first)) return true;
    }
  }
  return false;
}

Result Store::transaction_end(uint16_t who, uint32_t tx, bool commit) {
  auto it = transactions_.find(tx);
  if (it == transactions_.end() || it->second.who != who) return fail(TG_STORE_ERR_ENOENT);
  Transaction x = std::move(it->second);
  transactions_.erase(it);
  if (!commit) return ok();
  if (conflicts(x)) return fail(TG_STORE_ERR_EAGAIN);
  for (const std::string& top : x.removed) {
    for (auto n = tree_.lower_bound(top); n != tree_.end() && is_below_or_at(n->first, top);) n = tree_.erase(n);
  }
  for (const std::string& p : x.written) {
    auto v = x.view.find(p);
    if (v == x.view.end()) continue;  // removed again later in the transaction
    tree_[p] = v->second;
    tree_[p].changed = ++generation_;
  }
  for (const std::string& top : x.removed) fire(top, true);
  for (const std::string& p : x.written) {
    if (x.view.contains(p)) fire(p, false);
  }
  return ok();
}

Result Store::watch(uint16_t who, std::string_view path, std::string_view token) {
  auto abs = absolute(who, path);
  if (!abs || token.find('\0') != std::string_view::npos) return fail(TG_STORE_ERR_EINVAL);
  size_t mine = 0;
  for (const Watch& w : watches_) {
    if (w.who != who) continue;
    ++mine;
    if (w.path == *abs && w.token == token) return fail(TG_STORE_ERR_EEXIST);
  }
  if (mine >= TG_STORE_MAX_WATCHES) return fail(TG_STORE_ERR_ENOSPC);
  watches_.push_back({who, std::string(path), *abs, std::string(token)});
  events_.push_back({who, std::string(path), std::string(token)});  // fires once at once
  return ok();
}

Result Store::unwatch(uint16_t who, std::string_view path, std::string_view token) {
  auto abs = absolute(who, path);
  if (!abs) return fail(TG_STORE_ERR_EINVAL);
  for (auto it = watches_.begin(); it != watches_.end(); ++it) {
    if (it->who == who && it->path == *abs && it->token == token) {
      watches_.erase(it);
      return ok();
    }
  }
  return fail(TG_STORE_ERR_ENOENT);
}

void Store::disconnect(uint16_t who) {
  std::erase_if(watches_, [&](const Watch& w) { return w.who == who; });
  std::erase_if(transactions_, [&](const auto& kv) { return kv.second.who == who; });
}

}  // namespace tortuga
