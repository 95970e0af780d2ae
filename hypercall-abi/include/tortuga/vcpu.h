/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: vCPU operations (TG_HC_vcpu_op), the CPUID
 * signature, and scheduling parameters.
 *
 * Call: TG_HC_vcpu_op(cmd, vcpu, arg), vcpu < start_info.nr_vcpus (else
 * -ESRCH), arg the guest VA of the structure named for cmd (or 0).
 */
#ifndef TORTUGA_VCPU_H
#define TORTUGA_VCPU_H

#include "types.h"
#include "hypercall.h"
#include "cpu.h"

/* Sub-operations. Numbers are ABI: never renumber, only add. */
#define TG_VCPUOP_initialise 0            /* struct tg_vcpu_guest_context */
#define TG_VCPUOP_up 1                    /* arg = 0 */
#define TG_VCPUOP_down 2                  /* arg = 0 */
#define TG_VCPUOP_is_up 3                 /* arg = 0; returns 1 or 0 */
#define TG_VCPUOP_get_info 4              /* struct tg_vcpu_runstate */
#define TG_VCPUOP_set_singleshot_timer 5  /* struct tg_vcpu_singleshot_timer */
#define TG_VCPUOP_stop_singleshot_timer 6 /* arg = 0 */
#define TG_VCPUOP_send_nmi 7              /* arg = 0 */

/*
 * The context a vCPU starts with (TG_VCPUOP_initialise). The vCPU starts
 * in kernel mode; its events are masked (upcall_mask = 1) unless rflags has
 * TG_RFLAGS_IF. flags and _reserved must be 0; unused callbacks are 0. Base pointers are gfns of pinned L4
 * tables; user_l4_gfn 0 means the kernel table is used in user mode too.
 */
struct tg_vcpu_guest_context {
	uint64_t flags; /* must be 0 in v1 */
	/* General-purpose registers. */
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip;
	uint64_t rflags;       /* TG_RFLAGS_IF here sets upcall_mask = 0 */
	uint64_t kernel_l4_gfn; /* TG_MMUEXT_NEW_BASEPTR */
	uint64_t user_l4_gfn;  /* TG_MMUEXT_NEW_USER_BASEPTR */
	uint64_t kernel_sp;    /* TG_HC_stack_switch(TG_KERNEL_DS, kernel_sp) */
	uint64_t fs_base;      /* TG_SEGBASE_FS */
	uint64_t gs_base_kernel; /* TG_SEGBASE_GS_KERNEL */
	uint64_t gs_base_user; /* TG_SEGBASE_GS_USER */
	uint64_t trap_table;   /* guest VA of struct tg_trap_info[], or 0 */
	struct {
		uint64_t address; /* 0 = not registered */
		uint64_t flags;   /* TG_CALLBACKF_* */
	} callbacks[TG_NR_CALLBACKS]; /* indexed by TG_CALLBACK_* */
	uint8_t _reserved[240];
};
TG_ABI_ASSERT_SIZE(struct tg_vcpu_guest_context, 512);

/* TG_VCPUOP_get_info: run-state accounting of one vCPU. */
#define TG_RUNSTATE_running 0  /* on a host CPU */
#define TG_RUNSTATE_runnable 1 /* wants a host CPU, not given one (steal) */
#define TG_RUNSTATE_blocked 2  /* in TG_SCHEDOP_block / poll */
#define TG_RUNSTATE_offline 3  /* down, or the domain is paused */
#define TG_NR_RUNSTATES 4

struct tg_vcpu_runstate {
	uint32_t state; /* TG_RUNSTATE_* now */
	uint32_t _pad0;
	uint64_t state_entry_time; /* system time (ns) of the last change */
	uint64_t time[TG_NR_RUNSTATES]; /* ns spent in each state so far */
};
TG_ABI_ASSERT_SIZE(struct tg_vcpu_runstate, 48);

/* TG_VCPUOP_set_singleshot_timer: same timer as TG_HC_set_timer_op. */
struct tg_vcpu_singleshot_timer {
	uint64_t deadline_ns; /* absolute system time */
	uint32_t flags;       /* must be 0 in v1 */
	uint32_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_vcpu_singleshot_timer, 16);

/* A deadline further ahead than this from now is refused with -EINVAL. */
#define TG_TIMER_MAX_AHEAD_NS (365ULL * 24 * 3600 * 1000000000ULL)

/*
 * CPUID (TG_CPUID_LEAF_BASE and TG_CPUID_SIGNATURE are in cpu.h): leaf
 * 0x40000000 returns eax = TG_CPUID_LEAF_MAX and the signature in ebx, ecx,
 * edx (4 ASCII bytes each, little endian); leaf 0x40000001 returns
 * eax = TG_ABI_VERSION, ebx = ecx = edx = 0.
 */
#define TG_CPUID_LEAF_VERSION 0x40000001U
#define TG_CPUID_LEAF_MAX 0x40000001U
#define TG_CPUID_SIGNATURE_EBX 0x74726f54U /* "Tort" */
#define TG_CPUID_SIGNATURE_ECX 0x50616775U /* "ugaP" */
#define TG_CPUID_SIGNATURE_EDX 0x4d4d5656U /* "VVMM" */

/*
 * Scheduling parameters. There is no hypercall: the toolstack writes them
 * to the cgroup v2 cpu controller of the domain's VMM process (ABI.md,
 * "Scheduling"). Guests see their effect only as runnable (steal) time.
 */
#define TG_SCHED_WEIGHT_MIN 1       /* cpu.weight range */
#define TG_SCHED_WEIGHT_DEFAULT 100
#define TG_SCHED_WEIGHT_MAX 10000
#define TG_SCHED_CAP_PERIOD_US 100000 /* cpu.max period */
/* cap in percent of one host CPU; 0 = no cap ("max" in cpu.max). */

#endif /* TORTUGA_VCPU_H */
