/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: the start info page and the start-of-day layout.
 *
 * The domain builder loads the kernel's PT_LOAD segments at guest-physical
 * address (vaddr - virt_base), where virt_base comes from the kernel's
 * TG_ELFNOTE_VIRT_BASE note. After the highest loaded byte it places, each
 * page aligned and in this order:
 *
 *     initramfs (if any), start info, shared info, console ring page,
 *     store ring page, bootstrap page tables, bootstrap stack
 *
 * and maps guest-physical [0, boot_map_end) at virt_base + gpa with 4 KiB
 * pages: everything writable except the bootstrap page tables, which are
 * mapped read-only. boot_map_end leaves at least 512 KiB unused after the
 * stack and is a multiple of 4 MiB. The kernel starts at its entry point,
 * in kernel mode, events masked, with:
 *
 *     rsi = virtual address of the start info page
 *     rsp = top of the bootstrap stack (16-byte aligned)
 *
 * and all other general-purpose registers zero.
 */
#ifndef TORTUGA_START_INFO_H
#define TORTUGA_START_INFO_H

#include "types.h"

#define TG_START_INFO_MAGIC "tortuga-1.0"
#define TG_CMDLINE_SIZE 1024
#define TG_MAX_MEMMAP_ENTRIES 8

/* One range of guest-physical memory. */
struct tg_memmap_entry {
	uint64_t gpa;
	uint64_t size;
	uint32_t type; /* TG_MEMMAP_* */
	uint32_t _pad;
};
TG_ABI_ASSERT_SIZE(struct tg_memmap_entry, 24);

#define TG_MEMMAP_RAM 1      /* usable memory */
#define TG_MEMMAP_RESERVED 2 /* present but not for the guest's allocator */

struct tg_start_info {
	char magic[16];          /* TG_START_INFO_MAGIC, NUL padded */
	uint32_t abi_version;    /* TG_ABI_VERSION of the VMM */
	uint32_t flags;          /* TG_SIF_* */
	uint64_t nr_pages;       /* guest RAM pages: gpa [0, nr_pages << 12) */
	uint64_t virt_base;      /* virtual address of gpa 0 */
	uint64_t shared_info_gpa;
	uint64_t shared_info_va;
	uint64_t pt_base;        /* virtual address of the bootstrap L4 */
	uint64_t nr_pt_frames;   /* bootstrap page-table frames, from pt_base */
	uint64_t boot_map_end;   /* gpa where the bootstrap mapping ends */
	uint64_t first_free_gpa; /* first page not used by the builder */
	uint64_t mod_start;      /* virtual address of the initramfs, or 0 */
	uint64_t mod_len;        /* its length in bytes */
	uint64_t console_ring_gfn;   /* console ring page (io/console.h) */
	uint32_t console_evtchn;     /* 0 until the console backend is present */
	uint32_t store_evtchn;       /* 0 until the store is present */
	uint64_t store_ring_gfn;     /* store ring page (io/store.h) */
	uint32_t nr_vcpus;       /* vCPUs the domain may bring up */
	uint32_t nr_memmap;      /* valid entries in memmap */
	struct tg_memmap_entry memmap[TG_MAX_MEMMAP_ENTRIES];
	uint64_t tsc_khz;        /* TSC frequency, for early delays */
	/*
	 * Event doorbells: guest-physical pages outside RAM that the guest may
	 * map (and nothing else outside RAM). A 64-bit store of any value to
	 * doorbell_gpa + 8 * port notifies a port bound to a VMM backend without
	 * an exit the VMM must handle (an ioeventfd). 0 when there are none.
	 */
	uint64_t doorbell_gpa;
	uint64_t nr_doorbell_pages;
	/*
	 * VA of gpa 0 in the builder's map of all RAM, asked for with
	 * TG_ELFNOTE_PHYSMAP_VA; 0 when the kernel did not ask (ABI 5.1).
	 */
	uint64_t physmap_va;
	uint8_t _reserved[664];
	char cmdline[TG_CMDLINE_SIZE]; /* NUL-terminated */
};
TG_ABI_ASSERT_SIZE(struct tg_start_info, 2048);

#define TG_SIF_INITDOMAIN 0x1 /* unused in v1: every domain is unprivileged */

#endif /* TORTUGA_START_INFO_H */
