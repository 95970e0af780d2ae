/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: the shared info page and per-vCPU info.
 *
 * One page of guest RAM, chosen by the builder (start info names it),
 * written by both the VMM and the guest. It holds the per-vCPU event
 * state and time records, and the 2-level event channel bitmaps.
 */
#ifndef TORTUGA_SHARED_INFO_H
#define TORTUGA_SHARED_INFO_H

#include "types.h"

#define TG_MAX_VCPUS 32
#define TG_NR_EVENT_CHANNELS 4096 /* 64 words of 64 bits */

/*
 * A pvclock time record, the same layout as KVM's pvclock_vcpu_time_info,
 * so Linux's pvclock code reads it unchanged. The VMM bumps version to an
 * odd value, updates the fields, then bumps it to even. Time in ns is
 *     system_time + (((tsc - tsc_timestamp) << tsc_shift) * tsc_to_system_mul >> 32)
 * with a right shift when tsc_shift is negative.
 */
struct tg_vcpu_time_info {
	uint32_t version;
	uint32_t _pad0;
	uint64_t tsc_timestamp;
	uint64_t system_time;
	uint32_t tsc_to_system_mul;
	int8_t tsc_shift;
	uint8_t flags; /* TG_PVCLOCK_* */
	uint8_t _pad1[2];
};
TG_ABI_ASSERT_SIZE(struct tg_vcpu_time_info, 32);

#define TG_PVCLOCK_TSC_STABLE 0x01

struct tg_vcpu_info {
	/*
	 * upcall_pending: set by the VMM when an unmasked event is pending for
	 * this vCPU; cleared by the guest. upcall_mask: the virtual interrupt
	 * flag, 1 = events masked. Guests change it with plain stores.
	 */
	uint8_t upcall_pending;
	uint8_t upcall_mask;
	uint8_t _pad0[6];
	uint64_t pending_sel; /* bit i: word i of evtchn_pending has news */
	uint64_t cr2;         /* faulting address of the last page fault */
	uint64_t _pad1;
	struct tg_vcpu_time_info time;
};
TG_ABI_ASSERT_SIZE(struct tg_vcpu_info, 64);

/* Wall clock at system time 0, seqlock-versioned like the time records. */
struct tg_wall_clock {
	uint32_t version;
	uint32_t _pad;
	uint64_t sec;
	uint32_t nsec;
	uint32_t _pad1;
};
TG_ABI_ASSERT_SIZE(struct tg_wall_clock, 24);

struct tg_shared_info {
	struct tg_vcpu_info vcpu_info[TG_MAX_VCPUS];
	uint64_t evtchn_pending[64];
	uint64_t evtchn_mask[64];
	struct tg_wall_clock wc;
	uint8_t _reserved[4096 - 64 * TG_MAX_VCPUS - 2 * 64 * 8 - 24];
};
TG_ABI_ASSERT_SIZE(struct tg_shared_info, 4096);

#endif /* TORTUGA_SHARED_INFO_H */
