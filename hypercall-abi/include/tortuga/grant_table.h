/* SPDX-License-Identifier: MIT */
/*
 * Tortuga hypercall ABI: grant tables (TG_HC_grant_table_op).
 *
 * A domain shares one of its frames with another party by filling an
 * entry of its grant table: "domid may access frame, read-only or not".
 * In v1 the other party is the VMM's backends (TG_DOMID_VMM), which check
 * the entry on every use; a guest may also map and copy its own grants,
 * which the test guest uses to exercise the same rules. The grant table
 * lives in guest RAM frames the guest hands over with setup_table.
 *
 * Call: TG_HC_grant_table_op(cmd, args, count). args is the guest VA of an
 * array of count structures of the kind named for cmd. The return value is
 * 0 when every element was processed (each one's own result is in its
 * status field: 0 or a negative TG_E* code), or a negative TG_E* code for
 * a malformed call: -ENOSYS (cmd), -E2BIG (count > TG_GNTTAB_OP_MAX),
 * -EINVAL (count != 1 for setup_table / query_size).
 */
#ifndef TORTUGA_GRANT_TABLE_H
#define TORTUGA_GRANT_TABLE_H

#include "types.h"
#include "event_channel.h" /* TG_DOMID_* */

/*
 * A v1 grant entry, 8 bytes, 512 per frame. The granting guest writes
 * domid and frame first, then (after a write barrier) flags. The party
 * using the grant sets and clears TG_GTF_reading / TG_GTF_writing with
 * atomic compare-and-exchange on flags while it uses the frame; the
 * granting guest revokes by atomically changing flags to 0 only when
 * neither bit is set.
 */
struct tg_grant_entry_v1 {
	uint16_t flags;   /* TG_GTF_* */
	tg_domid_t domid; /* who may use this grant */
	uint32_t frame;   /* gfn of the shared frame */
};
TG_ABI_ASSERT_SIZE(struct tg_grant_entry_v1, 8);

#define TG_GTF_type_mask 0x0003
#define TG_GTF_invalid 0x0000       /* entry grants nothing */
#define TG_GTF_permit_access 0x0001 /* domid may map / copy frame */
#define TG_GTF_readonly 0x0004      /* ... for reading only */
#define TG_GTF_reading 0x0008       /* in use for reading (set by the user) */
#define TG_GTF_writing 0x0010       /* in use for writing (set by the user) */
/* Bits 5-15 must be 0 in v1; an entry with any of them set is refused. */

#define TG_GRANT_ENTRIES_PER_FRAME (TG_PAGE_SIZE / sizeof(struct tg_grant_entry_v1))
#define TG_GNTTAB_MAX_FRAMES 32 /* up to 16384 grant references */
#define TG_GNTTAB_OP_MAX 512

/* Sub-operations. Numbers are ABI: never renumber, only add. */
#define TG_GNTTABOP_setup_table 0    /* struct tg_gnttab_setup_table */
#define TG_GNTTABOP_query_size 1     /* struct tg_gnttab_query_size */
#define TG_GNTTABOP_map_grant_ref 2  /* struct tg_gnttab_map_grant_ref */
#define TG_GNTTABOP_unmap_grant_ref 3 /* struct tg_gnttab_unmap_grant_ref */
#define TG_GNTTABOP_copy 4           /* struct tg_gnttab_copy */

/*
 * setup_table: make frame_list[0..nr_frames) the domain's grant table.
 * May be repeated to grow the table: the first (current) frames of the
 * new list must be the current ones, in order. Status: 0; -EINVAL
 * (nr_frames 0, or > TG_GNTTAB_MAX_FRAMES, or shrinking / reordering);
 * -EPERM (a frame outside the domain's RAM); -EBUSY (a frame that is a
 * page table, shared info, or a ring page).
 * The frames take the type TG_PGT_VMM (memory.h).
 */
struct tg_gnttab_setup_table {
	uint32_t nr_frames; /* in */
	int32_t status;     /* out */
	uint64_t frame_list; /* in: guest VA of tg_gfn_t[nr_frames] */
};
TG_ABI_ASSERT_SIZE(struct tg_gnttab_setup_table, 16);

/* query_size: current and maximum table size in frames. Status 0. */
struct tg_gnttab_query_size {
	uint32_t nr_frames;     /* out */
	uint32_t max_nr_frames; /* out: TG_GNTTAB_MAX_FRAMES */
	int32_t status;         /* out */
	uint32_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_gnttab_query_size, 16);

/* Flags for map_grant_ref. */
#define TG_GNTMAP_readonly 0x1 /* map read-only (required for readonly grants) */

/*
 * map_grant_ref: map frame (dom, ref) at host_addr in the caller's current
 * kernel page table (the L1 covering host_addr must exist). The grant is
 * held (reading / writing set) until unmap.
 * Status: 0 and handle; -ESRCH (dom is not the caller in v1); -ENOENT (ref
 * beyond the table); -EACCES (entry not permit_access, wrong domid,
 * readonly grant mapped writable, or unknown flag bits in the entry);
 * -EPERM (frame outside the granting domain's RAM, or a page table);
 * -EINVAL (host_addr unaligned, reserved or without L1; unknown flags);
 * -EBUSY (the L1 entry for host_addr is already present);
 * -ENOSPC (no free handle, TG_GNTTAB_MAX_MAPS per domain).
 */
struct tg_gnttab_map_grant_ref {
	uint64_t host_addr;  /* in: page-aligned guest VA */
	uint32_t flags;      /* in: TG_GNTMAP_* */
	tg_grant_ref_t ref;  /* in */
	tg_domid_t dom;      /* in: granting domain (TG_DOMID_SELF) */
	int16_t status;      /* out */
	uint32_t handle;     /* out */
};
TG_ABI_ASSERT_SIZE(struct tg_gnttab_map_grant_ref, 24);

#define TG_GNTTAB_MAX_MAPS 4096

/*
 * unmap_grant_ref: remove a mapping made by map_grant_ref and release the
 * grant. The VMM flushes the TLBs that may hold the mapping.
 * Status: 0; -EINVAL (unknown handle, or host_addr does not match it).
 */
struct tg_gnttab_unmap_grant_ref {
	uint64_t host_addr; /* in: as given to map */
	uint32_t handle;    /* in */
	int16_t status;     /* out */
	uint16_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_gnttab_unmap_grant_ref, 16);

/*
 * copy: copy len bytes between two places, each either a frame of the
 * caller (a gfn) or a granted frame (dom, ref). The bytes may not cross
 * the end of either page. Status: 0; the map_grant_ref codes for the
 * granted side (-ENOENT, -EACCES, -EPERM, -ESRCH); -EINVAL (offset + len >
 * 4096, unknown flags); -EPERM (a gfn outside the caller's RAM).
 */
struct tg_gnttab_copy_ptr {
	union {
		tg_grant_ref_t ref; /* if the TG_GNTCOPY_*_gref flag is set */
		uint32_t gfn;       /* otherwise: the caller's own frame */
	} u;
	tg_domid_t domid; /* granting domain if by ref; else TG_DOMID_SELF */
	uint16_t offset;  /* byte offset in the page */
};
TG_ABI_ASSERT_SIZE(struct tg_gnttab_copy_ptr, 8);

#define TG_GNTCOPY_source_gref 0x1
#define TG_GNTCOPY_dest_gref 0x2

struct tg_gnttab_copy {
	struct tg_gnttab_copy_ptr source;
	struct tg_gnttab_copy_ptr dest;
	uint16_t len;    /* 1..4096 */
	uint16_t flags;  /* TG_GNTCOPY_* */
	int16_t status;  /* out */
	uint16_t _pad0;
};
TG_ABI_ASSERT_SIZE(struct tg_gnttab_copy, 24);

#endif /* TORTUGA_GRANT_TABLE_H */
