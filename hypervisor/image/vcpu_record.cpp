// The vcpu record (IMAGE.md, type 5) from a VcpuState and back. The reader
// checks the counts the format fixes (16 general registers, an XSAVE area
// of 4096 bytes or none, the callbacks, traps and run states); the vCPU
// checks the values (Vcpu::restore).
#include <fmt/format.h>

#include "image/component_records.h"
#include "image_records.h"

namespace tortuga {
namespace {

namespace pb = image;

pb::Segment segment_record(const VcpuState::Segment& s) {
  pb::Segment p;
  p.set_selector(s.selector);
  p.set_base(s.base);
  return p;
}

// XCRs and MSRs: (index, value) messages of two types alike.
template <typename Message>
void add_index_values(google::protobuf::RepeatedPtrField<Message>* out,
                      const std::vector<std::pair<uint32_t, uint64_t>>& values) {
  for (auto [i, v] : values) {
    auto* x = out->Add();
    x->set_index(i);
    x->set_value(v);
  }
}

pb::CpuRegisters registers_record(const VcpuState::Registers& c) {
  pb::CpuRegisters p;
  const kvm_regs& r = c.regs;
  for (uint64_t v :
       {r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15}) {
    p.add_gpr(v);
  }
  p.set_rip(r.rip);
  p.set_rflags(r.rflags);
  *p.mutable_cs() = segment_record(c.cs);
  *p.mutable_ss() = segment_record(c.ss);
  *p.mutable_ds() = segment_record(c.ds);
  *p.mutable_es() = segment_record(c.es);
  *p.mutable_fs() = segment_record(c.fs);
  *p.mutable_gs() = segment_record(c.gs);
  p.set_cr2(c.cr2);
  p.set_cr3(c.cr3);
  p.set_xsave(std::string(c.xsave.begin(), c.xsave.end()));
  add_index_values(p.mutable_xcrs(), c.xcrs);
  add_index_values(p.mutable_msrs(), c.msrs);
  return p;
}

pb::VirtualCpu virtual_cpu_record(const VirtualCpuState& v) {
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

VcpuState::Segment segment_from(const pb::Segment& p) {
  if (p.selector() > 0xffff) throw ImageError("segment selector out of range");
  return {static_cast<uint16_t>(p.selector()), p.base()};
}

VcpuState::Registers registers_from(const pb::CpuRegisters& p) {
  if (p.gpr_size() != 16) throw ImageError(fmt::format("vcpu record with {} general registers, not 16", p.gpr_size()));
  VcpuState::Registers c;
  kvm_regs& r = c.regs;
  __u64* dst[] = {&r.rax, &r.rbx, &r.rcx, &r.rdx, &r.rsi, &r.rdi, &r.rsp, &r.rbp,
                  &r.r8,  &r.r9,  &r.r10, &r.r11, &r.r12, &r.r13, &r.r14, &r.r15};
  for (int i = 0; i < 16; ++i) *dst[i] = p.gpr(i);
  r.rip = p.rip();
  r.rflags = p.rflags();
  c.cs = segment_from(p.cs());
  c.ss = segment_from(p.ss());
  c.ds = segment_from(p.ds());
  c.es = segment_from(p.es());
  c.fs = segment_from(p.fs());
  c.gs = segment_from(p.gs());
  c.cr2 = p.cr2();
  c.cr3 = p.cr3();
  if (!p.xsave().empty() && p.xsave().size() != 4096) throw ImageError("XSAVE area of the wrong size");
  c.xsave.assign(p.xsave().begin(), p.xsave().end());
  if (p.xcrs_size() > 16 || p.msrs_size() > 16) throw ImageError("too many XCRs or MSRs");
  for (const auto& x : p.xcrs()) c.xcrs.emplace_back(x.index(), x.value());
  for (const auto& m : p.msrs()) c.msrs.emplace_back(m.index(), m.value());
  return c;
}

VirtualCpuState virtual_cpu_from(const pb::VirtualCpu& p) {
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

}  // namespace

pb::Vcpu to_record(const VcpuState& v) {
  pb::Vcpu p;
  p.set_id(v.id);
  p.set_up(v.up);
  p.set_initialised(v.initialised);
  p.set_restart_hypercall(v.restart_hypercall);
  p.set_mask_events(v.mask_events);
  if (v.initialised) *p.mutable_regs() = registers_record(v.cpu);
  *p.mutable_virt() = virtual_cpu_record(v.virt);
  p.set_nmi_pending(v.nmi_pending);
  p.set_nmi_active(v.nmi_active);
  p.set_timer_deadline_ns(v.timer_deadline_ns);
  p.set_kernel_base_gfn(v.kernel_base_gfn);
  p.set_user_base_gfn(v.user_base_gfn);
  for (uint64_t t : v.runstate_time) p.add_runstate_time(t);
  return p;
}

VcpuState from_record(const pb::Vcpu& p) {
  VcpuState v;
  v.id = p.id();
  v.up = p.up();
  v.initialised = p.initialised();
  v.restart_hypercall = p.restart_hypercall();
  v.mask_events = p.mask_events();
  if (v.initialised) v.cpu = registers_from(p.regs());
  v.virt = virtual_cpu_from(p.virt());
  v.nmi_pending = p.nmi_pending();
  v.nmi_active = p.nmi_active();
  v.timer_deadline_ns = p.timer_deadline_ns();
  v.kernel_base_gfn = p.kernel_base_gfn();
  v.user_base_gfn = p.user_base_gfn();
  if (p.runstate_time_size() != TG_NR_RUNSTATES) throw ImageError("vcpu record without its run-state times");
  for (int i = 0; i < TG_NR_RUNSTATES; ++i) v.runstate_time[i] = p.runstate_time(i);
  return v;
}

}  // namespace tortuga
