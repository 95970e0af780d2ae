// Descriptor encodings: the flat segments against the well-known constants
// (Linux's GDT uses the same values), the system descriptors field by field,
// and the KVM segment registers against the descriptors they stand for.
#include "vcpu/descriptors.h"

#include <gtest/gtest.h>

namespace tortuga {
namespace {

uint64_t bits(uint64_t v, unsigned lo, unsigned width) { return (v >> lo) & ((1ULL << width) - 1); }

TEST(Descriptors, Code64) {
  EXPECT_EQ(code64_descriptor(0), 0x00af9b000000ffffULL);
  EXPECT_EQ(code64_descriptor(3), 0x00affb000000ffffULL);
}

TEST(Descriptors, Code32) {
  EXPECT_EQ(code32_descriptor(3), 0x00cffb000000ffffULL);
  EXPECT_EQ(code32_descriptor(0), 0x00cf9b000000ffffULL);
}

TEST(Descriptors, Data) {
  EXPECT_EQ(data_descriptor(0), 0x00cf93000000ffffULL);
  EXPECT_EQ(data_descriptor(3), 0x00cff3000000ffffULL);
}

TEST(Descriptors, DplIsMaskedToTwoBits) {
  EXPECT_EQ(code64_descriptor(4), code64_descriptor(0));
  EXPECT_EQ(data_descriptor(7), data_descriptor(3));
}

TEST(Descriptors, TssFieldsDecodeBack) {
  const uint64_t base = 0xffff808000010800ULL;
  const uint32_t limit = 0xabcde;
  auto d = tss_descriptor(base, limit);
  EXPECT_EQ(bits(d[0], 0, 16), limit & 0xffff);
  EXPECT_EQ(bits(d[0], 16, 24), base & 0xffffff);
  EXPECT_EQ(bits(d[0], 40, 4), 0x9u) << "available 64-bit TSS";
  EXPECT_EQ(bits(d[0], 44, 1), 0u) << "system descriptor: S=0";
  EXPECT_EQ(bits(d[0], 45, 2), 0u) << "DPL 0";
  EXPECT_EQ(bits(d[0], 47, 1), 1u) << "present";
  EXPECT_EQ(bits(d[0], 48, 4), (limit >> 16) & 0xf);
  EXPECT_EQ(bits(d[0], 52, 4), 0u) << "byte granularity, no flags";
  EXPECT_EQ(bits(d[0], 56, 8), (base >> 24) & 0xff);
  EXPECT_EQ(d[1], base >> 32);
}

TEST(Descriptors, InterruptGateFieldsDecodeBack) {
  const uint64_t handler = 0xffff808000004038ULL;
  auto g = interrupt_gate(handler, 0x08, 0);
  EXPECT_EQ(bits(g[0], 0, 16), handler & 0xffff);
  EXPECT_EQ(bits(g[0], 16, 16), 0x08u);
  EXPECT_EQ(bits(g[0], 32, 3), 0u) << "no IST";
  EXPECT_EQ(bits(g[0], 40, 8), 0x8eu) << "present, DPL 0, 64-bit interrupt gate";
  EXPECT_EQ(bits(g[0], 48, 16), (handler >> 16) & 0xffff);
  EXPECT_EQ(g[1], handler >> 32);
}

TEST(Descriptors, InterruptGateDpl3) {
  auto g = interrupt_gate(0x1000, 0x10, 3);
  EXPECT_EQ(bits(g[0], 40, 8), 0xeeu);
  EXPECT_EQ(bits(g[0], 16, 16), 0x10u);
  EXPECT_EQ(g[1], 0u);
}

TEST(Descriptors, Code64Segment) {
  kvm_segment s = code64_segment(0x3b, 3);
  EXPECT_EQ(s.base, 0u);
  EXPECT_EQ(s.limit, 0xffffffffu);
  EXPECT_EQ(s.selector, 0x3b);
  EXPECT_EQ(s.type, 0xb);
  EXPECT_EQ(s.present, 1);
  EXPECT_EQ(s.dpl, 3);
  EXPECT_EQ(s.s, 1);
  EXPECT_EQ(s.l, 1);
  EXPECT_EQ(s.db, 0);
  EXPECT_EQ(s.g, 1);
  EXPECT_EQ(s.unusable, 0);
}

TEST(Descriptors, Code32Segment) {
  kvm_segment s = code32_segment(0x23, 3);
  EXPECT_EQ(s.selector, 0x23);
  EXPECT_EQ(s.l, 0);
  EXPECT_EQ(s.db, 1);
  EXPECT_EQ(s.type, 0xb);
  EXPECT_EQ(s.dpl, 3);
}

TEST(Descriptors, DataSegment) {
  kvm_segment s = data_segment(0x10, 0);
  EXPECT_EQ(s.selector, 0x10);
  EXPECT_EQ(s.type, 0x3);
  EXPECT_EQ(s.dpl, 0);
  EXPECT_EQ(s.s, 1);
  EXPECT_EQ(s.db, 1);
  EXPECT_EQ(s.l, 0);
  EXPECT_EQ(s.g, 1);
  EXPECT_EQ(s.limit, 0xffffffffu);
  EXPECT_EQ(s.present, 1);
}

TEST(Descriptors, TssSegment) {
  kvm_segment s = tss_segment(0x48, 0xffff808000010800ULL, 109);
  EXPECT_EQ(s.selector, 0x48);
  EXPECT_EQ(s.base, 0xffff808000010800ULL);
  EXPECT_EQ(s.limit, 109u);
  EXPECT_EQ(s.type, 0xb) << "busy 64-bit TSS";
  EXPECT_EQ(s.s, 0);
  EXPECT_EQ(s.present, 1);
}

// A segment register must hold what loading its descriptor would give.
void expect_matches_descriptor(const kvm_segment& s, uint64_t d) {
  EXPECT_EQ(s.type, bits(d, 40, 4));
  EXPECT_EQ(s.s, bits(d, 44, 1));
  EXPECT_EQ(s.dpl, bits(d, 45, 2));
  EXPECT_EQ(s.present, bits(d, 47, 1));
  EXPECT_EQ(s.l, bits(d, 53, 1));
  EXPECT_EQ(s.db, bits(d, 54, 1));
  EXPECT_EQ(s.g, bits(d, 55, 1));
}

TEST(Descriptors, SegmentsMatchTheirDescriptors) {
  for (unsigned dpl : {0u, 3u}) {
    SCOPED_TRACE(dpl);
    expect_matches_descriptor(code64_segment(0x08, dpl), code64_descriptor(dpl));
    expect_matches_descriptor(code32_segment(0x23, dpl), code32_descriptor(dpl));
    expect_matches_descriptor(data_segment(0x10, dpl), data_descriptor(dpl));
  }
}

}  // namespace
}  // namespace tortuga
