/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: the virtual CPU.
 *
 * A Tortuga guest kernel runs at CPL3. The VMM owns CPL0 of the VM: the
 * GDT, IDT, TSS, CPL0 stacks and trap stubs live in a reserved range of
 * the address space that the guest can never map. Exceptions and SYSCALL
 * instructions leave the guest, and the VMM "bounces" them to handlers that
 * the guest kernel registered, by writing a bounce frame on the guest
 * kernel stack and resuming at the handler in kernel mode.
 *
 * The guest has two virtual modes, kernel and user, both at CPL3. The VMM
 * tracks which one is current. A bounce from user mode switches to the
 * kernel page table, the kernel stack and the kernel GS base; an iret
 * hypercall to user mode switches back. See ABI.md, "The virtual CPU".
 */
#ifndef TORTUGA_CPU_H
#define TORTUGA_CPU_H

#include "types.h"

/*
 * The reserved range: PML4 slots 256 to 271, 0xffff800000000000 up to
 * 0xffff87ffffffffff, the hole Linux leaves for a hypervisor (it was Xen's).
 * The guest may map nothing there. The VMM fills slot TG_RESERVED_L4_SLOT
 * of every top-level page table the guest uses with its CPL0 area; slot 256
 * stays empty because some KVM hosts (PVM) keep it for themselves.
 */
#define TG_RESERVED_VA_START 0xffff800000000000ULL
#define TG_RESERVED_VA_END 0xffff880000000000ULL /* exclusive */
#define TG_RESERVED_L4_FIRST 256
#define TG_RESERVED_L4_LAST 271
#define TG_RESERVED_L4_SLOT 257
#define TG_RESERVED_AREA_VA 0xffff808000000000ULL

/*
 * Selectors as the guest sees them in bounce, syscall and iret frames.
 * Kernel-mode selectors carry RPL 0 in frames (the "virtual" privilege),
 * although the hardware runs the kernel at CPL3 with different selectors.
 * User-mode selectors equal Linux's x86-64 user selectors.
 * Code that needs "was this user mode?" tests (cs & 3) as usual.
 */
#define TG_KERNEL_CS 0x10   /* virtual kernel 64-bit code */
#define TG_KERNEL_DS 0x18   /* virtual kernel data / stack */
#define TG_USER32_CS 0x23   /* user compatibility-mode code */
#define TG_USER_DS 0x2b     /* user data / stack */
#define TG_USER_CS 0x33     /* user 64-bit code */

/* RFLAGS bits that the guest may set through iret; the rest are forced. */
#define TG_RFLAGS_IF (1ULL << 9)
#define TG_RFLAGS_USER_MASK 0x0000000000240fd5ULL /* CF PF AF ZF SF TF IF DF OF AC ID */

/*
 * Trap table entry, for TG_HC_set_trap_table. The table is an array ended
 * by an entry whose handler is 0. Vectors 0..31 are exceptions; the guest
 * cannot raise other vectors (software `int n` is not supported, see
 * ABI.md). An exception whose vector has no handler kills the domain.
 */
#ifndef __ASSEMBLER__
struct tg_trap_info {
	uint8_t vector;
	uint8_t flags;      /* TG_TRAPF_* */
	uint16_t _pad0;
	uint32_t _pad1;
	uint64_t handler;   /* guest kernel virtual address */
};
TG_ABI_ASSERT_SIZE(struct tg_trap_info, 16);
#endif

/* Mask events (set upcall_mask) on entry, like an interrupt gate. */
#define TG_TRAPF_MASK_EVENTS 0x01

#define TG_NR_EXCEPTION_VECTORS 32

/*
 * Vectors that push an error code (as on hardware). Their bounce frame
 * contains error_code; the others do not.
 */
#define TG_VECTOR_HAS_ERROR_CODE(v)                                              \
	((v) == 8 || (v) == 10 || (v) == 11 || (v) == 12 || (v) == 13 ||         \
	 (v) == 14 || (v) == 17 || (v) == 21 || (v) == 29 || (v) == 30)

/*
 * The bounce frame, as found at the handler's %rsp, lowest address first:
 *
 *     rcx, r11, [error_code], rip, cs, rflags, rsp, ss
 *
 * rcx and r11 are the interrupted values of those registers (the handler
 * entry clobbers them); every other general-purpose register holds the
 * interrupted value on entry. After popping rcx and r11 (and error_code)
 * the stack holds exactly a hardware interrupt frame. The frame is 16-byte
 * aligned below the interrupted stack (kernel mode) or at the top of the
 * kernel stack set by TG_HC_stack_switch (user mode); the VMM never uses a
 * red zone, so guest kernels are built without one.
 */
#ifndef __ASSEMBLER__
struct tg_bounce_frame {
	uint64_t rcx;
	uint64_t r11;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
TG_ABI_ASSERT_SIZE(struct tg_bounce_frame, 56);
#endif

#ifndef __ASSEMBLER__
struct tg_bounce_frame_err {
	uint64_t rcx;
	uint64_t r11;
	uint64_t error_code;
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
TG_ABI_ASSERT_SIZE(struct tg_bounce_frame_err, 64);
#endif

/*
 * The syscall frame: a guest user SYSCALL arrives at the syscall callback
 * in kernel mode with a struct tg_bounce_frame whose rcx is the return
 * address and r11 the user RFLAGS, as the hardware instruction sets them,
 * and whose rip/cs/rflags/rsp/ss describe the user context. rcx and r11
 * also hold those values in the registers.
 */

/*
 * The iret frame, at %rsp when the iret hypercall's SYSCALL executes
 * (the hypercall-page stub pushes rax itself):
 *
 *     rax, r11, rcx, flags, rip, cs, rflags, rsp, ss
 *
 * All general-purpose registers other than rax, rcx, r11 and rsp are
 * resumed as they are. cs & 3 selects the mode: 0 returns to kernel mode,
 * 3 to user mode (which also switches to the user page table and GS base).
 * IF in rflags sets the event mask: IF=1 unmasks events.
 */
#ifndef __ASSEMBLER__
struct tg_iret_frame {
	uint64_t rax;
	uint64_t r11;
	uint64_t rcx;
	uint64_t flags; /* must be 0 */
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
TG_ABI_ASSERT_SIZE(struct tg_iret_frame, 72);

/*
 * A batch an iret carries (ABI 2.11): the frame's flags word is 0, or the
 * kernel VA of one of these with TG_IRET_BATCH (bit 0) set. Before it
 * returns, the VMM runs the count multicall entries at calls as
 * TG_HC_multicall would and sets count to 0; a page fault's handler can
 * thus leave the entry it wrote for its return to carry (2 exits a fault).
 */
struct tg_iret_batch {
	uint64_t calls;  /* VA of struct tg_multicall_entry[count] */
	uint32_t count;  /* at most TG_MULTICALL_MAX; 0: nothing to run */
	uint32_t _pad;   /* 0 */
};
TG_ABI_ASSERT_SIZE(struct tg_iret_batch, 16);
#endif

#define TG_IRET_BATCH 0x1 /* tg_iret_frame.flags: a struct tg_iret_batch VA follows in the other bits */

/*
 * The failsafe frame: when an iret hypercall names a context that cannot
 * be resumed (an unknown selector, a non-canonical or reserved rip), the
 * VMM enters the failsafe callback in kernel mode, events masked, with
 * this frame describing the rejected context. With no failsafe callback
 * registered the domain is killed.
 */
#ifndef __ASSEMBLER__
struct tg_failsafe_frame {
	uint64_t rcx;
	uint64_t r11;
	uint64_t reason; /* TG_FAILSAFE_* */
	uint64_t rip;
	uint64_t cs;
	uint64_t rflags;
	uint64_t rsp;
	uint64_t ss;
};
TG_ABI_ASSERT_SIZE(struct tg_failsafe_frame, 64);
#endif

#define TG_FAILSAFE_BAD_SELECTOR 1
#define TG_FAILSAFE_BAD_RIP 2
#define TG_FAILSAFE_BAD_FLAGS 3
#define TG_FAILSAFE_BATCH 4 /* the carried batch was refused or an entry of it failed */

/* TG_HC_set_callbacks: the callback types. */
#define TG_CALLBACK_EVENT 0    /* event upcall, events masked on entry */
#define TG_CALLBACK_FAILSAFE 1 /* rejected iret context */
#define TG_CALLBACK_SYSCALL 2  /* 64-bit user SYSCALL */
#define TG_CALLBACK_NMI 3      /* virtual NMI (TG_VCPUOP_send_nmi) */
#define TG_NR_CALLBACKS 4

/* TG_HC_set_callbacks flags. */
#define TG_CALLBACKF_MASK_EVENTS 0x01 /* set upcall_mask on entry */

/* TG_HC_set_segment_base: which base to set. */
#define TG_SEGBASE_FS 0        /* FS base (user and kernel share it) */
#define TG_SEGBASE_GS_USER 1   /* GS base used in user mode */
#define TG_SEGBASE_GS_KERNEL 2 /* GS base used in kernel mode */

/*
 * CPUID: leaf 0x40000000 returns eax = the highest Tortuga leaf and the
 * signature "TortugaPVVMM" in ebx, ecx, edx; leaf 0x40000001 returns
 * eax = TG_ABI_VERSION. A kernel detects Tortuga from these.
 */
#define TG_CPUID_LEAF_BASE 0x40000000U
#define TG_CPUID_SIGNATURE "TortugaPVVMM"

/*
 * Hypercall page: one 32-byte slot per hypercall number. Slot n contains
 *     mov $n, %eax ; syscall ; ret
 * except the iret slot, which contains
 *     push %rax ; mov $TG_HC_iret, %eax ; syscall
 * and never returns. Arguments go in rdi, rsi, rdx, r10, r8 (the Linux
 * syscall order, because SYSCALL clobbers rcx and r11); the result comes
 * back in rax; rcx and r11 are clobbered; every other register is kept.
 */
#define TG_HYPERCALL_SLOT_SIZE 32
#define TG_HYPERCALL_PAGE_SLOTS 128

#endif /* TORTUGA_CPU_H */
