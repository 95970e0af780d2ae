#include "image/domain_image.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <tortuga/types.h>

#include "domain_image.pb.h"
#include "unique_fd.h"

namespace tortuga {
namespace {

namespace pb = image;

constexpr uint64_t kPage = kImagePageSize;

// ---- writing ------------------------------------------------------------

pb::Segment to_proto(const SegmentSnapshot& s) {
  pb::Segment p;
  p.set_selector(s.selector);
  p.set_base(s.base);
  return p;
}

pb::CpuRegisters to_proto(const CpuRegistersSnapshot& c) {
  pb::CpuRegisters p;
  const kvm_regs& r = c.regs;
  for (uint64_t v : {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13,
                     r.r14, r.r15}) {
    p.add_gpr(v);
  }
  p.set_rip(r.rip);
  p.set_rflags(r.rflags);
  *p.mutable_cs() = to_proto(c.cs);
  *p.mutable_ss() = to_proto(c.ss);
  *p.mutable_ds() = to_proto(c.ds);
  *p.mutable_es() = to_proto(c.es);
  *p.mutable_fs() = to_proto(c.fs);
  *p.mutable_gs() = to_proto(c.gs);
  p.set_cr2(c.cr2);
  p.set_cr3(c.cr3);
  p.set_xsave(std::string(c.xsave.begin(), c.xsave.end()));
  for (auto [i, v] : c.xcrs) {
    auto* x = p.add_xcrs();
    x->set_index(i);
    x->set_value(v);
  }
  for (auto [i, v] : c.msrs) {
    auto* m = p.add_msrs();
    m->set_index(i);
    m->set_value(v);
  }
  return p;
}

pb::VirtualCpu to_proto(const VirtualCpuState& v) {
  pb::VirtualCpu p;
  p.set_kernel_mode(v.kernel_mode != 0);
  p.set_kernel_cr3(v.kernel_cr3);
  p.set_user_cr3(v.user_cr3);
  p.set_kernel_ss(v.kernel_ss);
  p.set_kernel_sp(v.kernel_sp);
  p.set_fs_base(v.fs_base);
  p.set_gs_base_kernel(v.gs_base_kernel);
  p.set_gs_base_user(v.gs_base_user);
  for (unsigned i = 0; i < TG_NR_CALLBACKS; ++i) {
    p.add_callback(v.callback[i]);
    p.add_callback_flags(v.callback_flags[i]);
  }
  for (const TrapTableEntry& t : v.traps) {
    auto* e = p.add_traps();
    e->set_handler(t.handler);
    e->set_flags(t.flags);
  }
  return p;
}

pb::Vcpu to_proto(const VcpuSnapshot& v) {
  pb::Vcpu p;
  p.set_id(v.id);
  p.set_up(v.up);
  p.set_initialised(v.initialised);
  p.set_restart_hypercall(v.restart_hypercall);
  p.set_mask_events(v.mask_events);
  if (v.initialised) *p.mutable_regs() = to_proto(v.cpu);
  *p.mutable_virt() = to_proto(v.virt);
  p.set_nmi_pending(v.nmi_pending);
  p.set_nmi_active(v.nmi_active);
  p.set_timer_deadline_ns(v.timer_deadline_ns);
  p.set_kernel_base_gfn(v.kernel_base_gfn);
  p.set_user_base_gfn(v.user_base_gfn);
  for (uint64_t t : v.runstate_time) p.add_runstate_time(t);
  return p;
}

void add_nodes(google::protobuf::RepeatedPtrField<pb::StoreNode>* out, const std::vector<StoreState::Node>& nodes) {
  for (const auto& n : nodes) {
    auto* p = out->Add();
    p->set_path(n.path);
    p->set_value(n.value);
    for (const StorePerm& perm : n.perms) p->add_perms(format_store_perm(perm));
    p->set_changed(n.changed);
  }
}

pb::Store to_proto(const StoreState& s) {
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
  for (const auto& t : s.transactions) {
    auto* x = p.add_transactions();
    x->set_id(t.id);
    x->set_who(t.who);
    add_nodes(x->mutable_start(), t.start);
    add_nodes(x->mutable_view(), t.view);
    for (const auto& path : t.touched) x->add_touched(path);
    for (const auto& path : t.written) x->add_written(path);
    for (const auto& path : t.removed) x->add_removed(path);
  }
  for (const auto& e : s.events) {
    auto* x = p.add_events();
    x->set_who(e.who);
    x->set_path(e.path);
    x->set_token(e.token);
  }
  return p;
}

pb::Layout to_proto(const BootLayout& l) {
  pb::Layout p;
  p.set_virt_base(l.virt_base);
  p.set_start_info_gpa(l.start_info_gpa);
  p.set_shared_info_gpa(l.shared_info_gpa);
  p.set_console_ring_gpa(l.console_ring_gpa);
  p.set_store_ring_gpa(l.store_ring_gpa);
  p.set_page_tables_gpa(l.page_tables_gpa);
  p.set_nr_page_table_frames(l.nr_page_table_frames);
  p.set_stack_top_gpa(l.stack_top_gpa);
  p.set_first_free_gpa(l.first_free_gpa);
  p.set_boot_map_end(l.boot_map_end);
  p.set_entry(l.entry);
  p.set_mod_gpa(l.mod_gpa);
  p.set_mod_len(l.mod_len);
  return p;
}

pb::Device to_proto(const DeviceSnapshot& d) {
  pb::Device p;
  p.set_type(d.type);
  p.set_id(d.id);
  if (!d.disk.path.empty()) {
    auto* disk = p.mutable_disk();
    disk->set_path(d.disk.path);
    disk->set_read_only(d.disk.read_only);
    disk->set_uring(d.disk.uring);
    disk->set_vdev(d.disk.vdev);
    disk->set_bytes(d.disk_bytes);
  }
  if (!d.nic.tap.empty()) {
    auto* nic = p.mutable_nic();
    nic->set_tap(d.nic.tap);
    nic->set_mac(d.nic.mac);
    nic->set_bridge(d.nic.bridge);
  }
  auto* split = p.mutable_split();
  split->set_state(static_cast<uint32_t>(d.split.state));
  for (const auto& [name, value] : d.split.frontend_keys) {
    auto* k = split->add_frontend_keys();
    k->set_name(name);
    k->set_value(value);
  }
  for (const RingPosition& r : d.split.position) {
    auto* ring = split->add_rings();
    ring->set_attached(r.attached);
    ring->set_req_cons(r.req_cons);
    ring->set_rsp_prod_pvt(r.rsp_prod_pvt);
  }
  for (const auto& [name, value] : d.split.features) {
    auto* f = split->add_features();
    f->set_name(name);
    f->set_value(value);
  }
  return p;
}

void put(ImageWriter& w, RecordType type, const google::protobuf::MessageLite& m) {
  w.write(type, m.SerializeAsString());
}

// Every populated page that is not all zeros (a new domain's memory is
// zeros already), in batches sent straight from guest memory.
void write_memory(ImageWriter& w, const GuestMemory& memory, const std::vector<uint64_t>& absent, SaveFigures& f) {
  std::vector<bool> skip(memory.ram_pages());
  for (uint64_t gfn : absent) skip.at(gfn) = true;
  std::vector<uint64_t> batch;
  auto flush = [&] {
    if (batch.empty()) return;
    std::vector<uint8_t> head = encode_page_batch_head(batch);
    std::vector<std::span<const uint8_t>> parts{head};
    for (uint64_t gfn : batch) parts.emplace_back(memory.ram(gfn * kPage, kPage), kPage);
    w.write(RecordType::kPages, parts);
    f.pages += batch.size();
    batch.clear();
  };
  for (uint64_t gfn = 0; gfn < memory.ram_pages(); ++gfn) {
    if (skip[gfn] || page_is_zero(memory.ram(gfn * kPage, kPage))) continue;
    batch.push_back(gfn);
    if (batch.size() == kMaxPagesPerBatch) flush();
  }
  flush();
}

// ---- reading ------------------------------------------------------------

template <typename M>
M parse(const Record& r) {
  M m;
  if (!m.ParseFromString(r.payload)) throw ImageError(fmt::format("{} record does not parse", record_name(r.type)));
  return m;
}

SegmentSnapshot from_proto(const pb::Segment& p) {
  if (p.selector() > 0xffff) throw ImageError("segment selector out of range");
  return {static_cast<uint16_t>(p.selector()), p.base()};
}

CpuRegistersSnapshot from_proto(const pb::CpuRegisters& p) {
  if (p.gpr_size() != 16) throw ImageError(fmt::format("vcpu record with {} general registers, not 16", p.gpr_size()));
  CpuRegistersSnapshot c;
  kvm_regs& r = c.regs;
  __u64* dst[] = {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rsp, &r.rbp,
                     &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  for (int i = 0; i < 16; ++i) *dst[i] = p.gpr(i);
  r.rip = p.rip();
  r.rflags = p.rflags();
  c.cs = from_proto(p.cs());
  c.ss = from_proto(p.ss());
  c.ds = from_proto(p.ds());
  c.es = from_proto(p.es());
  c.fs = from_proto(p.fs());
  c.gs = from_proto(p.gs());
  c.cr2 = p.cr2();
  c.cr3 = p.cr3();
  if (!p.xsave().empty() && p.xsave().size() != 4096) throw ImageError("XSAVE area of the wrong size");
  c.xsave.assign(p.xsave().begin(), p.xsave().end());
  if (p.xcrs_size() > 16 || p.msrs_size() > 16) throw ImageError("too many XCRs or MSRs");
  for (const auto& x : p.xcrs()) c.xcrs.emplace_back(x.index(), x.value());
  for (const auto& m : p.msrs()) c.msrs.emplace_back(m.index(), m.value());
  return c;
}

VirtualCpuState from_proto(const pb::VirtualCpu& p) {
  if (p.callback_size() != TG_NR_CALLBACKS || p.callback_flags_size() != TG_NR_CALLBACKS ||
      p.traps_size() != TG_NR_EXCEPTION_VECTORS) {
    throw ImageError("vcpu record with a wrong number of callbacks or traps");
  }
  VirtualCpuState v{};
  v.kernel_mode = p.kernel_mode() ? 1 : 0;
  v.kernel_cr3 = p.kernel_cr3();
  v.user_cr3 = p.user_cr3();
  v.kernel_ss = p.kernel_ss();
  v.kernel_sp = p.kernel_sp();
  v.fs_base = p.fs_base();
  v.gs_base_kernel = p.gs_base_kernel();
  v.gs_base_user = p.gs_base_user();
  for (int i = 0; i < TG_NR_CALLBACKS; ++i) {
    v.callback[i] = p.callback(i);
    v.callback_flags[i] = p.callback_flags(i);
  }
  for (int i = 0; i < TG_NR_EXCEPTION_VECTORS; ++i) v.traps[i] = {p.traps(i).handler(), p.traps(i).flags()};
  return v;
}

VcpuSnapshot from_proto(const pb::Vcpu& p) {
  VcpuSnapshot v;
  v.id = p.id();
  v.up = p.up();
  v.initialised = p.initialised();
  v.restart_hypercall = p.restart_hypercall();
  v.mask_events = p.mask_events();
  if (v.initialised) v.cpu = from_proto(p.regs());
  v.virt = from_proto(p.virt());
  v.nmi_pending = p.nmi_pending();
  v.nmi_active = p.nmi_active();
  v.timer_deadline_ns = p.timer_deadline_ns();
  v.kernel_base_gfn = p.kernel_base_gfn();
  v.user_base_gfn = p.user_base_gfn();
  if (p.runstate_time_size() != TG_NR_RUNSTATES) throw ImageError("vcpu record without its run-state times");
  for (int i = 0; i < TG_NR_RUNSTATES; ++i) v.runstate_time[i] = p.runstate_time(i);
  return v;
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

StoreState from_proto(const pb::Store& p) {
  StoreState s;
  s.guest = domid(p.guest_domid());
  s.nodes = nodes_from(p.nodes());
  s.generation = p.generation();
  s.next_tx = p.next_transaction();
  for (const auto& w : p.watches()) s.watches.push_back({domid(w.who()), w.given(), w.path(), w.token()});
  for (const auto& t : p.transactions()) {
    StoreState::Transaction x{t.id(), domid(t.who()), nodes_from(t.start()), nodes_from(t.view()), {}, {}, {}};
    x.touched.assign(t.touched().begin(), t.touched().end());
    x.written.assign(t.written().begin(), t.written().end());
    x.removed.assign(t.removed().begin(), t.removed().end());
    s.transactions.push_back(std::move(x));
  }
  for (const auto& e : p.events()) s.events.push_back({domid(e.who()), e.path(), e.token()});
  return s;
}

// Sizes only: what each value means is checked by the device set and the
// split device that take it (DeviceSet::restore).
constexpr size_t kMaxDevices = kMaxDisks + kMaxNicId + 1;
constexpr size_t kMaxDeviceText = 4096;
constexpr int kMaxDeviceKeys = 16;

const std::string& bounded(const std::string& text) {
  if (text.size() > kMaxDeviceText) throw ImageError("devices record with a string over its limit");
  return text;
}

DeviceSnapshot from_proto(const pb::Device& p) {
  DeviceSnapshot d;
  d.type = bounded(p.type());
  d.id = p.id();
  d.disk = {bounded(p.disk().path()), p.disk().read_only(), p.disk().uring(), bounded(p.disk().vdev())};
  d.disk_bytes = p.disk().bytes();
  d.nic = {bounded(p.nic().tap()), bounded(p.nic().mac()), bounded(p.nic().bridge()), p.id()};
  const pb::SplitDeviceState& s = p.split();
  if (s.frontend_keys_size() > kMaxDeviceKeys || s.features_size() > kMaxDeviceKeys || s.rings_size() > 2) {
    throw ImageError("devices record with too many keys or rings");
  }
  if (s.state() > 255) throw ImageError("devices record with a state out of range");
  d.split.state = static_cast<int>(s.state());
  for (const auto& k : s.frontend_keys()) {
    if (!d.split.frontend_keys.emplace(bounded(k.name()), k.value()).second) {
      throw ImageError("devices record with a frontend key twice");
    }
  }
  for (const auto& r : s.rings()) d.split.position.push_back({r.attached(), r.req_cons(), r.rsp_prod_pvt()});
  for (const auto& f : s.features()) d.split.features.emplace_back(bounded(f.name()), bounded(f.value()));
  return d;
}

BootLayout from_proto(const pb::Layout& p) {
  BootLayout l;
  l.virt_base = p.virt_base();
  l.start_info_gpa = p.start_info_gpa();
  l.shared_info_gpa = p.shared_info_gpa();
  l.console_ring_gpa = p.console_ring_gpa();
  l.store_ring_gpa = p.store_ring_gpa();
  l.page_tables_gpa = p.page_tables_gpa();
  l.nr_page_table_frames = p.nr_page_table_frames();
  l.stack_top_gpa = p.stack_top_gpa();
  l.first_free_gpa = p.first_free_gpa();
  l.boot_map_end = p.boot_map_end();
  l.entry = p.entry();
  l.mod_gpa = p.mod_gpa();
  l.mod_len = p.mod_len();
  return l;
}

// A temporary file beside the target, removed unless committed.
class TemporaryFile {
 public:
  explicit TemporaryFile(const std::string& target) : target_(target) {
    std::filesystem::path t(target);
    std::string dir = t.parent_path().empty() ? "." : t.parent_path().string();
    path_ = dir + "/." + t.filename().string() + ".XXXXXX";
    fd_ = UniqueFd(::mkostemp(path_.data(), O_CLOEXEC));
    if (!fd_.valid()) throw std::runtime_error(fmt::format("cannot create a file beside {}: {}", target, std::strerror(errno)));
    dir_ = dir;
  }
  ~TemporaryFile() {
    if (!committed_) ::unlink(path_.c_str());
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  int fd() const { return fd_.get(); }

  // fsync, rename over the target, fsync the directory.
  void commit() {
    if (::fchmod(fd_.get(), 0600) != 0 || ::fsync(fd_.get()) != 0) fail("sync");
    if (::rename(path_.c_str(), target_.c_str()) != 0) fail("rename into place");
    committed_ = true;
    UniqueFd dir(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) != 0) fail("sync the directory of");
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw std::runtime_error(fmt::format("cannot {} {}: {}", what, target_, std::strerror(errno)));
  }
  std::string target_, path_, dir_;
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace

void write_domain_records(ImageWriter& w, const DomainState& st, const GuestMemory& memory, SaveFigures& figures) {
  write_image_head(w, st, memory);
  write_memory(w, memory, st.page_types.absent, figures);
  write_image_state(w, st, figures);
}

void write_page_batches(ImageWriter& w, const GuestMemory& memory, std::span<const uint64_t> gfns, SaveFigures& f) {
  for (size_t at = 0; at < gfns.size(); at += kMaxPagesPerBatch) {
    auto batch = gfns.subspan(at, std::min<size_t>(kMaxPagesPerBatch, gfns.size() - at));
    std::vector<uint8_t> head = encode_page_batch_head(batch);
    std::vector<std::span<const uint8_t>> parts{head};
    for (uint64_t gfn : batch) {
      if (gfn >= memory.ram_pages()) throw std::logic_error("write_page_batches: gfn outside RAM");
      parts.emplace_back(memory.ram(gfn * kPage, kPage), kPage);
    }
    w.write(RecordType::kPages, parts);
    f.pages += batch.size();
  }
}

void write_image_head(ImageWriter& w, const DomainState& st, const GuestMemory& memory) {
  pb::Header header;
  header.set_format_version(kImageFormatVersion);
  header.set_abi_version(TG_ABI_VERSION);
  header.set_page_size(kImagePageSize);
  header.set_memory_bytes(memory.ram_size());
  header.set_vcpus(st.vcpus);
  header.set_saved_realtime_ns(st.saved_realtime_ns);
  header.set_vmm_version(TORTUGA_VERSION);
  put(w, RecordType::kHeader, header);
  pb::Config config;
  config.set_name(st.name);
  config.set_memory_mib(st.memory_mib);
  config.set_vcpus(st.vcpus);
  config.set_cmdline(st.cmdline);
  config.set_kernel(st.kernel);
  config.set_initramfs(st.initramfs);
  config.set_toolstack(st.toolstack_config);
  put(w, RecordType::kConfig, config);
  pb::Platform platform;
  *platform.mutable_layout() = to_proto(st.layout);
  put(w, RecordType::kPlatform, platform);
}

void write_image_state(ImageWriter& w, const DomainState& st, SaveFigures& figures) {
  for (const VcpuSnapshot& v : st.vcpu) put(w, RecordType::kVcpu, to_proto(v));
  pb::PageTypes types;
  for (auto [gfn, level] : st.page_types.pins) {
    auto* p = types.add_pins();
    p->set_gfn(gfn);
    p->set_level(level);
  }
  for (uint64_t gfn : st.page_types.absent) types.add_absent(gfn);
  for (auto [gfn, type] : st.page_types.typed) {
    auto* t = types.add_typed();
    t->set_gfn(gfn);
    t->set_type(static_cast<uint32_t>(type));
  }
  put(w, RecordType::kPageTypes, types);
  pb::EventChannels events;
  for (const EventPortSnapshot& p : st.ports) {
    auto* e = events.add_ports();
    e->set_port(p.port);
    e->set_state(p.state);
    e->set_vcpu(p.vcpu);
    e->set_virq(p.virq);
  }
  events.set_console_port(st.console_port);
  events.set_store_port(st.store_port);
  put(w, RecordType::kEventChannels, events);
  pb::GrantTable grants;
  for (uint64_t gfn : st.grant_frames) grants.add_frames(gfn);
  for (const GrantMapSnapshot& m : st.grant_maps) {
    auto* g = grants.add_maps();
    g->set_handle(m.handle);
    g->set_ref(m.ref);
    g->set_host_addr(m.host_addr);
    g->set_gfn(m.gfn);
    g->set_readonly(m.readonly);
  }
  put(w, RecordType::kGrantTable, grants);
  pb::Time time;
  time.set_system_time_ns(st.system_time_ns);
  time.set_tsc_khz(st.tsc_khz);
  time.set_realtime_ns(st.saved_realtime_ns);
  put(w, RecordType::kTime, time);
  put(w, RecordType::kStore, to_proto(st.store));
  pb::StoreRing ring;
  ring.set_req_cons(st.store_ring.req_cons);
  ring.set_rsp_prod(st.store_ring.rsp_prod);
  ring.set_partial_request(st.store_ring.partial_request);
  ring.set_discarding(st.store_ring.discarding);
  ring.set_output(st.store_ring.output);
  for (uint64_t n : st.store_ring.output_sizes) ring.add_output_sizes(n);
  put(w, RecordType::kStoreRing, ring);
  pb::ConsoleRing console;
  console.set_in_prod(st.console_ring.in_prod);
  console.set_backlog(st.console_ring.backlog);
  put(w, RecordType::kConsoleRing, console);
  // Only with devices: an image without them stays readable by a VMM
  // that knows no device record (it is mandatory when present).
  if (!st.devices.empty()) {
    pb::Devices devices;
    for (const DeviceSnapshot& d : st.devices) *devices.add_devices() = to_proto(d);
    put(w, RecordType::kDevices, devices);
  }
  pb::End end;
  end.set_records(w.records());
  end.set_pages(figures.pages);
  put(w, RecordType::kEnd, end);
  w.flush();
  figures.records = w.records();
  figures.bytes = w.bytes();
}

SaveFigures save_domain_image(Domain& domain, const std::string& path) {
  if (path.empty()) throw std::runtime_error("no path to save to");
  DomainState state = domain.capture_state();
  TemporaryFile file(path);
  ImageWriter writer(file.fd());
  SaveFigures figures;
  try {
    write_domain_records(writer, state, domain.memory(), figures);
  } catch (const ImageError& e) {
    throw std::runtime_error(fmt::format("cannot write {}: {}", path, e.what()));
  }
  file.commit();
  return figures;
}

ImageSource::ImageSource(int fd) : reader_(fd) {
  Record r = reader_.next();
  if (r.type != static_cast<uint32_t>(RecordType::kHeader)) throw ImageError("the first record is not the header");
  auto h = parse<pb::Header>(r);
  if (h.format_version() != kImageFormatVersion) {
    throw ImageError(fmt::format("image format version {} (this VMM reads version {})", h.format_version(),
                                 kImageFormatVersion));
  }
  if (h.abi_version() >> 16 != TG_ABI_VERSION >> 16) {
    throw ImageError(fmt::format("image of ABI version {:#x}; this VMM implements {:#x}", h.abi_version(), TG_ABI_VERSION));
  }
  if (h.page_size() != kImagePageSize) throw ImageError(fmt::format("page size {} (not {})", h.page_size(), kImagePageSize));
  r = reader_.next();
  if (r.type != static_cast<uint32_t>(RecordType::kConfig)) throw ImageError("the second record is not the config");
  auto c = parse<pb::Config>(r);
  if (c.memory_mib() == 0 || c.memory_mib() > (1ULL << 20) || c.memory_mib() << 20 != h.memory_bytes()) {
    throw ImageError(fmt::format("memory size disagrees: header {} bytes, config {} MiB", h.memory_bytes(), c.memory_mib()));
  }
  if (c.vcpus() != h.vcpus() || c.vcpus() == 0 || c.vcpus() > TG_MAX_VCPUS) {
    throw ImageError(fmt::format("vCPU count disagrees: header {}, config {}", h.vcpus(), c.vcpus()));
  }
  config_.name = c.name();
  config_.memory_mib = c.memory_mib();
  config_.vcpus = c.vcpus();
  config_.cmdline = c.cmdline();
  config_.kernel = c.kernel();
  config_.initramfs = c.initramfs();
  config_.toolstack_config = c.toolstack();
  memory_bytes_ = h.memory_bytes();
  saved_realtime_ns_ = h.saved_realtime_ns();
}

DomainConfig ImageSource::config() { return config_; }

Record ImageSource::next() {
  Record r = reader_.next();
  bool known = r.type >= static_cast<uint32_t>(RecordType::kHeader) &&
               r.type <= static_cast<uint32_t>(RecordType::kConsoleRing);
  known = known || r.type == static_cast<uint32_t>(RecordType::kDevices) ||
          r.type == static_cast<uint32_t>(RecordType::kEnd);
  if (!known) {
    if (r.flags & kRecordMandatory) throw ImageError(fmt::format("unknown mandatory {}", record_name(r.type)));
    return next();  // optional and unknown: a newer writer's extra, skipped
  }
  return r;
}

void ImageSource::read_memory(const GuestMemory& memory) {
  if (memory.ram_size() != memory_bytes_) throw std::logic_error("memory of another size than the image's");
  Record r = next();
  if (r.type != static_cast<uint32_t>(RecordType::kPlatform)) throw ImageError("the platform record is missing");
  pending_ = std::move(r);
  have_pending_ = true;
  for (;;) {
    r = next();
    if (r.type != static_cast<uint32_t>(RecordType::kPages)) break;
    PageBatch b = decode_page_batch(r.payload);
    for (size_t i = 0; i < b.gfns.size(); ++i) {
      uint64_t gfn = b.gfns[i];
      uint8_t* dst = gfn < memory.ram_pages() ? memory.ram(gfn * kPage, kPage) : nullptr;
      if (dst == nullptr) throw ImageError(fmt::format("page batch holds gfn {:#x}, outside the domain's memory", gfn));
      std::memcpy(dst, b.pages + i * kPage, kPage);  // a later copy of a gfn wins
    }
    pages_ += b.gfns.size();
  }
  state_first_ = std::move(r);
}

DomainState ImageSource::read_state() {
  DomainState st;
  copy_config_to_state(config_, st);
  if (!have_pending_) throw std::logic_error("read_state before read_memory");
  st.layout = from_proto(parse<pb::Platform>(pending_).layout());
  std::set<uint32_t> seen;
  uint64_t time_realtime_ns = 0;
  Record r = std::move(state_first_);
  for (;; r = next()) {
    auto type = static_cast<RecordType>(r.type);
    if (type == RecordType::kEnd) break;
    if (type != RecordType::kVcpu && !seen.insert(r.type).second) {
      throw ImageError(fmt::format("{} record appears twice", record_name(r.type)));
    }
    switch (type) {
      case RecordType::kVcpu: {
        VcpuSnapshot v = from_proto(parse<pb::Vcpu>(r));
        if (v.id != st.vcpu.size() || v.id >= config_.vcpus) throw ImageError(fmt::format("vcpu record {} out of order", v.id));
        st.vcpu.push_back(std::move(v));
        break;
      }
      case RecordType::kPageTypes: {
        auto p = parse<pb::PageTypes>(r);
        for (const auto& pin : p.pins()) st.page_types.pins.emplace_back(pin.gfn(), pin.level());
        st.page_types.absent.assign(p.absent().begin(), p.absent().end());
        for (const auto& t : p.typed()) {
          if (t.type() > TG_PGT_VMM) throw ImageError("unknown page type");
          st.page_types.typed.emplace_back(t.gfn(), static_cast<PageType>(t.type()));
        }
        for (uint64_t gfn : st.page_types.absent) {
          if (gfn * kPage >= memory_bytes_) throw ImageError(fmt::format("released gfn {:#x} outside memory", gfn));
        }
        break;
      }
      case RecordType::kEventChannels: {
        auto p = parse<pb::EventChannels>(r);
        for (const auto& e : p.ports()) st.ports.push_back({e.port(), e.state(), e.vcpu(), e.virq()});
        st.console_port = p.console_port();
        st.store_port = p.store_port();
        break;
      }
      case RecordType::kGrantTable: {
        auto p = parse<pb::GrantTable>(r);
        st.grant_frames.assign(p.frames().begin(), p.frames().end());
        for (const auto& m : p.maps()) st.grant_maps.push_back({m.handle(), m.ref(), m.host_addr(), m.gfn(), m.readonly()});
        break;
      }
      case RecordType::kTime: {
        auto p = parse<pb::Time>(r);
        st.system_time_ns = p.system_time_ns();
        st.tsc_khz = p.tsc_khz();
        time_realtime_ns = p.realtime_ns();
        break;
      }
      case RecordType::kStore:
        st.store = from_proto(parse<pb::Store>(r));
        break;
      case RecordType::kStoreRing: {
        auto p = parse<pb::StoreRing>(r);
        st.store_ring = {p.req_cons(), p.rsp_prod(), p.partial_request(), p.discarding(), p.output(), {}};
        st.store_ring.output_sizes.assign(p.output_sizes().begin(), p.output_sizes().end());
        break;
      }
      case RecordType::kConsoleRing: {
        auto p = parse<pb::ConsoleRing>(r);
        st.console_ring = {p.in_prod(), p.backlog()};
        break;
      }
      case RecordType::kDevices: {
        auto p = parse<pb::Devices>(r);
        if (static_cast<size_t>(p.devices_size()) > kMaxDevices) throw ImageError("devices record with too many devices");
        for (const auto& d : p.devices()) st.devices.push_back(from_proto(d));
        break;
      }
      default:
        throw ImageError(fmt::format("{} record out of place", record_name(r.type)));
    }
  }
  auto end = parse<pb::End>(r);
  if (end.records() + 1 != reader_.records() || end.pages() != pages_) {
    throw ImageError(fmt::format("the end record counts {} records and {} pages, the image has {} and {}",
                                 end.records(), end.pages(), reader_.records() - 1, pages_));
  }
  if (st.vcpu.size() != config_.vcpus) {
    throw ImageError(fmt::format("{} vcpu records for {} vCPUs", st.vcpu.size(), config_.vcpus));
  }
  for (RecordType t : {RecordType::kPageTypes, RecordType::kEventChannels, RecordType::kGrantTable, RecordType::kTime,
                       RecordType::kStore, RecordType::kStoreRing, RecordType::kConsoleRing}) {
    if (!seen.contains(static_cast<uint32_t>(t))) throw ImageError(fmt::format("the {} record is missing", record_name(static_cast<uint32_t>(t))));
  }
  // When the domain stopped: the time record's, else (an older image) the
  // header's.
  st.saved_realtime_ns = time_realtime_ns != 0 ? time_realtime_ns : saved_realtime_ns_;
  return st;
}

}  // namespace tortuga
