// The store record (IMAGE.md, type 10) from a StoreState and back. The
// reader checks permissions parse and domain ids fit; Store::restore
// checks the tree, watches and transactions.
#include <fmt/format.h>

#include "image/component_records.h"
#include "image_records.h"

namespace tortuga {
namespace {

namespace pb = image;

void add_nodes(google::protobuf::RepeatedPtrField<pb::StoreNode>* out, const std::vector<StoreState::Node>& nodes) {
  for (const auto& n : nodes) {
    auto* p = out->Add();
    p->set_path(n.path);
    p->set_value(n.value);
    for (const StorePerm& perm : n.perms) p->add_perms(format_store_perm(perm));
    p->set_changed(n.changed);
  }
}

void add_transaction(pb::Store& p, const StoreState::Transaction& t) {
  auto* x = p.add_transactions();
  x->set_id(t.id);
  x->set_who(t.who);
  add_nodes(x->mutable_start(), t.start);
  add_nodes(x->mutable_view(), t.view);
  for (const auto& path : t.touched) x->add_touched(path);
  for (const auto& path : t.written) x->add_written(path);
  for (const auto& path : t.removed) x->add_removed(path);
}

std::vector<StoreState::Node> nodes_from(const google::protobuf::RepeatedPtrField<pb::StoreNode>& in) {
  std::vector<StoreState::Node> out;
  for (const auto& n : in) {
    StoreState::Node node{n.path(), n.value(), {}, n.changed()};
    for (const auto& s : n.perms()) {
      auto perm = parse_store_perm(s);
      if (!perm) throw ImageError(fmt::format("store node {} has a malformed permission", n.path()));
      node.perms.push_back(*perm);
    }
    out.push_back(std::move(node));
  }
  return out;
}

uint16_t domid(uint32_t v) {
  if (v > 0xffff) throw ImageError("store domain id out of range");
  return static_cast<uint16_t>(v);
}

StoreState::Transaction transaction_from(const pb::Store::Transaction& t) {
  StoreState::Transaction x{t.id(), domid(t.who()), nodes_from(t.start()), nodes_from(t.view()), {}, {}, {}};
  x.touched.assign(t.touched().begin(), t.touched().end());
  x.written.assign(t.written().begin(), t.written().end());
  x.removed.assign(t.removed().begin(), t.removed().end());
  return x;
}

}  // namespace

pb::Store to_record(const StoreState& s) {
  pb::Store p;
  p.set_guest_domid(s.guest);
  add_nodes(p.mutable_nodes(), s.nodes);
  p.set_generation(s.generation);
  p.set_next_transaction(s.next_tx);
  for (const auto& w : s.watches) {
    auto* x = p.add_watches();
    x->set_who(w.who);
    x->set_given(w.given);
    x->set_path(w.path);
    x->set_token(w.token);
  }
  for (const auto& t : s.transactions) add_transaction(p, t);
  for (const auto& e : s.events) {
    auto* x = p.add_events();
    x->set_who(e.who);
    x->set_path(e.path);
    x->set_token(e.token);
  }
  return p;
}

StoreState from_record(const pb::Store& p) {
  StoreState s;
  s.guest = domid(p.guest_domid());
  s.nodes = nodes_from(p.nodes());
  s.generation = p.generation();
  s.next_tx = p.next_transaction();
  for (const auto& w : p.watches()) s.watches.push_back({domid(w.who()), w.given(), w.path(), w.token()});
  for (const auto& t : p.transactions()) s.transactions.push_back(transaction_from(t));
  for (const auto& e : p.events()) s.events.push_back({domid(e.who()), e.path(), e.token()});
  return s;
}

}  // namespace tortuga
