// Fuzz target: the PV MMU (ABI.md 8, 13) on a model domain of 64 frames,
// driven by a sequence of guest operations decoded from the input. The
// operations are grouped into batches; at the end of each one the batch's
// program is applied to RAM as the vCPU's routine would (apply_to), and
// check_invariants() must find nothing wrong, both through the pending
// writes before the program runs and in RAM after. Between operations the
// target also checks what each one may do: the errors it may return, that
// a refused operation changed nothing, the value stored for an accepted
// update, and that a frame that may still be cached in a TLB is never
// turned into a table or mapped writable without a flush in the program.
// Any violation aborts with a message.
//
// Input: a sequence of operations, one opcode byte then its operand bytes
// (bytes past the end read as 0). op = byte & 15, arg = byte >> 4:
//   0, 1, 2  mmu_update of type op: F I I T L H  (see below)
//   3        mmu_update of type 3 + arg % 5 (invalid): F I I
//   4        pin at level 1 + arg % 4: G
//   5        unpin: G
//   6        kernel base pointer of vCPU arg & 1: G
//   7        user base pointer of vCPU arg & 1: G (0 = none)
//   8        release (decrease_reservation of one frame): G
//   9        populate (increase_reservation of one frame): G
//   10       full TLB flush (TLB_FLUSH_ALL)
//   11       end of batch
//   12       check the invariants now, mid-batch
//   13       update_va_mapping on vCPU arg & 1's kernel table: a b c d T L H;
//            va indices L4 = a + 256 * (arg >> 1 & 1), L3 b, L2 c, L1 d
//   14       INVLPG: one byte, va = byte << 12
//   15       mmu_update of type arg % 3 with a raw value: F I I V V V V V V V V
// F, G, T: a frame (frame() below: mostly 0..71, past the 64 RAM frames,
// and a few far away); I I: the entry index (little-endian, mod 512);
// T L H: an entry value: frame T, bits 0-7 = L, and H: bit 0 G, bit 1 NX,
// bit 2 a protection key bit (59 + (H >> 5 & 3)), bit 3 bit 9, bit 4
// bit 52, bit 7 invert the whole value (for CLEAR_BITS masks).
// tests/fuzz/make_seeds.cpp writes the seeds in this format.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <tortuga/cpu.h>
#include <tortuga/errno.h>
#include <tortuga/memory.h>

#include "mmu/apply_program.h"
#include "memory/guest_memory.h"
#include "mmu/pending_writes.h"
#include "mmu/pv_mmu.h"
#include "vcpu/reserved_area.h"

namespace {

using namespace tortuga;

constexpr uint64_t kFrames = 64;
constexpr uint64_t kVmmFrame = kFrames - 1;  // like the shared info page
constexpr uint32_t kVcpus = 2;
constexpr size_t kMaxOps = 4096;
constexpr size_t kMaxMidBatchChecks = 64;
constexpr size_t kRoomNeeded = 64;  // an operation writes at most 16 entries

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "pv_mmu_fuzz: %s\n", what.c_str());
  std::abort();
}

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint16_t u16() {
    uint16_t lo = byte();
    return static_cast<uint16_t>(lo | (byte() << 8));
  }
  uint64_t u64() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{byte()} << (8 * i);
    return v;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

uint64_t frame(uint8_t b) {
  static constexpr uint64_t kFar[8] = {kFrames,
                                       kFrames + 100,
                                       reserved_area::kGpa >> 12,
                                       (reserved_area::kGpa >> 12) + 2,
                                       TG_PTE_FRAME >> 12,
                                       1ULL << 20,
                                       0xfffff,
                                       ~0ULL >> 12};
  if (b >= 0xf8) return kFar[b - 0xf8];
  return b % (kFrames + 8);
}

uint64_t entry_value(Input& in) {
  uint64_t gfn = frame(in.byte());
  uint64_t v = ((gfn << 12) & TG_PTE_FRAME) | in.byte();
  uint8_t h = in.byte();
  if (h & 0x01) v |= TG_PTE_G;
  if (h & 0x02) v |= TG_PTE_NX;
  if (h & 0x04) v |= 1ULL << (59 + ((h >> 5) & 3));
  if (h & 0x08) v |= 1ULL << 9;
  if (h & 0x10) v |= 1ULL << 52;
  if (h & 0x80) v = ~v;
  return v;
}

uint64_t stored_form(uint64_t e) { return (e & TG_PTE_P) ? (e | TG_PTE_US) & ~TG_PTE_G : e; }

bool one_of(int err, std::initializer_list<int> allowed) {
  for (int a : allowed) {
    if (err == a) return true;
  }
  return false;
}

class Harness {
 public:
  Harness()
      : memory_(shared_memory()),
        mmu_(std::make_unique<PvMmu>(memory_, kVcpus)),
        stale_writable_(kFrames),
        stale_table_(kFrames) {
    std::memset(memory_.ram_base(), 0, memory_.ram_size());
    mmu_->set_vmm_frame(kVmmFrame);
  }

  void run(Input& in) {
    for (size_t ops = 0; ops < kMaxOps && !in.done(); ++ops) {
      if (program_.room() < kRoomNeeded) end_batch();
      step(in);
    }
    end_batch();
  }

 private:
  // One GuestMemory for all inputs: mapping it is the slow part.
  static GuestMemory& shared_memory() {
    static GuestMemory memory(kFrames * 4096, reserved_area::kGpa, reserved_area::kSize);
    return memory;
  }

  uint64_t entry(uint64_t gpa) const {
    auto v = read_entry(memory_, &mmu_->pending(), gpa);
    if (!v) fail("entry read outside RAM");
    return *v;
  }

  void step(Input& in) {
    uint8_t opcode = in.byte();
    unsigned op = opcode & 15, arg = opcode >> 4;
    snapshot();
    size_t stores = program_.store_count();
    switch (op) {
      case 0:
      case 1:
      case 2: {
        uint64_t gfn = frame(in.byte());
        unsigned index = in.u16() % TG_PT_ENTRIES;
        update(gfn, index, op, entry_value(in));
        break;
      }
      case 15: {
        uint64_t gfn = frame(in.byte());
        unsigned index = in.u16() % TG_PT_ENTRIES;
        update(gfn, index, arg % 3, in.u64());
        break;
      }
      case 3: {
        uint64_t gfn = frame(in.byte());
        unsigned index = in.u16() % TG_PT_ENTRIES;
        uint64_t kind = 3 + arg % 5;
        int err = mmu_->update(((gfn << 12) + 8 * index) | kind, 0, program_);
        if (err != -TG_EINVAL) fail("request type " + std::to_string(kind) + " gave " + std::to_string(err));
        if (program_.store_count() != stores) fail("a refused request wrote");
        break;
      }
      case 4: {
        unsigned level = 1 + arg % 4;
        uint64_t gfn = frame(in.byte());
        int err = mmu_->pin(gfn, level, program_);
        if (!one_of(err, {0, -TG_EPERM, -TG_EEXIST, -TG_EINVAL, -TG_EBUSY})) fail("pin gave " + std::to_string(err));
        if (err == 0) {
          const FrameInfo& f = mmu_->frames().at(gfn);
          if (!f.pinned || f.type != table_type(level)) fail("pinned frame is not a pinned table of its level");
          if (level == 4 && entry((gfn << 12) + 8 * TG_RESERVED_L4_SLOT) != reserved_area::l4_entry()) {
            fail("pinned L4 lacks the VMM's slot");
          }
        } else if (program_.store_count() != stores) {
          fail("a refused pin wrote");
        }
        break;
      }
      case 5: {
        int err = mmu_->unpin(frame(in.byte()));
        if (!one_of(err, {0, -TG_EPERM, -TG_EINVAL, -TG_EBUSY})) fail("unpin gave " + std::to_string(err));
        break;
      }
      case 6:
      case 7: {
        uint32_t vcpu = arg & 1;
        uint64_t gfn = frame(in.byte());
        int err = op == 6 ? mmu_->set_kernel_base(vcpu, gfn) : mmu_->set_user_base(vcpu, gfn);
        if (!one_of(err, {0, -TG_EINVAL})) fail("base pointer gave " + std::to_string(err));
        if (err == 0 && gfn != 0 && op == 7 && mmu_->user_base(vcpu) != gfn) fail("user base not set");
        if (err == 0 && op == 6 && mmu_->kernel_base(vcpu) != gfn) fail("kernel base not set");
        break;
      }
      case 8: {
        uint64_t gfn = frame(in.byte());
        end_batch();  // memory_op applies pending writes first
        snapshot();
        uint64_t populated = mmu_->populated_frames();
        bool cached = gfn < kFrames && (stale_writable_[gfn] || stale_table_[gfn]);
        if (mmu_->release(gfn, program_)) {
          if (mmu_->populated_frames() != populated - 1 || mmu_->is_ram(gfn)) fail("release did not release");
          if (cached && !program_.flushes_tlb()) fail("released a frame a TLB may hold without a flush");
        } else if (mmu_->populated_frames() != populated) {
          fail("a refused release changed the reservation");
        }
        break;
      }
      case 9: {
        uint64_t gfn = frame(in.byte());
        end_batch();
        snapshot();
        uint64_t populated = mmu_->populated_frames();
        if (mmu_->populate(gfn)) {
          if (mmu_->populated_frames() != populated + 1 || !mmu_->is_ram(gfn)) fail("populate did not populate");
          for (unsigned i = 0; i < TG_PT_ENTRIES; ++i) {
            if (entry((gfn << 12) + 8 * i) != 0) fail("a populated frame is not zeroed");
          }
        } else if (mmu_->populated_frames() != populated) {
          fail("a refused populate changed the reservation");
        }
        break;
      }
      case 10: mmu_->full_flush_requested(program_); break;
      case 11: end_batch(); break;
      case 12:
        if (mid_batch_checks_++ < kMaxMidBatchChecks) check("mid-batch");
        break;
      case 13: {
        uint32_t vcpu = arg & 1;
        uint64_t l4 = in.byte() + 256 * ((arg >> 1) & 1);
        uint64_t l3 = in.byte(), l2 = in.byte(), l1 = in.byte();
        uint64_t val = entry_value(in);
        uint64_t base = mmu_->kernel_base(vcpu);
        if (!mmu_->is_ram(base) || is_reserved_l4_slot(static_cast<unsigned>(l4))) break;  // refused earlier
        uint64_t va = (l4 << 39) | (l3 << 30) | (l2 << 21) | (l1 << 12);
        if (va & (1ULL << 47)) va |= 0xffff000000000000ULL;
        uint64_t gpa = 0;
        int err = mmu_->l1_entry_for(base << 12, va, &gpa);
        if (err == -TG_ENOENT) break;
        if (err != 0) fail("l1_entry_for gave " + std::to_string(err));
        const FrameInfo& f = mmu_->frames().at(gpa >> 12);
        if (f.type != PageType::kL1) fail("l1_entry_for found an entry outside a typed L1");
        update(gpa >> 12, static_cast<unsigned>((gpa & 4095) / 8), TG_MMU_NORMAL_PT_UPDATE, val);
        break;
      }
      case 14: program_.invlpg(uint64_t{in.byte()} << 12); break;
    }
    if (mmu_->populated_frames() != count_ram()) fail("populated_frames() disagrees with the frames");
    track_staleness();
  }

  void update(uint64_t gfn, unsigned index, uint64_t kind, uint64_t val) {
    uint64_t gpa = (gfn << 12) + 8 * index;
    bool ram = mmu_->is_ram(gfn);
    uint64_t old = ram ? entry(gpa) : 0;
    size_t stores = program_.store_count();
    uint64_t previous = ~old;
    int err = mmu_->update(gpa | kind, val, program_, &previous);
    if (!one_of(err, {0, -TG_EPERM, -TG_EINVAL, -TG_EBUSY})) fail("mmu_update gave " + std::to_string(err));
    if (!ram) {
      if (err != -TG_EPERM) fail("mmu_update outside RAM was not refused");
      return;
    }
    PageType type = mmu_->frames().at(gfn).type;
    if (err != 0) {
      if (program_.store_count() != stores || entry(gpa) != old) fail("a refused mmu_update wrote");
      return;
    }
    if (kind == TG_MMU_PT_CLEAR_BITS && previous != old) fail("CLEAR_BITS returned the wrong previous value");
    uint64_t next = val;
    if (kind == TG_MMU_PT_UPDATE_PRESERVE_AD) next = val | (old & (TG_PTE_A | TG_PTE_D));
    if (kind == TG_MMU_PT_CLEAR_BITS) next = old & ~val;
    uint64_t expected = is_table(type) ? stored_form(next) : next;
    if (entry(gpa) != expected) fail("mmu_update stored another value than the ABI says");
  }

  void end_batch() {
    check("before the routine ran");
    if (program_.flushes_tlb()) {
      std::fill(stale_writable_.begin(), stale_writable_.end(), false);
      std::fill(stale_table_.begin(), stale_table_.end(), false);
    }
    static std::vector<uint8_t> code(ApplyProgram::kMaxCodeBytes);
    static std::vector<uint64_t> values(ApplyProgram::kCapacity);
    auto encoded = program_.encode(code.data(), values.data(),
                                   {reserved_area::va(reserved_area::apply_code_offset(0)),
                                    reserved_area::va(reserved_area::apply_values_offset(0)), reserved_area::kRamMapVa},
                                   ApplyProgram::Ending::kIretToGuest, {}, 0);
    if (encoded.code_bytes > ApplyProgram::kMaxCodeBytes || encoded.values > program_.store_count()) {
      fail("the routine does not fit");
    }
    program_.apply_to(memory_);
    mmu_->applied();
    program_.clear();
    if (!mmu_->pending().empty()) fail("writes still pending after applied()");
    check("after the routine ran");
  }

  void check(const char* when) {
    std::string problems = mmu_->check_invariants();
    if (!problems.empty()) fail(std::string(when) + ":\n" + problems);
  }

  uint64_t count_ram() const {
    uint64_t n = 0;
    for (uint64_t gfn = 0; gfn < kFrames; ++gfn) n += mmu_->is_ram(gfn);
    return n;
  }

  // The TLB rules of page_types.h, followed independently: a frame that
  // lost a writable mapping, or stopped being a table, may still be cached
  // until a flush runs. Turning it into a table, or mapping a former table
  // writable, needs a flush in the same program.
  void snapshot() {
    for (uint64_t gfn = 0; gfn < kFrames; ++gfn) before_[gfn] = mmu_->frames().at(gfn);
  }
  void track_staleness() {
    for (uint64_t gfn = 0; gfn < kFrames; ++gfn) {
      const FrameInfo& was = before_[gfn];
      const FrameInfo& now = mmu_->frames().at(gfn);
      bool became_table = !is_table(was.type) && is_table(now.type);
      bool new_writable = now.writable_mappings > was.writable_mappings;
      if (became_table && (stale_writable_[gfn] || stale_table_[gfn]) && !program_.flushes_tlb()) {
        fail("frame " + std::to_string(gfn) + " became a table while a TLB may still hold it, without a flush");
      }
      if (new_writable && stale_table_[gfn] && !program_.flushes_tlb()) {
        fail("former table " + std::to_string(gfn) + " mapped writable without a flush");
      }
      if (now.writable_mappings < was.writable_mappings) stale_writable_[gfn] = true;
      if (is_table(was.type) && !is_table(now.type)) stale_table_[gfn] = true;
    }
  }

  GuestMemory& memory_;
  std::unique_ptr<PvMmu> mmu_;
  ApplyProgram program_;
  std::array<FrameInfo, kFrames> before_{};
  std::vector<bool> stale_writable_, stale_table_;
  size_t mid_batch_checks_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  Harness harness;
  harness.run(in);
  return 0;
}
