/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: fixed-width types.
 *
 * Every ABI header includes this file first. The same headers are compiled
 * into the Linux kernel (which provides its own uint*_t through
 * <linux/types.h>), into the freestanding test guest (GCC's freestanding
 * <stdint.h>) and into the VMM (C++20).
 */
#ifndef TORTUGA_TYPES_H
#define TORTUGA_TYPES_H

#ifndef __ASSEMBLER__
#if defined(__KERNEL__)
#include <linux/types.h>
#else
#include <stdint.h>
#endif
#endif

/* ABI version: major in bits 31..16, minor in bits 15..0. */
#define TG_ABI_VERSION_MAJOR 1
#define TG_ABI_VERSION_MINOR 0
#define TG_ABI_VERSION ((TG_ABI_VERSION_MAJOR << 16) | TG_ABI_VERSION_MINOR)

/*
 * Compile-time layout checks. Every structure shared with the guest has a
 * fixed size on x86-64; a change that alters one is an ABI break.
 */
#if defined(__cplusplus)
#define TG_ABI_ASSERT_SIZE(type, size) static_assert(sizeof(type) == (size), #type)
#else
#define TG_ABI_ASSERT_SIZE(type, size) _Static_assert(sizeof(type) == (size), #type)
#endif

#ifndef __ASSEMBLER__
typedef uint32_t tg_evtchn_port_t; /* event channel port number */
typedef uint32_t tg_grant_ref_t;   /* grant table entry index */
typedef uint16_t tg_domid_t;       /* domain identifier */

/* A guest frame number: guest-physical address >> 12. */
typedef uint64_t tg_gfn_t;
#endif

#define TG_PAGE_SHIFT 12
#define TG_PAGE_SIZE (1UL << TG_PAGE_SHIFT)

#endif /* TORTUGA_TYPES_H */
