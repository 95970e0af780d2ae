/*
 * System calls from the test guest's user-mode programs to its kernel.
 * Always inlined: the memory suite's user programs must not call out of
 * the pages their own page tables map (mm_user.c).
 */
#ifndef TEST_GUEST_USER_SYSCALL_H
#define TEST_GUEST_USER_SYSCALL_H

#include "guest.h"

#define USER_INLINE static inline __attribute__((always_inline))

USER_INLINE long usys(long nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret), "+D"(a0), "+S"(a1), "+d"(a2)
			 : "a"(nr)
			 : "rcx", "r11", "memory");
	return ret;
}

/* One check line, printed by the kernel. */
USER_INLINE void ucheck(bool ok, const char *what)
{
	usys(SYS_CHECK, ok, (uint64_t)what, 0);
}

/* Arms the kernel for one deliberate fault: vector, cr2, error code. */
USER_INLINE void uexpect(uint64_t vector, uint64_t cr2, uint64_t error)
{
	usys(SYS_EXPECT, vector, cr2, error);
}

#endif
