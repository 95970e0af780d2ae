/*
 * User-mode programs of the memory suite (mm.c). They run on user page
 * tables that map nothing of the kernel but the pages of this file's code,
 * so everything here lives in the section .text.user, between the page
 * aligned markers user_text_start and user_text_end, and touches only its
 * own stack and the user data pages at MM_USER_DATA_VA. The strings passed
 * to SYS_CHECK stay in the kernel's .rodata: only their addresses travel,
 * and the kernel reads them.
 *
 * Built with -fno-toplevel-reorder (the markers must stay around the
 * functions), without block partitioning (no .text.unlikely parts) and
 * without loop-to-memset conversion (no calls out of this section).
 */
#include "user_syscall.h"

#define USER_TEXT __attribute__((section(".text.user")))

__asm__(".pushsection .text.user, \"ax\", @progbits\n"
	".balign 4096\n"
	".globl user_text_start\n"
	"user_text_start:\n"
	".popsection");

USER_INLINE __attribute__((noreturn)) void uexit(void)
{
	usys(SYS_EXIT, 0, 0, 0);
	for (;;)
		;
}

/*
 * A store or a load that a fault handler may skip: the handler resumes at
 * r12 when it cannot (or must not) make the access succeed.
 */
USER_INLINE void ustore(uint64_t va, uint64_t v)
{
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tmovq %1, (%0)\n1:" ::"r"(va), "r"(v) : "r12", "memory");
}

USER_INLINE uint64_t uload(uint64_t va)
{
	uint64_t v = ~0ULL;
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tmovq (%1), %0\n1:" : "+r"(v) : "r"(va) : "r12", "memory");
	return v;
}

USER_INLINE volatile uint64_t *udata(unsigned page)
{
	return (volatile uint64_t *)(MM_USER_DATA_VA + (uint64_t)page * TG_PAGE_SIZE);
}

USER_INLINE bool upage_holds(unsigned page, bool second)
{
	volatile uint64_t *p = udata(page);
	bool ok = true;
	for (unsigned w = 0; w < TG_PAGE_SIZE / 8; w++)
		ok &= p[w] == (second ? MM_PATTERN_B(page, w) : MM_PATTERN_A(page, w));
	return ok;
}

/* The user page table of mm.c: data page 0 holds pattern A; rdi is a kernel VA. */
USER_TEXT void user_mm_basic(uint64_t kernel_va)
{
	ucheck(upage_holds(0, false), "a user program reads the data page its own page table maps");
	volatile uint64_t *p = udata(0);
	for (unsigned w = 0; w < TG_PAGE_SIZE / 8; w++)
		p[w] = MM_PATTERN_B(0, w);
	ucheck(upage_holds(0, true), "a user program writes its data page");

	/* Nothing of the kernel is mapped: a read of a kernel VA is not present. */
	uexpect(14, kernel_va, 0x4);
	uint64_t v = uload(kernel_va);
	ucheck(v == ~0ULL, "the kernel's memory is not mapped in the user page table");

	/* The code pages are mapped read-only. */
	uint64_t code = (uint64_t)user_mm_basic & ~(TG_PAGE_SIZE - 1);
	uexpect(14, code, 0x7);
	ustore(code, 0);
	ucheck(true, "the user code pages are mapped read-only");
	uexit();
}

/* Before the fork: the parent writes every data page once (the CPU sets D). */
USER_TEXT void user_fork_touch(void)
{
	bool ok = true;
	for (unsigned i = 0; i < MM_USER_NDATA; i++) {
		volatile uint64_t *p = udata(i);
		p[0] = p[0];
		ok &= upage_holds(i, false);
	}
	ucheck(ok, "the parent reads and writes its data pages before the fork");
	uexit();
}

/*
 * After the fork, the parent's data pages are read-only: each first write
 * faults, the kernel copies the page and maps the copy writable, and the
 * write is retried.
 */
USER_TEXT void user_cow_parent(void)
{
	bool ok = true;
	for (unsigned i = 0; i < MM_USER_NDATA; i++)
		ok &= upage_holds(i, false);
	ucheck(ok, "after the fork the parent still reads its data (read-only)");
	for (unsigned i = 0; i < MM_USER_NDATA; i++) {
		ustore((uint64_t)udata(i), MM_PATTERN_B(i, 0));
		volatile uint64_t *p = udata(i);
		for (unsigned w = 1; w < TG_PAGE_SIZE / 8; w++)
			p[w] = MM_PATTERN_B(i, w);
	}
	ok = true;
	for (unsigned i = 0; i < MM_USER_NDATA; i++)
		ok &= upage_holds(i, true);
	ucheck(ok, "the parent's writes succeed after copy-on-write faults");
	uexit();
}

/* The child sees the contents at the fork, read-only. */
USER_TEXT void user_cow_child(void)
{
	bool ok = true;
	for (unsigned i = 0; i < MM_USER_NDATA; i++)
		ok &= upage_holds(i, false);
	ucheck(ok, "the child sees the data as it was at the fork");
	uexpect(14, MM_USER_DATA_VA, 0x7);
	ustore(MM_USER_DATA_VA, 0);
	ucheck(upage_holds(0, false), "the child's pages are mapped read-only");
	uexit();
}

__asm__(".pushsection .text.user, \"ax\", @progbits\n"
	".balign 4096\n"
	".globl user_text_end\n"
	"user_text_end:\n"
	".popsection");
