/*
 * The grant table of the test guest (ABI.md 12) and its suite: the table
 * is set up and grown with setup_table, entries are written with the
 * protocol of 12.2 (domid and frame, barrier, flags) and revoked with
 * compare-and-exchange, and the guest's own map/unmap/copy calls check
 * that the VMM enforces what backends rely on: granted frames only, the
 * granted access only, only while granted, a mapped grant cannot be
 * revoked.
 */
#include "guest.h"

#define GNT_FRAMES 4
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

static uint8_t table[GNT_FRAMES][4096] __attribute__((aligned(4096)));
static bool table_ready;
static const struct tg_start_info *si;

uint64_t gfn_of(const void *p)
{
	return ((uint64_t)p - si->virt_base) >> 12;
}

struct tg_grant_entry_v1 *gnt_entry(uint32_t ref)
{
	return (struct tg_grant_entry_v1 *)table + ref;
}

void gnt_grant(uint32_t ref, uint64_t gfn, bool readonly)
{
	struct tg_grant_entry_v1 *e = gnt_entry(ref);
	WRITE_ONCE(e->domid, TG_DOMID_VMM);
	WRITE_ONCE(e->frame, (uint32_t)gfn);
	__atomic_store_n(&e->flags, (uint16_t)(TG_GTF_permit_access | (readonly ? TG_GTF_readonly : 0)),
			 __ATOMIC_RELEASE);
}

/* 12.2 step 3: only if nobody uses it. */
bool gnt_revoke(uint32_t ref)
{
	struct tg_grant_entry_v1 *e = gnt_entry(ref);
	uint16_t flags = __atomic_load_n(&e->flags, __ATOMIC_ACQUIRE);
	if (flags & (TG_GTF_reading | TG_GTF_writing))
		return false;
	return __atomic_compare_exchange_n(&e->flags, &flags, 0, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static long gnttab_op(unsigned cmd, void *args, unsigned count)
{
	return hypercall3(TG_HC_grant_table_op, cmd, args, count);
}

static int setup_table(const uint64_t *gfns, uint32_t n)
{
	struct tg_gnttab_setup_table s = {.nr_frames = n, .status = 1, .frame_list = (uint64_t)gfns};
	long rc = gnttab_op(TG_GNTTABOP_setup_table, &s, 1);
	return rc != 0 ? (int)rc : s.status;
}

static uint32_t table_frames(void)
{
	struct tg_gnttab_query_size q = {0};
	if (gnttab_op(TG_GNTTABOP_query_size, &q, 1) != 0 || q.status != 0)
		return ~0U;
	return q.nr_frames;
}

/* The table with all its frames: 2048 references. */
bool gnt_init(const struct tg_start_info *start_info)
{
	si = start_info;
	if (table_ready)
		return true;
	uint64_t gfns[GNT_FRAMES];
	for (unsigned i = 0; i < GNT_FRAMES; i++)
		gfns[i] = gfn_of(table[i]);
	table_ready = setup_table(gfns, GNT_FRAMES) == 0;
	return table_ready;
}

static long copy_one(struct tg_gnttab_copy *c)
{
	c->status = 1;
	long rc = gnttab_op(TG_GNTTABOP_copy, c, 1);
	return rc != 0 ? rc : c->status;
}

static uint8_t page_a[4096] __attribute__((aligned(4096)));
static uint8_t page_b[4096] __attribute__((aligned(4096)));
static uint8_t map_window[4096] __attribute__((aligned(4096)));

#define REF_A 1000
#define REF_B 1001

static void check_setup(void)
{
	uint64_t pt_gfn = (si->pt_base - si->virt_base) >> 12;
	uint64_t gfns[GNT_FRAMES + 1];
	for (unsigned i = 0; i < GNT_FRAMES; i++)
		gfns[i] = gfn_of(table[i]);
	check(table_frames() == 0, "grant table: none at boot (query_size 0 frames)");
	check_rc(setup_table(gfns, 0), -TG_EINVAL, "setup_table of 0 frames is refused");
	check_rc(setup_table(gfns, TG_GNTTAB_MAX_FRAMES + 1), -TG_EINVAL, "setup_table of 33 frames is refused");
	uint64_t outside[1] = {si->nr_pages + 5};
	check_rc(setup_table(outside, 1), -TG_EPERM, "setup_table of a frame outside RAM is refused");
	uint64_t pt[1] = {pt_gfn};
	check_rc(setup_table(pt, 1), -TG_EBUSY, "setup_table of a page-table frame is refused (busy)");
	check_rc(setup_table(gfns, 2), 0, "setup_table of 2 frames");
	check(table_frames() == 2, "query_size reports 2 frames");
	uint64_t swapped[2] = {gfns[1], gfns[0]};
	check_rc(setup_table(swapped, 2), -TG_EINVAL, "setup_table that reorders the frames is refused");
	check_rc(setup_table(gfns, 1), -TG_EINVAL, "setup_table that shrinks the table is refused");
	check_rc(setup_table(gfns, GNT_FRAMES), 0, "setup_table grows the table to 4 frames");
	table_ready = table_frames() == GNT_FRAMES;
	check(table_ready, "query_size reports 4 frames");
	gfns[GNT_FRAMES] = pt_gfn;
	check_rc(setup_table(gfns, GNT_FRAMES + 1), -TG_EBUSY, "growing onto a page-table frame is refused");
	check(table_frames() == GNT_FRAMES, "... and the table is unchanged");
}

static void check_copy(void)
{
	uint64_t pt_gfn = (si->pt_base - si->virt_base) >> 12;
	for (unsigned i = 0; i < 4096; i++) {
		page_a[i] = 0;
		page_b[i] = (uint8_t)(i * 7 + 1);
	}
	gnt_grant(REF_A, gfn_of(page_a), false);
	struct tg_gnttab_copy c = {.source = {.u.gfn = (uint32_t)gfn_of(page_b), .domid = TG_DOMID_SELF, .offset = 16},
				   .dest = {.u.ref = REF_A, .domid = TG_DOMID_SELF, .offset = 100},
				   .len = 1000,
				   .flags = TG_GNTCOPY_dest_gref};
	check_rc(copy_one(&c), 0, "grant copy from our frame into a writable grant");
	bool same = page_a[99] == 0 && page_a[1100] == 0;
	for (unsigned i = 0; i < 1000; i++)
		same = same && page_a[100 + i] == page_b[16 + i];
	check(same, "... the bytes arrived, at the offsets given, and no others");
	check(gnt_entry(REF_A)->flags == TG_GTF_permit_access, "... and the entry is no longer in use");
	gnt_grant(REF_A, gfn_of(page_a), true);
	check_rc(copy_one(&c), -TG_EACCES, "grant copy into a read-only grant is refused");
	c.flags = TG_GNTCOPY_source_gref;
	c.source.u.ref = REF_A;
	c.dest.u.gfn = (uint32_t)gfn_of(page_b);
	check_rc(copy_one(&c), 0, "grant copy out of a read-only grant works");
	c.dest.u.gfn = (uint32_t)pt_gfn;
	check_rc(copy_one(&c), -TG_EPERM, "grant copy onto a page-table frame is refused");
	c.dest.u.gfn = (uint32_t)gfn_of(page_b);
	c.len = 0;
	check_rc(copy_one(&c), -TG_EINVAL, "grant copy of 0 bytes is refused");
	c.len = 4096;
	check_rc(copy_one(&c), -TG_EINVAL, "grant copy past the end of a page is refused");
	c.len = 8;
	c.flags = 0x80;
	check_rc(copy_one(&c), -TG_EINVAL, "grant copy with unknown flags is refused");
	c.flags = TG_GNTCOPY_source_gref;
	c.source.domid = 7;
	check_rc(copy_one(&c), -TG_ESRCH, "grant copy from another domain's grant is refused");
	c.source.domid = TG_DOMID_SELF;
	c.source.u.ref = GNT_FRAMES * 512;
	check_rc(copy_one(&c), -TG_ENOENT, "grant copy with a reference beyond the table is refused");
	c.source.u.ref = REF_B;
	gnt_entry(REF_B)->flags = 0;
	check_rc(copy_one(&c), -TG_EACCES, "grant copy of an entry that grants nothing is refused");
	gnt_grant(REF_B, gfn_of(page_a), false);
	gnt_entry(REF_B)->domid = 9;
	check_rc(copy_one(&c), -TG_EACCES, "grant copy of an entry for another domid is refused");
	gnt_grant(REF_B, gfn_of(page_a), false);
	gnt_entry(REF_B)->flags |= 0x20;
	check_rc(copy_one(&c), -TG_EACCES, "grant copy of an entry with unknown flag bits is refused");
	gnt_grant(REF_B, pt_gfn, false);
	check_rc(copy_one(&c), -TG_EPERM, "a grant of a page-table frame is refused");
	gnt_grant(REF_B, gfn_of(table[0]), false);
	check_rc(copy_one(&c), -TG_EPERM, "a grant of a grant-table frame is refused");
	gnt_grant(REF_B, si->nr_pages + 3, false);
	check_rc(copy_one(&c), -TG_EPERM, "a grant of a frame outside RAM is refused");
	check(gnt_revoke(REF_A) && gnt_revoke(REF_B), "unused grants revoke");
}

static void check_map(void)
{
	uint64_t va = (uint64_t)map_window;
	uint64_t own = (va - si->virt_base) | TG_PTE_P | TG_PTE_RW;
	check(hypercall3(TG_HC_update_va_mapping, va, 0, TG_UVMF_INVLPG) == 0, "the map window is unmapped");
	for (unsigned i = 0; i < 4096; i++)
		page_a[i] = 0x5a;
	gnt_grant(REF_A, gfn_of(page_a), false);
	struct tg_gnttab_map_grant_ref m = {.host_addr = va, .ref = REF_A, .dom = TG_DOMID_SELF, .status = 1};
	check(gnttab_op(TG_GNTTABOP_map_grant_ref, &m, 1) == 0 && m.status == 0, "map_grant_ref of a writable grant");
	volatile uint8_t *w = map_window;
	w[10] = 0xa7;
	check(((volatile uint8_t *)page_a)[10] == 0xa7 && w[11] == 0x5a, "the mapping reaches the granted frame, writable");
	check(gnt_entry(REF_A)->flags == (TG_GTF_permit_access | TG_GTF_writing), "a mapped grant is marked writing");
	check(!gnt_revoke(REF_A), "a mapped grant cannot be revoked (busy)");
	struct tg_gnttab_map_grant_ref again = {.host_addr = va, .ref = REF_A, .dom = TG_DOMID_SELF, .status = 1};
	check(gnttab_op(TG_GNTTABOP_map_grant_ref, &again, 1) == 0 && again.status == -TG_EBUSY,
	      "map_grant_ref over a present entry is refused (busy)");
	struct tg_gnttab_unmap_grant_ref u = {.host_addr = va + 4096, .handle = m.handle, .status = 1};
	check(gnttab_op(TG_GNTTABOP_unmap_grant_ref, &u, 1) == 0 && u.status == -TG_EINVAL,
	      "unmap_grant_ref at another address is refused");
	u.host_addr = va;
	check(gnttab_op(TG_GNTTABOP_unmap_grant_ref, &u, 1) == 0 && u.status == 0, "unmap_grant_ref");
	check(gnt_entry(REF_A)->flags == TG_GTF_permit_access && gnt_revoke(REF_A), "after unmap the grant revokes");
	gnt_grant(REF_A, gfn_of(page_a), true);
	m.status = 1;
	check(gnttab_op(TG_GNTTABOP_map_grant_ref, &m, 1) == 0 && m.status == -TG_EACCES,
	      "map_grant_ref of a read-only grant as writable is refused");
	m.flags = TG_GNTMAP_readonly;
	check(gnttab_op(TG_GNTTABOP_map_grant_ref, &m, 1) == 0 && m.status == 0 && w[10] == 0xa7,
	      "map_grant_ref of a read-only grant, read-only");
	check(gnt_entry(REF_A)->flags == (TG_GTF_permit_access | TG_GTF_readonly | TG_GTF_reading) && !gnt_revoke(REF_A),
	      "... marked reading, and busy");
	u.handle = m.handle;
	check(gnttab_op(TG_GNTTABOP_unmap_grant_ref, &u, 1) == 0 && u.status == 0 && gnt_revoke(REF_A),
	      "unmapped and revoked");
	m.dom = 3;
	check(gnttab_op(TG_GNTTABOP_map_grant_ref, &m, 1) == 0 && m.status == -TG_ESRCH,
	      "map_grant_ref of another domain's grant is refused");
	m.dom = TG_DOMID_SELF;
	m.host_addr = va + 1;
	check(gnttab_op(TG_GNTTABOP_map_grant_ref, &m, 1) == 0 && m.status == -TG_EINVAL,
	      "map_grant_ref at an unaligned address is refused");
	check(gnttab_op(99, &m, 1) == -TG_ENOSYS, "an unknown grant_table_op is refused");
	check(gnttab_op(TG_GNTTABOP_copy, &m, TG_GNTTAB_OP_MAX + 1) == -TG_E2BIG, "more than 512 operations is refused");
	check(hypercall3(TG_HC_update_va_mapping, va, own, TG_UVMF_INVLPG) == 0, "the map window is ours again");
}

void grants_selftest(const struct tg_start_info *start_info)
{
	si = start_info;
	struct tg_feature_info f = {.submap_idx = 0};
	check(hypercall2(TG_HC_version, TG_VERSION_features, &f) == 0 && (f.submap & TG_FEAT_GRANT_TABLE),
	      "features word 0 offers the grant table");
	check_setup();
	if (!table_ready)
		return;
	check_copy();
	check_map();
}

/* counter=1: the VMM writes page_a through a grant with the tick in it. */
bool gnt_counter_tick(uint64_t n)
{
	for (unsigned i = 0; i < 256; i++)
		page_b[i] = (uint8_t)(n * 31 + i);
	gnt_grant(REF_A, gfn_of(page_a), false);
	struct tg_gnttab_copy c = {.source = {.u.gfn = (uint32_t)gfn_of(page_b), .domid = TG_DOMID_SELF, .offset = 0},
				   .dest = {.u.ref = REF_A, .domid = TG_DOMID_SELF, .offset = 0},
				   .len = 256,
				   .flags = TG_GNTCOPY_dest_gref};
	bool ok = copy_one(&c) == 0;
	for (unsigned i = 0; i < 256; i++)
		ok = ok && page_a[i] == (uint8_t)(n * 31 + i);
	return gnt_revoke(REF_A) && ok;
}
