/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: hypercall numbers and their direct arguments.
 *
 * Calling convention (see cpu.h and ABI.md): call slot n of the hypercall
 * page, or execute `syscall` in kernel mode with n in eax. Arguments are in
 * rdi, rsi, rdx, r10, r8; the result is in rax.
 *
 * Numbers are ABI: never renumber, only add.
 */
#ifndef TORTUGA_HYPERCALL_H
#define TORTUGA_HYPERCALL_H

#include "types.h"

#define TG_HC_console_io 0       /* (cmd, count, buf) */
#define TG_HC_sched_op 1         /* (cmd, arg) */
#define TG_HC_set_timer_op 2     /* (deadline_ns) */
#define TG_HC_set_trap_table 3   /* (struct tg_trap_info *) */
#define TG_HC_set_callbacks 4    /* (type, address, flags) */
#define TG_HC_iret 5             /* frame at rsp; never returns */
#define TG_HC_stack_switch 6     /* (ss, rsp) */
#define TG_HC_set_segment_base 7 /* (which, base) */
#define TG_HC_mmu_update 8       /* (reqs, count, done *) */
#define TG_HC_mmuext_op 9        /* (ops, count, done *) */
#define TG_HC_update_va_mapping 10 /* (va, pte, flags) */
#define TG_HC_multicall 11       /* (entries, count) */
#define TG_HC_event_channel_op 12 /* (cmd, arg *) */
#define TG_HC_grant_table_op 13  /* (cmd, args *, count) */
#define TG_HC_memory_op 14       /* (cmd, arg *) */
#define TG_HC_vcpu_op 15         /* (cmd, vcpu, arg *) */
#define TG_HC_version 16         /* (cmd, arg *) */
#define TG_NR_HYPERCALLS 17

/* TG_HC_console_io commands. count is at most TG_CONSOLE_IO_MAX bytes. */
#define TG_CONSOLEIO_WRITE 0 /* returns bytes written */
#define TG_CONSOLEIO_READ 1  /* returns bytes read, 0 if none waiting */
#define TG_CONSOLE_IO_MAX 4096

/* TG_HC_sched_op commands. */
#define TG_SCHEDOP_yield 0    /* arg unused; returns 0 */
#define TG_SCHEDOP_block 1    /* unmask events, sleep until one is pending */
#define TG_SCHEDOP_shutdown 2 /* arg = TG_SHUTDOWN_*; does not return */
#define TG_SCHEDOP_poll 3     /* arg = struct tg_sched_poll * */

#define TG_SHUTDOWN_poweroff 0
#define TG_SHUTDOWN_reboot 1
#define TG_SHUTDOWN_suspend 2
#define TG_SHUTDOWN_crash 3
#define TG_SHUTDOWN_watchdog 4
#define TG_NR_SHUTDOWN_REASONS 5

#ifndef __ASSEMBLER__
struct tg_sched_poll {
	uint64_t ports;    /* guest VA of tg_evtchn_port_t[nr_ports] */
	uint32_t nr_ports; /* at most 128 */
	uint32_t _pad;
	uint64_t timeout_ns; /* absolute system time; 0 waits for ever */
};
TG_ABI_ASSERT_SIZE(struct tg_sched_poll, 24);
#endif

/* TG_HC_version commands. */
#define TG_VERSION_abi 0      /* returns TG_ABI_VERSION */
#define TG_VERSION_features 1 /* arg = struct tg_feature_info * */
#define TG_VERSION_vmm_name 2 /* arg = char[64], NUL-terminated */

#ifndef __ASSEMBLER__
struct tg_feature_info {
	uint32_t submap_idx; /* in: which 32-bit word */
	uint32_t submap;     /* out: feature bits */
};
TG_ABI_ASSERT_SIZE(struct tg_feature_info, 8);
#endif

/*
 * Feature bits, word 0. A VMM sets a bit only when it implements every
 * operation the bit covers; a guest must check the bit, not probe.
 */
#define TG_FEAT_CORE_CPU (1U << 0)    /* traps, callbacks, iret, segments, stack_switch */
#define TG_FEAT_CONSOLE_IO (1U << 1)  /* console_io write and read */
#define TG_FEAT_PV_MMU (1U << 2)      /* mmu_update, mmuext_op, update_va_mapping */
#define TG_FEAT_MULTICALL (1U << 3)
#define TG_FEAT_EVENTS (1U << 4)      /* event channels, block, poll */
#define TG_FEAT_TIMER (1U << 5)       /* set_timer_op, pvclock records */
#define TG_FEAT_SMP (1U << 6)         /* vcpu_op up/down/initialise */
#define TG_FEAT_GRANT_TABLE (1U << 7)
#define TG_FEAT_BALLOON (1U << 8)     /* memory_op reservations */
#define TG_FEAT_PT_WRITE_EMULATION (1U << 9) /* see ABI.md, PV MMU */
#define TG_FEAT_PHYSMAP (1U << 10)    /* the builder maps all RAM at TG_ELFNOTE_PHYSMAP_VA */

#endif /* TORTUGA_HYPERCALL_H */
