#include "mmu/apply_program.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace tortuga {
namespace {

// A little x86-64 assembler for the handful of instructions the routine uses.
class Emitter {
 public:
  explicit Emitter(uint8_t* out) : out_(out) {}
  size_t size() const { return n_; }

  void movabs_imm(uint8_t reg, uint64_t imm) {  // movabs $imm, %reg (rax=0 rcx=1 rsi=6 rdi=7)
    bytes({0x48, static_cast<uint8_t>(0xb8 + reg)});
    u64(imm);
  }
  void store_rax_absolute(uint64_t va) {  // movabs %rax, va
    bytes({0x48, 0xa3});
    u64(va);
  }
  void mov_ecx_imm(uint32_t imm) {  // mov $imm, %ecx
    bytes({0xb9});
    std::memcpy(out_ + n_, &imm, 4);
    n_ += 4;
  }
  void rep_movsq() { bytes({0xf3, 0x48, 0xa5}); }
  void reload_cr3() { bytes({0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8}); }  // mov %cr3,%rax; mov %rax,%cr3
  void load_cr3_from_rax() { bytes({0x0f, 0x22, 0xd8}); }             // mov %rax,%cr3
  void invlpg_rax() { bytes({0x0f, 0x01, 0x38}); }                    // invlpg (%rax)
  void iretq() { bytes({0x48, 0xcf}); }
  void out_al(uint8_t port) { bytes({0xe6, port}); }
  void hlt() { bytes({0xf4}); }

 private:
  void bytes(std::initializer_list<uint8_t> b) {
    for (uint8_t v : b) out_[n_++] = v;
  }
  void u64(uint64_t v) {
    std::memcpy(out_ + n_, &v, 8);
    n_ += 8;
  }
  uint8_t* out_;
  size_t n_ = 0;
};

constexpr uint8_t kRax = 0, kRcx = 1, kRsi = 6, kRdi = 7;

}  // namespace

void ApplyProgram::store(uint64_t gpa, uint64_t value) { stores_.push_back({gpa, value}); }

void ApplyProgram::invlpg(uint64_t va) {
  if (flush_tlb_) return;
  if (invlpgs_.size() == kMaxInvlpgs) {
    invlpgs_.clear();
    flush_tlb_ = true;
    return;
  }
  invlpgs_.push_back(va);
}

ApplyProgram ApplyProgram::take_front(size_t n) {
  ApplyProgram front;
  n = std::min(n, stores_.size());
  front.stores_.assign(stores_.begin(), stores_.begin() + static_cast<std::ptrdiff_t>(n));
  stores_.erase(stores_.begin(), stores_.begin() + static_cast<std::ptrdiff_t>(n));
  return front;
}

void ApplyProgram::clear() {
  stores_.clear();
  invlpgs_.clear();
  flush_tlb_ = false;
}

// Stores are applied in order. A run of stores to consecutive entries is
// one `rep movsq` from the values area; an isolated store is
// `movabs $value,%rax; movabs %rax,entry`. The TLB work comes last: the
// guest does not run until the routine ends, and the routine itself only
// touches the VMM's own mappings, so no flush is needed between writes.
ApplyProgram::Encoded ApplyProgram::encode(uint8_t* code, uint64_t* values, const Layout& layout, Ending ending,
                                           const GuestRegisters& restore, uint8_t exit_port) const {
  if (!fits()) throw std::logic_error("page-table apply program too long for one routine");
  Emitter e(code);
  Encoded result;
  bool used_string_registers = false;
  for (size_t i = 0; i < stores_.size();) {
    size_t run = 1;
    while (i + run < stores_.size() && stores_[i + run].gpa == stores_[i].gpa + 8 * run) ++run;
    if (run == 1) {
      e.movabs_imm(kRax, stores_[i].value);
      e.store_rax_absolute(layout.ram_map_va + stores_[i].gpa);
    } else {
      if (!used_string_registers) e.movabs_imm(kRsi, layout.values_va + 8 * result.values);
      used_string_registers = true;
      for (size_t k = 0; k < run; ++k) values[result.values++] = stores_[i + k].value;
      e.movabs_imm(kRdi, layout.ram_map_va + stores_[i].gpa);
      e.mov_ecx_imm(static_cast<uint32_t>(run));
      e.rep_movsq();  // rsi moves on to the next run's values
    }
    i += run;
  }
  if (restore.cr3 != 0) {
    e.movabs_imm(kRax, restore.cr3);
    e.load_cr3_from_rax();
  } else if (flush_tlb_) {
    e.reload_cr3();
  } else {
    for (uint64_t va : invlpgs_) {
      e.movabs_imm(kRax, va);
      e.invlpg_rax();
    }
  }
  if (ending == Ending::kIretToGuest) {
    if (used_string_registers) {
      e.movabs_imm(kRsi, restore.rsi);
      e.movabs_imm(kRdi, restore.rdi);
      e.movabs_imm(kRcx, restore.rcx);
    }
    e.movabs_imm(kRax, restore.rax);
    e.iretq();
  } else {
    e.out_al(exit_port);
    result.exit_rip = layout.code_va + e.size();
    e.hlt();
  }
  result.code_bytes = e.size();
  if (result.code_bytes > kMaxCodeBytes) throw std::logic_error("page-table apply routine overflowed its buffer");
  return result;
}

void ApplyProgram::apply_to(const GuestMemory& memory) const {
  for (const Store& s : stores_) {
    auto* entry = memory.ram_object<uint64_t>(s.gpa);
    if (entry == nullptr) throw std::logic_error("page-table write outside guest RAM");
    *entry = s.value;
  }
}

}  // namespace tortuga
