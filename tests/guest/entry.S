/*
 * Test guest entry points: the ELF notes, the start of day, the hypercall
 * page, exception/syscall/failsafe entries, and setjmp/longjmp.
 *
 * Every bounce arrives with the frame of <tortuga/cpu.h>:
 *     rcx, r11, [error code], rip, cs, rflags, rsp, ss
 * The entries pop rcx and r11 back into their registers, push a uniform
 * (vector, error code) pair and all registers (struct trap_regs), call
 * trap_dispatch(), and return through the iret hypercall. The event upcall
 * and NMI callbacks come the same way (no error code); the iret frame's IF
 * gives upcall_mask back the value it had when the upcall interrupted.
 */
#define HC_IRET 5               /* TG_HC_iret, checked in main.c */
#define SLOT_SIZE 32            /* TG_HYPERCALL_SLOT_SIZE */
#define VECTOR_SYSCALL 0x100
#define VECTOR_FAILSAFE 0x101
#define VECTOR_EVENT 0x102
#define VECTOR_NMI 0x103

	.macro NOTE type, value
	.balign 4
	.long 8, 8, \type
	.asciz "Tortuga"
	.quad \value
	.endm

	.section .note.tortuga, "a"
	NOTE 1, 0x10000                 /* TG_ELFNOTE_ABI_VERSION: 1.0 */
	NOTE 2, 0xffffffff80000000      /* TG_ELFNOTE_VIRT_BASE */
	NOTE 3, _start                  /* TG_ELFNOTE_ENTRY */
	NOTE 4, hypercall_page          /* TG_ELFNOTE_HYPERCALL_PAGE */

	.section .text.entry, "ax"
	.globl _start
_start:
	mov %rsi, %rdi                  /* start info */
	call guest_main
	ud2

	.section .hypercall_page, "ax"
	.balign 4096
	.globl hypercall_page
hypercall_page:
	.fill 4096, 1, 0                /* filled by the VMM */

	.text
	.macro TRAP vec, has_error
	.globl trap_entry_\vec
trap_entry_\vec:
	pop %rcx
	pop %r11
	.if \has_error == 0
	push $0
	.endif
	push $\vec
	jmp trap_common
	.endm

	TRAP 0, 0
	TRAP 1, 0
	TRAP 3, 0
	TRAP 6, 0
	TRAP 13, 1
	TRAP 14, 1

	.globl syscall_entry
syscall_entry:
	pop %rcx
	pop %r11
	push $0
	push $VECTOR_SYSCALL
	jmp trap_common

	.globl failsafe_entry
failsafe_entry:
	pop %rcx
	pop %r11                        /* the reason stays as the error code */
	push $VECTOR_FAILSAFE
	jmp trap_common

/* Event upcall (ABI.md 2.9): trap_dispatch() hands it to event_upcall(). */
	.globl event_entry
event_entry:
	pop %rcx
	pop %r11
	push $0
	push $VECTOR_EVENT
	jmp trap_common

/* Virtual NMI (ABI.md 2.10): trap_dispatch() hands it to nmi_upcall(). */
	.globl nmi_entry
nmi_entry:
	pop %rcx
	pop %r11
	push $0
	push $VECTOR_NMI
	jmp trap_common

trap_common:
	push %rax
	push %rbx
	push %rcx
	push %rdx
	push %rbp
	push %rsi
	push %rdi
	push %r8
	push %r9
	push %r10
	push %r11
	push %r12
	push %r13
	push %r14
	push %r15
	mov %rsp, %rdi
	call trap_dispatch
	.globl iret_to_regs_tail
iret_to_regs_tail:
	pop %r15
	pop %r14
	pop %r13
	pop %r12
	pop %r11
	pop %r10
	pop %r9
	pop %r8
	pop %rdi
	pop %rsi
	pop %rbp
	pop %rdx
	pop %rcx
	pop %rbx
	pop %rax
	add $16, %rsp                   /* vector, error code */
	push iret_flags(%rip)           /* 0, or a carried batch (ABI 2.11) */
	push %rcx
	push %r11
	jmp hypercall_page + HC_IRET * SLOT_SIZE

/* void iret_to_regs(struct trap_regs *regs): resume the context in *regs. */
	.globl iret_to_regs
iret_to_regs:
	mov %rdi, %rsp
	jmp iret_to_regs_tail

/* int tg_setjmp(struct jump_buf *), void tg_longjmp(struct jump_buf *, int) */
	.globl tg_setjmp
tg_setjmp:
	mov %rbx, 0(%rdi)
	mov %rbp, 8(%rdi)
	mov %r12, 16(%rdi)
	mov %r13, 24(%rdi)
	mov %r14, 32(%rdi)
	mov %r15, 40(%rdi)
	lea 8(%rsp), %rax
	mov %rax, 48(%rdi)
	mov (%rsp), %rax
	mov %rax, 56(%rdi)
	xor %eax, %eax
	ret

	.globl tg_longjmp
tg_longjmp:
	mov 0(%rdi), %rbx
	mov 8(%rdi), %rbp
	mov 16(%rdi), %r12
	mov 24(%rdi), %r13
	mov 32(%rdi), %r14
	mov 40(%rdi), %r15
	mov 48(%rdi), %rsp
	mov %esi, %eax
	jmp *56(%rdi)
	.section .note.GNU-stack, "", @progbits
