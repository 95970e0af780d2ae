/*
 * The test guest's user-mode programs. They run in guest user mode (CPL3,
 * like the kernel, but in the VMM's user mode: a SYSCALL here is bounced to
 * the kernel's syscall callback, not taken as a hypercall).
 */
#include "user_syscall.h"

#define KERNEL_GS_MAGIC 0x6b65726e656c4753ULL
#define USER_GS_MAGIC 0x7573657247530000ULL

uint64_t user_bench_iterations;

void user_selftest(void)
{
	ucheck(usys(SYS_DOUBLE, 21, 0, 0) == 42, "user->kernel->user syscall round trip returns the kernel's result");

	uint64_t gs;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(gs));
	ucheck(gs == USER_GS_MAGIC, "user mode runs on the user GS base");
	ucheck((uint64_t)usys(SYS_GS_READ_KERNEL, 0, 0, 0) == KERNEL_GS_MAGIC,
	       "a syscall bounce switches to the kernel GS base");

	/* Each fault resumes at the label whose address is in r12. */
	uexpect(14, UNMAPPED_USER_ADDRESS, 0x6); /* user, write, not present */
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tmovb $1, (%0)\n1:" ::"r"(UNMAPPED_USER_ADDRESS) : "r12", "memory");
	uexpect(13, 0, 0);
	__asm__ volatile("lea 1f(%%rip), %%r12\n\thlt\n1:" ::: "r12");
	uexpect(6, 0, 0);
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tud2\n1:" ::: "r12");
	uexpect(0, 0, 0);
	__asm__ volatile("lea 1f(%%rip), %%r12\n\txor %%edx, %%edx\n\txor %%ecx, %%ecx\n\tdiv %%ecx\n1:" ::: "r12", "rax", "rcx", "rdx");
	uexpect(3, 0, 0);
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tint3\n1:" ::: "r12");
	uexpect(13, 0, (0x80 << 3) | 2);
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tint $0x80\n1:" ::: "r12");
	ucheck(true, "user mode survives #PF, #GP, #UD, #DE, int3 and int $0x80 bounced to the kernel");

	usys(SYS_EXIT, 0, 0, 0);
}

void user_bench_syscall(void)
{
	for (uint64_t i = 0; i < user_bench_iterations; i++)
		usys(SYS_NOP, 0, 0, 0);
	usys(SYS_EXIT, 0, 0, 0);
}

void user_bench_exception(void)
{
	for (uint64_t i = 0; i < user_bench_iterations; i++)
		__asm__ volatile("lea 1f(%%rip), %%r12\n\tud2\n1:" ::: "r12");
	usys(SYS_EXIT, 0, 0, 0);
}
