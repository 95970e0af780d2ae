// ApplyProgram: the validated page-table writes of one vCPU and the CPL0
// routine generated to apply them. The emitted bytes are checked form by
// form, and a small interpreter of exactly those forms runs the routine on
// a copy of guest memory to compare it with apply_to().
#include "mmu/apply_program.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "memory/guest_memory.h"
#include "vcpu/reserved_area.h"

namespace tortuga {
namespace {

using ::testing::ElementsAreArray;
namespace ra = reserved_area;

using Bytes = std::vector<uint8_t>;

constexpr ApplyProgram::Layout kLayout = {ra::va(ra::apply_code_offset(0)), ra::va(ra::apply_values_offset(0)),
                                          ra::kRamMapVa};
constexpr ApplyProgram::GuestRegisters kGuest = {0x1111111111111111ULL, 0x2222222222222222ULL, 0x3333333333333333ULL,
                                                 0x4444444444444444ULL};
constexpr uint8_t kPort = ra::kPortApplyDone;

void append_u64(Bytes& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
// movabs $imm, %reg (rax 0, rcx 1, rsi 6, rdi 7)
Bytes movabs(uint8_t reg, uint64_t imm) {
  Bytes b = {0x48, static_cast<uint8_t>(0xb8 + reg)};
  append_u64(b, imm);
  return b;
}
Bytes store_rax(uint64_t va) {
  Bytes b = {0x48, 0xa3};
  append_u64(b, va);
  return b;
}
Bytes mov_ecx(uint32_t n) {
  return {0xb9, static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 24)};
}
const Bytes kRepMovsq = {0xf3, 0x48, 0xa5};
const Bytes kReloadCr3 = {0x0f, 0x20, 0xd8, 0x0f, 0x22, 0xd8};
const Bytes kInvlpgRax = {0x0f, 0x01, 0x38};
const Bytes kIretq = {0x48, 0xcf};
Bytes cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
size_t count_of(const Bytes& hay, const Bytes& needle) {
  size_t n = 0;
  for (auto it = hay.begin(); (it = std::search(it, hay.end(), needle.begin(), needle.end())) != hay.end(); ++it) ++n;
  return n;
}

struct Routine {
  Bytes code;
  std::vector<uint64_t> values;
  ApplyProgram::Encoded encoded;
};

Routine encode(const ApplyProgram& p, ApplyProgram::Ending ending = ApplyProgram::Ending::kIretToGuest) {
  Routine r;
  r.code.assign(ApplyProgram::kMaxCodeBytes, 0xcc);
  r.values.assign(ApplyProgram::kCapacity, 0xdeadbeefdeadbeefULL);
  r.encoded = p.encode(r.code.data(), r.values.data(), kLayout, ending, kGuest, kPort);
  r.code.resize(r.encoded.code_bytes);
  r.values.resize(r.encoded.values);
  return r;
}

// Runs a routine, decoding only the instruction forms the generator emits
// (anything else is an error): the writes go to guest RAM through the RAM
// map, the run values are read from the values area.
class Interpreter {
 public:
  Interpreter(const GuestMemory& memory, std::vector<uint64_t> values) : memory_(memory), values_(std::move(values)) {}

  // The guest's registers when it entered the VMM: the routine may use
  // them only if it puts them back.
  uint64_t rax = kGuest.rax, rcx = kGuest.rcx, rsi = kGuest.rsi, rdi = kGuest.rdi, cr3 = 0x7000;
  unsigned cr3_reloads = 0;
  std::vector<uint64_t> invlpgs;
  bool iretq = false;
  int out_port = -1;
  uint64_t rip_after_out = 0;
  bool halted = false;

  void run(const Bytes& code) {
    size_t pc = 0;
    auto need = [&](size_t n) {
      if (pc + n > code.size()) throw std::runtime_error(fmt::format("instruction at {} runs off the end", pc));
    };
    auto imm64 = [&](size_t at) {
      uint64_t v;
      std::memcpy(&v, code.data() + at, 8);
      return v;
    };
    for (unsigned steps = 0; pc < code.size(); ++steps) {
      if (iretq || halted) throw std::runtime_error(fmt::format("code after the end, at {}", pc));
      if (steps > 100000) throw std::runtime_error("routine does not end");
      uint8_t op = code[pc];
      if (op == 0x48) {
        need(2);
        uint8_t op2 = code[pc + 1];
        if (op2 >= 0xb8 && op2 <= 0xbf) {
          need(10);
          reg(op2 - 0xb8) = imm64(pc + 2);
          pc += 10;
        } else if (op2 == 0xa3) {
          need(10);
          *qword(imm64(pc + 2)) = rax;
          pc += 10;
        } else if (op2 == 0xcf) {
          iretq = true;
          pc += 2;
        } else {
          throw std::runtime_error(fmt::format("unknown 48 {:02x} at {}", op2, pc));
        }
      } else if (op == 0xb9) {
        need(5);
        uint32_t v;
        std::memcpy(&v, code.data() + pc + 1, 4);
        rcx = v;  // a 32-bit mov zero-extends
        pc += 5;
      } else if (op == 0xf3) {
        need(3);
        if (code[pc + 1] != 0x48 || code[pc + 2] != 0xa5) throw std::runtime_error("unknown f3 form");
        for (; rcx != 0; --rcx, rsi += 8, rdi += 8) *qword(rdi) = *qword(rsi);
        pc += 3;
      } else if (op == 0x0f) {
        need(3);
        if (code[pc + 1] == 0x20 && code[pc + 2] == 0xd8) {
          rax = cr3;
        } else if (code[pc + 1] == 0x22 && code[pc + 2] == 0xd8) {
          cr3 = rax;
          ++cr3_reloads;
        } else if (code[pc + 1] == 0x01 && code[pc + 2] == 0x38) {
          invlpgs.push_back(rax);
        } else {
          throw std::runtime_error(fmt::format("unknown 0f {:02x} {:02x}", code[pc + 1], code[pc + 2]));
        }
        pc += 3;
      } else if (op == 0xe6) {
        need(2);
        out_port = code[pc + 1];
        pc += 2;
        rip_after_out = kLayout.code_va + pc;
      } else if (op == 0xf4) {
        halted = true;
        pc += 1;
      } else {
        throw std::runtime_error(fmt::format("unknown opcode {:02x} at {}", op, pc));
      }
    }
    if (!iretq && !halted) throw std::runtime_error("routine ends without iretq or hlt");
  }

 private:
  uint64_t& reg(unsigned r) {
    switch (r) {
      case 0: return rax;
      case 1: return rcx;
      case 6: return rsi;
      case 7: return rdi;
      default: throw std::runtime_error(fmt::format("register {} is not one the routine uses", r));
    }
  }
  uint64_t* qword(uint64_t va) {
    if (va >= kLayout.values_va && va < kLayout.values_va + 8 * values_.size() && (va - kLayout.values_va) % 8 == 0) {
      return &values_[(va - kLayout.values_va) / 8];
    }
    if (va >= kLayout.ram_map_va) {
      if (auto* p = memory_.ram_object<uint64_t>(va - kLayout.ram_map_va)) return p;
    }
    throw std::runtime_error(fmt::format("access to {:#x}, neither RAM nor a run value", va));
  }

  const GuestMemory& memory_;
  std::vector<uint64_t> values_;
};

// ---------------------------------------------------------------------------

TEST(ApplyProgramTest, StartsEmptyWithFullRoom) {
  ApplyProgram p;
  EXPECT_TRUE(p.empty());
  EXPECT_EQ(p.room(), ApplyProgram::kCapacity);
  EXPECT_EQ(p.store_count(), 0u);
  EXPECT_FALSE(p.flushes_tlb());
  Routine r = encode(p);
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(0, kGuest.rax), kIretq})));
  EXPECT_EQ(r.encoded.values, 0u);
}

TEST(ApplyProgramTest, IsolatedStoreIsMovabsThenStoreThroughTheRamMap) {
  ApplyProgram p;
  p.store(0x3008, 0x123456789abcdef0ULL);
  EXPECT_FALSE(p.empty());
  EXPECT_EQ(p.store_count(), 1u);
  Routine r = encode(p);
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(0, 0x123456789abcdef0ULL), store_rax(ra::kRamMapVa + 0x3008),
                                            movabs(0, kGuest.rax), kIretq})));
  EXPECT_EQ(r.encoded.values, 0u);
}

TEST(ApplyProgramTest, ConsecutiveStoresCoalesceIntoOneRepMovsq) {
  ApplyProgram p;
  p.store(0x2000, 11);
  p.store(0x2008, 22);
  p.store(0x2010, 33);
  Routine r = encode(p);
  EXPECT_THAT(r.values, ElementsAreArray({11u, 22u, 33u}));
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(6, kLayout.values_va), movabs(7, ra::kRamMapVa + 0x2000), mov_ecx(3),
                                            kRepMovsq, movabs(6, kGuest.rsi), movabs(7, kGuest.rdi),
                                            movabs(1, kGuest.rcx), movabs(0, kGuest.rax), kIretq})));
}

TEST(ApplyProgramTest, RunsShareOneValuesPointerAndKeepTheirOrder) {
  ApplyProgram p;
  p.store(0x5000, 1);
  p.store(0x5008, 2);
  p.store(0x1ff8, 3);  // isolated: not after 0x5008
  p.store(0x1000, 4);
  p.store(0x1008, 5);
  p.store(0x1010, 6);
  p.store(0x1000, 7);  // the same entry again: a new run start, isolated
  Routine r = encode(p);
  EXPECT_THAT(r.values, ElementsAreArray({1u, 2u, 4u, 5u, 6u}));
  EXPECT_EQ(count_of(r.code, kRepMovsq), 2u);
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(6, kLayout.values_va), movabs(7, ra::kRamMapVa + 0x5000), mov_ecx(2),
                                            kRepMovsq,                                                 //
                                            movabs(0, 3), store_rax(ra::kRamMapVa + 0x1ff8),           //
                                            movabs(7, ra::kRamMapVa + 0x1000), mov_ecx(3), kRepMovsq,  //
                                            movabs(0, 7), store_rax(ra::kRamMapVa + 0x1000),           //
                                            movabs(6, kGuest.rsi), movabs(7, kGuest.rdi), movabs(1, kGuest.rcx),
                                            movabs(0, kGuest.rax), kIretq})));
}

TEST(ApplyProgramTest, InvlpgsComeAfterTheStores) {
  ApplyProgram p;
  p.invlpg(0x7000);
  p.store(0x1000, 9);
  p.invlpg(0xffff888000001000ULL);
  EXPECT_EQ(p.room(), ApplyProgram::kCapacity - 1) << "INVLPGs take no room";
  Routine r = encode(p);
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(0, 9), store_rax(ra::kRamMapVa + 0x1000),  //
                                            movabs(0, 0x7000), kInvlpgRax,                    //
                                            movabs(0, 0xffff888000001000ULL), kInvlpgRax,     //
                                            movabs(0, kGuest.rax), kIretq})));
}

TEST(ApplyProgramTest, AFlushComesOnceAtTheEndAndReplacesTheInvlpgs) {
  ApplyProgram p;
  p.invlpg(0x7000);
  p.flush_tlb();
  p.store(0x1000, 9);
  p.flush_tlb();
  p.invlpg(0x8000);
  EXPECT_TRUE(p.flushes_tlb());
  Routine r = encode(p);
  EXPECT_EQ(count_of(r.code, kReloadCr3), 1u);
  EXPECT_EQ(count_of(r.code, kInvlpgRax), 0u);
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(0, 9), store_rax(ra::kRamMapVa + 0x1000), kReloadCr3,
                                            movabs(0, kGuest.rax), kIretq})));
  ApplyProgram only_flush;
  only_flush.flush_tlb();
  EXPECT_FALSE(only_flush.empty());
  EXPECT_THAT(encode(only_flush).code, ElementsAreArray(cat({kReloadCr3, movabs(0, kGuest.rax), kIretq})));
}

TEST(ApplyProgramTest, ExitEndingIsOutThenHltAndReportsTheRipAfterTheOut) {
  ApplyProgram p;
  p.store(0x2000, 1);
  p.store(0x2008, 2);
  p.flush_tlb();
  Routine r = encode(p, ApplyProgram::Ending::kExitToVmm);
  EXPECT_THAT(r.code, ElementsAreArray(cat({movabs(6, kLayout.values_va),
                                            movabs(7, ra::kRamMapVa + 0x2000),
                                            mov_ecx(2),
                                            kRepMovsq,
                                            kReloadCr3,
                                            {0xe6, kPort, 0xf4}})));
  EXPECT_EQ(r.encoded.exit_rip, kLayout.code_va + r.code.size() - 1);
  EXPECT_EQ(r.encoded.exit_rip, kLayout.code_va + 10 + 10 + 5 + 3 + 6 + 2);
  ApplyProgram empty;
  Routine e = encode(empty, ApplyProgram::Ending::kExitToVmm);
  EXPECT_THAT(e.code, ElementsAreArray(Bytes{0xe6, kPort, 0xf4}));
  EXPECT_EQ(e.encoded.exit_rip, kLayout.code_va + 2);
  EXPECT_EQ(r.encoded.exit_rip - kLayout.code_va, 36u);
}

TEST(ApplyProgramTest, IretEndingRestoresOnlyTheRegistersItUsed) {
  ApplyProgram p;
  p.store(0x2000, 1);
  Routine r = encode(p);
  EXPECT_EQ(count_of(r.code, movabs(6, kGuest.rsi)), 0u);
  EXPECT_EQ(count_of(r.code, movabs(1, kGuest.rcx)), 0u);
  EXPECT_THAT(Bytes(r.code.end() - 12, r.code.end()), ElementsAreArray(cat({movabs(0, kGuest.rax), kIretq})));
  EXPECT_EQ(r.encoded.exit_rip, 0u);
}

TEST(ApplyProgramTest, RoomRunsOutAtCapacityAndTheRestIsTakenInChunks) {
  ApplyProgram p;
  for (size_t i = 0; i + 1 < ApplyProgram::kCapacity; ++i) p.store(16 * (i % 1000), i);
  EXPECT_EQ(p.room(), 1u);
  p.store(0x8, 1);
  EXPECT_EQ(p.room(), 0u);
  EXPECT_TRUE(p.fits());
  p.store(0x10, 2);
  p.store(0x18, 3);
  EXPECT_FALSE(p.fits()) << "a program may grow past one routine";
  EXPECT_EQ(p.room(), 0u);
  p.invlpg(0x1000);
  ApplyProgram front = p.take_front(ApplyProgram::kCapacity);
  EXPECT_TRUE(front.fits());
  EXPECT_EQ(front.store_count(), ApplyProgram::kCapacity);
  EXPECT_TRUE(front.invlpgs().empty()) << "the TLB work stays with the last chunk";
  EXPECT_EQ(p.store_count(), 2u);
  EXPECT_EQ(p.stores()[0].gpa, 0x10u);
  EXPECT_EQ(p.invlpgs().size(), 1u);
  uint8_t code[ApplyProgram::kMaxCodeBytes];
  std::vector<uint64_t> values(ApplyProgram::kCapacity);
  ApplyProgram too_long;
  for (size_t i = 0; i <= ApplyProgram::kCapacity; ++i) too_long.store(8 * i, i);
  EXPECT_THROW(too_long.encode(code, values.data(), {0, 0, 0}, ApplyProgram::Ending::kExitToVmm, {}, 0x22),
               std::logic_error);
  p.flush_tlb();
  p.clear();
  EXPECT_TRUE(p.empty());
}

TEST(ApplyProgramTest, ManyInvlpgsBecomeOneFlush) {
  ApplyProgram p;
  for (uint64_t i = 0; i < ApplyProgram::kMaxInvlpgs; ++i) p.invlpg(i << 12);
  EXPECT_FALSE(p.flushes_tlb());
  EXPECT_EQ(p.invlpgs().size(), ApplyProgram::kMaxInvlpgs);
  p.invlpg(0x999000);
  EXPECT_TRUE(p.flushes_tlb());
  EXPECT_TRUE(p.invlpgs().empty());
}

TEST(ApplyProgramTest, AnOutOfRamWriteIsRefusedByApplyTo) {
  GuestMemory memory(4096, ra::kGpa, 4096);
  ApplyProgram outside;
  outside.store(0x4000, 1);
  EXPECT_THROW(outside.apply_to(memory), std::logic_error);
}

TEST(ApplyProgramTest, InterpreterRejectsWhatTheGeneratorNeverEmits) {
  // So that the comparison below means something.
  GuestMemory memory(4096, ra::kGpa, 4096);
  Interpreter bad_opcode(memory, {});
  EXPECT_THROW(bad_opcode.run({0x90, 0x48, 0xcf}), std::runtime_error);
  Interpreter outside_ram(memory, {});
  EXPECT_THROW(outside_ram.run(cat({movabs(0, 1), store_rax(ra::kRamMapVa + 4096), kIretq})), std::runtime_error);
  Interpreter no_end(memory, {});
  EXPECT_THROW(no_end.run(movabs(0, 1)), std::runtime_error);
}

// Random batches: the routine, interpreted, leaves guest RAM exactly as
// apply_to does, performs the TLB work asked for, and hands the guest its
// registers back.
TEST(ApplyProgramTest, RoutineDoesWhatApplyToDoes) {
  constexpr uint64_t kRam = 8 * 4096;
  std::mt19937_64 rng(0x7047);
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    ApplyProgram p;
    std::vector<uint64_t> invlpgs;
    size_t n = rng() % (round < 250 ? 40 : 3000);
    uint64_t gpa = 8 * (rng() % (kRam / 8));
    for (size_t i = 0; i < n; ++i) {
      switch (rng() % 4) {
        case 0:  // somewhere else
          gpa = 8 * (rng() % (kRam / 8));
          break;
        case 1:  // the same entry again
          break;
        default:  // the next one: runs
          gpa = (gpa + 8) % kRam;
      }
      p.store(gpa, rng());
      if (rng() % 16 == 0) {
        invlpgs.push_back((rng() % 0x800000000000ULL) & ~0xfffULL);
        p.invlpg(invlpgs.back());
      }
    }
    bool flush = rng() % 4 == 0 || invlpgs.size() > ApplyProgram::kMaxInvlpgs;
    if (flush) p.flush_tlb();
    for (auto ending : {ApplyProgram::Ending::kIretToGuest, ApplyProgram::Ending::kExitToVmm}) {
      bool iret = ending == ApplyProgram::Ending::kIretToGuest;
      SCOPED_TRACE(iret ? "iretq" : "out");
      GuestMemory expected(kRam, ra::kGpa, 4096), actual(kRam, ra::kGpa, 4096);
      for (uint64_t off = 0; off < kRam; off += 8) {
        uint64_t v = rng();
        *expected.ram_object<uint64_t>(off) = v;
        *actual.ram_object<uint64_t>(off) = v;
      }
      p.apply_to(expected);
      Routine r = encode(p, ending);
      Interpreter cpu(actual, r.values);
      ASSERT_NO_THROW(cpu.run(r.code));
      ASSERT_EQ(std::memcmp(expected.ram_base(), actual.ram_base(), kRam), 0);
      EXPECT_EQ(cpu.cr3_reloads, flush ? 1u : 0u);
      EXPECT_EQ(cpu.cr3, 0x7000u);
      EXPECT_EQ(cpu.invlpgs, flush ? std::vector<uint64_t>{} : invlpgs);
      EXPECT_EQ(cpu.iretq, iret);
      EXPECT_EQ(cpu.halted, !iret);
      if (iret) {
        EXPECT_EQ(cpu.rax, kGuest.rax);
        EXPECT_EQ(cpu.rcx, kGuest.rcx);
        EXPECT_EQ(cpu.rsi, kGuest.rsi);
        EXPECT_EQ(cpu.rdi, kGuest.rdi);
      } else {
        EXPECT_EQ(cpu.out_port, kPort);
        EXPECT_EQ(cpu.rip_after_out, r.encoded.exit_rip);
      }
    }
  }
}

}  // namespace
}  // namespace tortuga
