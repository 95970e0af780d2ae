/*
 * The memory suite of the test guest: the PV MMU (ABI.md 8), multicall (14)
 * and memory reservation (13).
 *
 * It extends the kernel's direct map over all of RAM, runs a small frame
 * allocator over the free frames, builds and pins user page tables and runs
 * a user program on them, demand-faults 4 MiB one page at a time and in one
 * batch, forks an address space with copy-on-write, checks that every
 * invalid update is refused with the error ABI.md gives for it (and that
 * the guest carries on), and gives frames back to the host and takes them
 * again. bench=map-unbatched, map-batched, mmu-entries and mmu-single
 * measure the same paths.
 *
 * Frames are named by gfn throughout; a frame's direct-map VA (its alias)
 * is virt_base + gpa. Page-table frames are read through their aliases,
 * which stay mapped read-only while the frames are typed.
 */
#include "guest.h"

#define PAGE_SIZE TG_PAGE_SIZE
#define PAGE_SHIFT TG_PAGE_SHIFT
#define WORDS_PER_PAGE (PAGE_SIZE / 8)

#define PTE_TABLE (TG_PTE_P | TG_PTE_RW | TG_PTE_US)
#define PTE_KERNEL_RW (TG_PTE_P | TG_PTE_RW | TG_PTE_NX)
#define PTE_KERNEL_RO (TG_PTE_P | TG_PTE_NX)
#define PTE_USER_RW (TG_PTE_P | TG_PTE_RW | TG_PTE_US | TG_PTE_NX)
#define PTE_USER_RO (TG_PTE_P | TG_PTE_US | TG_PTE_NX)
#define PTE_USER_CODE (TG_PTE_P | TG_PTE_US)

/*
 * A kernel VA range of the suite's own, in L4 slot 402 (Linux's vmalloc
 * area): one L3, one L2 and two L1s covering SCRATCH_PAGES pages, for the
 * demand faults, the invalid updates and the benchmarks. Slot 403 stays
 * empty (wrong-level probes), and so does slot 404 (no L1 at all).
 */
#define SCRATCH_VA 0xffffc90000000000ULL
#define SCRATCH_PAGES 1024
#define EMPTY_SLOT_VA 0xffffc98000000000ULL
#define NO_L3_VA 0xffffca0000000000ULL

/* RAM the suite needs: the scratch area alone takes 4 MiB. */
#define MIN_PAGES 2048
/* Frames the allocator can hand out: the first 1 GiB of RAM at most. */
#define MAX_FRAMES (1ULL << 18)
/* Direct-map extension rounds: at most this many new L1s each. */
#define EXTEND_L1S_PER_ROUND 64

#define NO_ENTRY (~0ULL)
#define DEMAND_PATTERN(i) (0xde3a0d0000000000ULL | (uint64_t)(i))

extern struct tg_shared_info *shared_info;

static const struct tg_start_info *si;
static uint64_t virt_base, nr_pages, kernel_l4;
static bool mm_ready;

/* Hypercalls this file made, by kind. */
static struct {
	uint64_t mmu_update, mmuext_op, update_va_mapping, multicall, memory_op;
} calls;

/* ---- printing ---------------------------------------------------------- */

static void note(const char *what, uint64_t v)
{
	put_str("# ");
	put_str(what);
	put_dec(v);
	put_str("\n");
}

/* ---- frames, tables and entries --------------------------------------- */

static inline uint64_t *gfn_va(uint64_t gfn)
{
	return (uint64_t *)(virt_base + (gfn << PAGE_SHIFT));
}

static inline uint64_t va_gfn(uint64_t va)
{
	return (va - virt_base) >> PAGE_SHIFT;
}

static inline unsigned pt_index(uint64_t va, unsigned level)
{
	return (unsigned)(va >> (PAGE_SHIFT + 9 * (level - 1))) & (TG_PT_ENTRIES - 1);
}

static inline uint64_t entry_gpa(uint64_t table, unsigned index)
{
	return (table << PAGE_SHIFT) + 8 * (uint64_t)index;
}

static inline uint64_t pte_read(uint64_t gpa)
{
	return *(volatile uint64_t *)(virt_base + gpa);
}

static inline uint64_t pte_gfn(uint64_t entry)
{
	return (entry & TG_PTE_FRAME) >> PAGE_SHIFT;
}

/*
 * The gpa of the level-`level` entry for va in the tree under the L4 l4,
 * or NO_ENTRY when a table above that level is missing.
 */
static uint64_t entry_for(uint64_t l4, uint64_t va, unsigned level)
{
	uint64_t table = l4;
	for (unsigned l = 4; l > level; l--) {
		uint64_t e = pte_read(entry_gpa(table, pt_index(va, l)));
		if (!(e & TG_PTE_P))
			return NO_ENTRY;
		table = pte_gfn(e);
	}
	return entry_gpa(table, pt_index(va, level));
}

static void zero_frame(uint64_t gfn)
{
	volatile uint64_t *p = gfn_va(gfn);
	for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
		p[w] = 0;
}

static void copy_frame(uint64_t dst, uint64_t src)
{
	volatile uint64_t *d = gfn_va(dst);
	const volatile uint64_t *s = gfn_va(src);
	for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
		d[w] = s[w];
}

/* ---- the frame allocator ----------------------------------------------- */

static uint64_t frame_used[MAX_FRAMES / 64];
static uint64_t alloc_first, alloc_limit, alloc_next, frames_in_use;

static bool frame_is_used(uint64_t gfn)
{
	return (frame_used[gfn / 64] >> (gfn % 64)) & 1;
}

static void frame_mark(uint64_t gfn, bool used)
{
	if (used)
		frame_used[gfn / 64] |= 1ULL << (gfn % 64);
	else
		frame_used[gfn / 64] &= ~(1ULL << (gfn % 64));
}

/* Free RAM from first_free_gpa; only [.., alloc_limit) is mapped so far. */
static void alloc_init(void)
{
	for (uint64_t i = 0; i < MAX_FRAMES / 64; i++)
		frame_used[i] = ~0ULL;
	alloc_first = si->first_free_gpa >> PAGE_SHIFT;
	for (uint32_t m = 0; m < si->nr_memmap && m < TG_MAX_MEMMAP_ENTRIES; m++) {
		const struct tg_memmap_entry *e = &si->memmap[m];
		if (e->type != TG_MEMMAP_RAM)
			continue;
		uint64_t first = (e->gpa + PAGE_SIZE - 1) >> PAGE_SHIFT;
		uint64_t end = (e->gpa + e->size) >> PAGE_SHIFT;
		for (uint64_t g = first < alloc_first ? alloc_first : first; g < end && g < MAX_FRAMES && g < nr_pages; g++)
			frame_mark(g, false);
	}
	alloc_limit = si->boot_map_end >> PAGE_SHIFT;
	if (alloc_limit > MAX_FRAMES)
		alloc_limit = MAX_FRAMES;
	alloc_next = alloc_first;
	frames_in_use = 0;
}

/* A free frame, mapped writable in the direct map; 0 when there is none. */
static uint64_t frame_alloc(void)
{
	for (int pass = 0; pass < 2; pass++) {
		uint64_t from = pass == 0 ? alloc_next : alloc_first;
		uint64_t to = pass == 0 ? alloc_limit : alloc_next;
		for (uint64_t g = from; g < to; g++) {
			if (!frame_is_used(g)) {
				frame_mark(g, true);
				alloc_next = g + 1;
				frames_in_use++;
				return g;
			}
		}
	}
	return 0;
}

static uint64_t frame_alloc_zeroed(void)
{
	uint64_t g = frame_alloc();
	if (g)
		zero_frame(g);
	return g;
}

/* Gives back a frame; its alias must be writable again. */
static void frame_free(uint64_t gfn)
{
	if (gfn == 0 || !frame_is_used(gfn))
		return;
	frame_mark(gfn, false);
	frames_in_use--;
}

/* ---- hypercalls ------------------------------------------------------------ */

static long mmu_update(struct tg_mmu_update *reqs, uint64_t count, uint32_t *done)
{
	calls.mmu_update++;
	return hypercall3(TG_HC_mmu_update, reqs, count, done);
}

static long mmu_set(uint64_t ptr, uint64_t val)
{
	struct tg_mmu_update r;
	r.ptr = ptr;
	r.val = val;
	return mmu_update(&r, 1, NULL);
}

static long mmuext(struct tg_mmuext_op *ops, uint64_t count, uint32_t *done)
{
	calls.mmuext_op++;
	return hypercall3(TG_HC_mmuext_op, ops, count, done);
}

static void mmuext_fill(struct tg_mmuext_op *op, uint32_t cmd, uint64_t arg1, uint64_t arg2)
{
	op->cmd = cmd;
	op->_pad0 = 0;
	op->arg1 = arg1;
	op->arg2 = arg2;
}

static long mmuext1(uint32_t cmd, uint64_t arg1, uint64_t arg2)
{
	struct tg_mmuext_op op;
	mmuext_fill(&op, cmd, arg1, arg2);
	return mmuext(&op, 1, NULL);
}

static long uvm(uint64_t va, uint64_t pte, uint64_t flags)
{
	calls.update_va_mapping++;
	return hypercall3(TG_HC_update_va_mapping, va, pte, flags);
}

static long memory_op(unsigned cmd, void *arg)
{
	calls.memory_op++;
	return hypercall2(TG_HC_memory_op, cmd, arg);
}

/*
 * One batch of mmu_update requests, shared by whoever builds one; it has
 * room for one request more than a call may carry, for the -E2BIG check,
 * and is large enough to stand in for the biggest mmuext and multicall
 * arrays too.
 */
static struct tg_mmu_update reqs[TG_MMU_UPDATE_MAX + 1];
_Static_assert(sizeof(reqs) >= (TG_MMUEXT_OP_MAX + 1) * sizeof(struct tg_mmuext_op), "mmuext E2BIG probe");
_Static_assert(sizeof(reqs) >= (TG_MULTICALL_MAX + 1) * sizeof(struct tg_multicall_entry), "multicall E2BIG probe");

static void req_set(unsigned i, uint64_t ptr, uint64_t val)
{
	reqs[i].ptr = ptr;
	reqs[i].val = val;
}

/* ---- multicalls ------------------------------------------------------------ */

#define MC_MAX 160
static struct tg_multicall_entry mc[MC_MAX];
static unsigned mc_n;

static void mc_begin(void)
{
	mc_n = 0;
}

static void mc_add(uint64_t op, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct tg_multicall_entry *e = &mc[mc_n++];
	e->op = op;
	e->result = 0x7e57; /* not a value any call returns here */
	e->args[0] = a0;
	e->args[1] = a1;
	e->args[2] = a2;
	e->args[3] = 0;
	e->args[4] = 0;
	e->args[5] = 0;
}

/* Runs the batch: the multicall's error, else the first failing entry's, else 0. */
static long mc_finish(void)
{
	calls.multicall++;
	long rc = hypercall2(TG_HC_multicall, mc, mc_n);
	if (rc != 0)
		return rc;
	for (unsigned i = 0; i < mc_n; i++)
		if (mc[i].result < 0 || mc[i].result == 0x7e57)
			return mc[i].result == 0x7e57 ? -9999 : mc[i].result;
	return 0;
}

static uint64_t alias_pte(uint64_t gfn, bool writable)
{
	return (gfn << PAGE_SHIFT) | (writable ? PTE_KERNEL_RW : PTE_KERNEL_RO);
}

static void mc_alias(uint64_t gfn, bool writable)
{
	mc_add(TG_HC_update_va_mapping, (uint64_t)gfn_va(gfn), alias_pte(gfn, writable), TG_UVMF_INVLPG | TG_UVMF_LOCAL);
}

/* Makes the direct-map aliases of n frames read-only or writable, in one multicall. */
static long set_aliases(const uint64_t *gfns, unsigned n, bool writable)
{
	mc_begin();
	for (unsigned i = 0; i < n && i < MC_MAX; i++)
		mc_alias(gfns[i], writable);
	return mc_finish();
}

static long set_alias(uint64_t gfn, bool writable)
{
	return uvm((uint64_t)gfn_va(gfn), alias_pte(gfn, writable), TG_UVMF_INVLPG | TG_UVMF_LOCAL);
}

/* ---- 1. the direct map over all of RAM ---------------------------------- */

/*
 * Makes sure the kernel tables have an L1 for every page of [va_first,
 * va_last]: new tables are zeroed while writable, their aliases made
 * read-only, and they are linked top-down, one mmu_update per level.
 */
static bool ensure_kernel_tables(uint64_t va_first, uint64_t va_last, unsigned *nr_new)
{
	static uint64_t fresh[EXTEND_L1S_PER_ROUND + 2];
	for (unsigned level = 3; level >= 1; level--) {
		uint64_t span = 1ULL << (PAGE_SHIFT + 9 * level);
		unsigned n = 0;
		for (uint64_t va = va_first & ~(span - 1);; va += span) {
			uint64_t parent = entry_for(kernel_l4, va, level + 1);
			if (parent == NO_ENTRY)
				return false;
			if (!(pte_read(parent) & TG_PTE_P)) {
				uint64_t t = n < EXTEND_L1S_PER_ROUND + 2 ? frame_alloc_zeroed() : 0;
				if (!t)
					return false;
				fresh[n] = t;
				req_set(n, parent | TG_MMU_NORMAL_PT_UPDATE, (t << PAGE_SHIFT) | PTE_TABLE);
				n++;
			}
			if (va_last - va < span)
				break;
		}
		if (n == 0)
			continue;
		uint32_t done = 0;
		if (set_aliases(fresh, n, false) != 0 || mmu_update(reqs, n, &done) != 0 || done != n)
			return false;
		*nr_new += n;
	}
	return true;
}

static bool extend_direct_map(void)
{
	uint64_t mapped = si->boot_map_end >> PAGE_SHIFT;
	uint64_t first = mapped;
	uint64_t entries = 0, batches = 0;
	unsigned tables = 0;
	bool ok = true, done_right = true;

	while (ok && mapped < nr_pages) {
		uint64_t end = mapped + EXTEND_L1S_PER_ROUND * TG_PT_ENTRIES;
		if (end > nr_pages)
			end = nr_pages;
		ok = ensure_kernel_tables(virt_base + (mapped << PAGE_SHIFT), virt_base + (end << PAGE_SHIFT) - 1, &tables);
		unsigned n = 0;
		for (uint64_t g = mapped; ok && g < end; g++) {
			uint64_t e = entry_for(kernel_l4, virt_base + (g << PAGE_SHIFT), 1);
			if (e == NO_ENTRY) {
				ok = false;
				break;
			}
			req_set(n++, e | TG_MMU_NORMAL_PT_UPDATE, (g << PAGE_SHIFT) | PTE_KERNEL_RW);
			if (n == TG_MMU_UPDATE_MAX || g + 1 == end) {
				uint32_t done = 0;
				long rc = mmu_update(reqs, n, &done);
				batches++;
				entries += done;
				done_right = done_right && done == n;
				ok = rc == 0 && done == n;
				if (rc != 0) {
					put_str("#   mmu_update of the direct map returned ");
					put_sdec(rc);
					put_str("\n");
				}
				n = 0;
			}
		}
		mapped = end;
		alloc_limit = mapped < MAX_FRAMES ? mapped : MAX_FRAMES;
	}
	note("direct map: new L1/L2/L3 tables ", tables);
	note("direct map: entries written ", entries);
	note("direct map: mmu_update batches ", batches);
	check(ok && entries == nr_pages - first, "the kernel's direct map is extended over all of RAM with batched mmu_update");
	check(done_right, "each direct-map batch reports every request done");
	if (!ok)
		return false;

	/*
	 * Every frame is reachable now: write and read back a word of each new
	 * one, except those that became tables of the direct map itself.
	 */
	for (uint64_t g = first; g < nr_pages; g++)
		if (g >= MAX_FRAMES || !frame_is_used(g))
			*(volatile uint64_t *)gfn_va(g) = g ^ 0x5ca1ab1eULL;
	bool same = true;
	for (uint64_t g = first; g < nr_pages; g++)
		same &= (g < MAX_FRAMES && frame_is_used(g)) || *(volatile uint64_t *)gfn_va(g) == (g ^ 0x5ca1ab1eULL);
	check(same, "every frame of RAM is reachable at virt_base + gpa");

	uint64_t e = pte_read(entry_for(kernel_l4, virt_base + ((nr_pages - 1) << PAGE_SHIFT), 1));
	check((e & TG_PTE_US) && !(e & TG_PTE_G) && pte_gfn(e) == nr_pages - 1 && (e & TG_PTE_RW),
	      "a stored entry reads back with its frame, US set and G clear");
	return true;
}

/* ---- the scratch area ------------------------------------------------------- */

static uint64_t scratch_l3, scratch_l2, scratch_l1[2];
static uint64_t demand_frame[SCRATCH_PAGES];

static uint64_t scratch_entry(unsigned page)
{
	return entry_gpa(scratch_l1[page / TG_PT_ENTRIES], page % TG_PT_ENTRIES);
}

static uint64_t scratch_va(unsigned page)
{
	return SCRATCH_VA + (uint64_t)page * PAGE_SIZE;
}

static uint64_t demand_pte(unsigned page)
{
	return (demand_frame[page] << PAGE_SHIFT) | PTE_KERNEL_RW;
}

/*
 * The scratch tables are prepared in ordinary memory (writable, entries
 * written directly), made read-only, and linked into the kernel L4 by one
 * mmu_update, whose validation types the L3, the L2 and both L1s.
 */
static bool setup_scratch(void)
{
	uint64_t l4e = entry_gpa(kernel_l4, pt_index(SCRATCH_VA, 4));
	if ((pte_read(l4e) | pte_read(entry_gpa(kernel_l4, pt_index(EMPTY_SLOT_VA, 4))) |
	     pte_read(entry_gpa(kernel_l4, pt_index(NO_L3_VA, 4)))) != 0) {
		check(false, "the scratch L4 slots are free");
		return false;
	}
	scratch_l3 = frame_alloc_zeroed();
	scratch_l2 = frame_alloc_zeroed();
	scratch_l1[0] = frame_alloc_zeroed();
	scratch_l1[1] = frame_alloc_zeroed();
	for (unsigned i = 0; i < SCRATCH_PAGES; i++)
		demand_frame[i] = frame_alloc();
	if (!scratch_l3 || !scratch_l2 || !scratch_l1[0] || !scratch_l1[1] || !demand_frame[SCRATCH_PAGES - 1]) {
		check(false, "frames for the scratch area");
		return false;
	}
	gfn_va(scratch_l3)[0] = (scratch_l2 << PAGE_SHIFT) | PTE_TABLE;
	gfn_va(scratch_l2)[0] = (scratch_l1[0] << PAGE_SHIFT) | PTE_TABLE;
	gfn_va(scratch_l2)[1] = (scratch_l1[1] << PAGE_SHIFT) | PTE_TABLE;
	for (unsigned i = 0; i < SCRATCH_PAGES; i++) {
		gfn_va(demand_frame[i])[0] = DEMAND_PATTERN(i);
		gfn_va(demand_frame[i])[WORDS_PER_PAGE - 1] = ~DEMAND_PATTERN(i);
	}
	uint64_t tables[4] = {scratch_l3, scratch_l2, scratch_l1[0], scratch_l1[1]};
	long rc = set_aliases(tables, 4, false);
	if (rc == 0)
		rc = mmu_set(l4e, (scratch_l3 << PAGE_SHIFT) | PTE_TABLE);
	return check_rc(rc, 0, "an L3, L2 and two L1s prepared in ordinary memory are linked into the kernel L4 by one mmu_update");
}

/* Maps all scratch pages to the demand frames with one mmu_update. */
static long map_scratch_batched(void)
{
	static struct tg_mmu_update map[SCRATCH_PAGES];
	for (unsigned i = 0; i < SCRATCH_PAGES; i++) {
		map[i].ptr = scratch_entry(i) | TG_MMU_NORMAL_PT_UPDATE;
		map[i].val = demand_pte(i);
	}
	uint32_t done = 0;
	long rc = mmu_update(map, SCRATCH_PAGES, &done);
	return rc != 0 ? rc : done == SCRATCH_PAGES ? 0 : -9999;
}

/* Unmaps every scratch page and flushes the TLB: one multicall. */
static long unmap_scratch(void)
{
	static struct tg_mmu_update unmap[SCRATCH_PAGES];
	static struct tg_mmuext_op flush;
	static uint32_t done;
	for (unsigned i = 0; i < SCRATCH_PAGES; i++) {
		unmap[i].ptr = scratch_entry(i) | TG_MMU_NORMAL_PT_UPDATE;
		unmap[i].val = 0;
	}
	mmuext_fill(&flush, TG_MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
	done = 0;
	mc_begin();
	mc_add(TG_HC_mmu_update, (uint64_t)unmap, SCRATCH_PAGES, (uint64_t)&done);
	mc_add(TG_HC_mmuext_op, (uint64_t)&flush, 1, 0);
	long rc = mc_finish();
	return rc != 0 ? rc : done == SCRATCH_PAGES ? 0 : -9999;
}

/* A load a fault handler may skip by resuming at r12 (it then reads ~0). */
static inline uint64_t touch_read(uint64_t va)
{
	uint64_t v = ~0ULL;
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tmovq (%1), %0\n1:" : "+r"(v) : "r"(va) : "r12", "memory");
	return v;
}

/* ---- the page-fault handler: demand paging and copy-on-write --------------- */

enum pf_mode { PF_OFF, PF_DEMAND_UNBATCHED, PF_DEMAND_BATCHED, PF_DEMAND_CARRIED, PF_COW };

struct uspace;
static bool cow_fault(uint64_t va);

static enum pf_mode pf_mode;
static unsigned pf_count;
static bool pf_failed;
static long pf_error;

/* The fault's entry rides with the iret that returns from it (ABI 2.11): no call of its own. */
static long map_scratch_carried(unsigned page)
{
	static struct tg_mmu_update req;
	static struct tg_multicall_entry entry;
	static struct tg_iret_batch batch;
	if (batch.count != 0)
		return -9998; /* the last return did not run it */
	req.ptr = scratch_entry(page) | TG_MMU_NORMAL_PT_UPDATE;
	req.val = demand_pte(page);
	entry.op = TG_HC_mmu_update;
	entry.result = 0x7e57;
	entry.args[0] = (uint64_t)&req;
	entry.args[1] = 1;
	batch.calls = (uint64_t)&entry;
	batch.count = 1;
	iret_flags = (uint64_t)&batch | TG_IRET_BATCH;
	return 0;
}

static bool mm_page_fault(struct trap_regs *r)
{
	uint64_t cr2 = shared_info->vcpu_info[0].cr2;
	bool user = (r->cs & 3) == 3;

	if ((pf_mode == PF_DEMAND_UNBATCHED || pf_mode == PF_DEMAND_BATCHED || pf_mode == PF_DEMAND_CARRIED) && !user &&
	    cr2 - SCRATCH_VA < (uint64_t)SCRATCH_PAGES * PAGE_SIZE && !(r->error_code & 1)) {
		long rc;
		if (++pf_count > 2 * SCRATCH_PAGES) {
			rc = -9999; /* the mapping never takes: give up */
		} else if (pf_mode == PF_DEMAND_UNBATCHED) {
			unsigned page = (unsigned)((cr2 - SCRATCH_VA) >> PAGE_SHIFT);
			rc = uvm(scratch_va(page), demand_pte(page), TG_UVMF_NONE);
		} else if (pf_mode == PF_DEMAND_CARRIED) {
			rc = map_scratch_carried((unsigned)((cr2 - SCRATCH_VA) >> PAGE_SHIFT));
		} else {
			rc = map_scratch_batched();
		}
		if (rc != 0) {
			pf_failed = true;
			pf_error = rc;
			r->rip = r->r12;
		}
		return true;
	}
	if (pf_mode == PF_COW && user && r->error_code == 0x7 &&
	    cr2 - MM_USER_DATA_VA < (uint64_t)MM_USER_NDATA * PAGE_SIZE) {
		if (++pf_count > 4 * MM_USER_NDATA || !cow_fault(cr2)) {
			pf_failed = true;
			r->rip = r->r12;
		}
		return true;
	}
	return false;
}

/* ---- 3. demand faults -------------------------------------------------------- */

/* Touches every scratch page with the fault handler in mode; true if each showed its frame. */
static bool demand_touch_all(enum pf_mode mode)
{
	bool same = true;
	pf_count = 0;
	pf_failed = false;
	pf_mode = mode;
	for (unsigned i = 0; i < SCRATCH_PAGES; i++)
		same &= touch_read(scratch_va(i)) == DEMAND_PATTERN(i);
	pf_mode = PF_OFF;
	return same;
}

static void check_demand_faults(void)
{
	/* (a) one update_va_mapping per fault */
	uint64_t uvm0 = calls.update_va_mapping, mmu0 = calls.mmu_update;
	bool same = demand_touch_all(PF_DEMAND_UNBATCHED);
	if (pf_failed) {
		put_str("#   the fault handler's update_va_mapping returned ");
		put_sdec(pf_error);
		put_str("\n");
	}
	check(same && !pf_failed, "demand paging: 1024 pages fault in one at a time and show their frames' contents");
	note("unbatched demand paging: page faults ", pf_count);
	check(pf_count == SCRATCH_PAGES && calls.update_va_mapping - uvm0 == SCRATCH_PAGES && calls.mmu_update == mmu0,
	      "unbatched demand paging: 1024 page faults, one update_va_mapping each");

	bool writes = !pf_failed;
	for (unsigned i = 0; writes && i < SCRATCH_PAGES; i++)
		*(volatile uint64_t *)(scratch_va(i) + 8) = i;
	for (unsigned i = 0; writes && i < SCRATCH_PAGES; i++)
		writes &= gfn_va(demand_frame[i])[1] == i &&
			  gfn_va(demand_frame[i])[WORDS_PER_PAGE - 1] == ~DEMAND_PATTERN(i);
	check(writes, "writes through the demand-faulted pages land in their frames");

	check_rc(unmap_scratch(), 0, "1024 pages unmapped by one mmu_update of 1024 requests and a flush, in one multicall");
	unsigned seen = expected_faults_seen();
	expect_fault(14, scratch_va(7), 0x0);
	touch_read(scratch_va(7));
	check(expected_faults_seen() == seen + 1, "after the unmap and the flush a touch faults again");

	/* (b) the first fault maps all 1024 pages with one mmu_update */
	uvm0 = calls.update_va_mapping;
	mmu0 = calls.mmu_update;
	same = demand_touch_all(PF_DEMAND_BATCHED);
	if (pf_failed) {
		put_str("#   the fault handler's mmu_update returned ");
		put_sdec(pf_error);
		put_str("\n");
	}
	check(same && !pf_failed, "batched demand paging: every page shows its frame's contents");
	check(pf_count == 1 && calls.mmu_update - mmu0 == 1 && calls.update_va_mapping == uvm0,
	      "batched demand paging: one page fault, one mmu_update of 1024 requests");
	check_rc(unmap_scratch(), 0, "and all 1024 unmapped again in one multicall");

	/* (c) each fault's entry carried by its return (ABI 2.11) */
	uvm0 = calls.update_va_mapping;
	mmu0 = calls.mmu_update;
	same = demand_touch_all(PF_DEMAND_CARRIED);
	iret_flags = 0;
	check(same && !pf_failed && pf_count == SCRATCH_PAGES && calls.mmu_update == mmu0 &&
		      calls.update_va_mapping == uvm0,
	      "carried demand paging: 1024 faults, each entry carried by the iret that returns from it");
	check_rc(unmap_scratch(), 0, "and all 1024 unmapped again in one multicall");
}

/* ---- user address spaces ------------------------------------------------------- */

enum { T_L4, T_L3_LO, T_L2_LO, T_L1_LO, T_L3_HI, T_L2_HI, T_L1_HI, NR_UTABLES };

/*
 * A user address space: the user code pages at their kernel VAs (read-only,
 * executable), data pages from MM_USER_DATA_VA and one stack page below
 * MM_USER_STACK_TOP, all under its own L4.
 */
struct uspace {
	uint64_t table[NR_UTABLES];
	uint64_t stack;
	uint64_t data[MM_USER_NDATA];
};

static uint64_t user_data_entry(const struct uspace *u, unsigned page)
{
	return entry_gpa(u->table[T_L1_LO], pt_index(MM_USER_DATA_VA, 1) + page);
}

static void uspace_free(struct uspace *u)
{
	for (unsigned t = 0; t < NR_UTABLES; t++)
		frame_free(u->table[t]);
	frame_free(u->stack);
	for (unsigned i = 0; i < MM_USER_NDATA; i++)
		frame_free(u->data[i]);
}

/*
 * Allocates and fills the tables while they are ordinary memory. With
 * data, the data pages are new zeroed frames mapped writable; without,
 * their entries are left empty.
 */
static bool uspace_build(struct uspace *u, bool with_data)
{
	uint64_t code = (uint64_t)user_text_start, code_end = (uint64_t)user_text_end;
	bool ok = (code >> 21) == ((code_end - 1) >> 21) && pt_index(code, 4) != 0;
	for (unsigned t = 0; t < NR_UTABLES; t++)
		ok &= (u->table[t] = frame_alloc_zeroed()) != 0;
	ok &= (u->stack = frame_alloc_zeroed()) != 0;
	for (unsigned i = 0; i < MM_USER_NDATA; i++) {
		u->data[i] = with_data ? frame_alloc_zeroed() : 0;
		ok &= !with_data || u->data[i] != 0;
	}
	if (!ok) {
		uspace_free(u);
		return false;
	}
	uint64_t *l4 = gfn_va(u->table[T_L4]);
	uint64_t *l3lo = gfn_va(u->table[T_L3_LO]), *l2lo = gfn_va(u->table[T_L2_LO]), *l1lo = gfn_va(u->table[T_L1_LO]);
	uint64_t *l3hi = gfn_va(u->table[T_L3_HI]), *l2hi = gfn_va(u->table[T_L2_HI]), *l1hi = gfn_va(u->table[T_L1_HI]);

	l4[pt_index(MM_USER_DATA_VA, 4)] = (u->table[T_L3_LO] << PAGE_SHIFT) | PTE_TABLE;
	l3lo[pt_index(MM_USER_DATA_VA, 3)] = (u->table[T_L2_LO] << PAGE_SHIFT) | PTE_TABLE;
	l2lo[pt_index(MM_USER_DATA_VA, 2)] = (u->table[T_L1_LO] << PAGE_SHIFT) | PTE_TABLE;
	for (unsigned i = 0; with_data && i < MM_USER_NDATA; i++)
		l1lo[pt_index(MM_USER_DATA_VA, 1) + i] = (u->data[i] << PAGE_SHIFT) | PTE_USER_RW;
	l1lo[pt_index(MM_USER_STACK_TOP - PAGE_SIZE, 1)] = (u->stack << PAGE_SHIFT) | PTE_USER_RW;

	l4[pt_index(code, 4)] = (u->table[T_L3_HI] << PAGE_SHIFT) | PTE_TABLE;
	l3hi[pt_index(code, 3)] = (u->table[T_L2_HI] << PAGE_SHIFT) | PTE_TABLE;
	l2hi[pt_index(code, 2)] = (u->table[T_L1_HI] << PAGE_SHIFT) | PTE_TABLE;
	for (uint64_t va = code; va < code_end; va += PAGE_SIZE)
		l1hi[pt_index(va, 1)] = (va_gfn(va) << PAGE_SHIFT) | PTE_USER_CODE;
	return true;
}

static struct tg_mmuext_op mc_ops[4];
static uint32_t mc_ops_done;

/* One multicall: every table's alias read-only, then PIN_L4 (and optionally NEW_USER_BASEPTR). */
static long uspace_pin(const struct uspace *u, bool make_current)
{
	mc_begin();
	for (unsigned t = 0; t < NR_UTABLES; t++)
		mc_alias(u->table[t], false);
	mmuext_fill(&mc_ops[0], TG_MMUEXT_PIN_L4_TABLE, u->table[T_L4], 0);
	mmuext_fill(&mc_ops[1], TG_MMUEXT_NEW_USER_BASEPTR, u->table[T_L4], 0);
	mc_ops_done = 0;
	mc_add(TG_HC_mmuext_op, (uint64_t)mc_ops, make_current ? 2 : 1, (uint64_t)&mc_ops_done);
	return mc_finish();
}

/* Unpins (the L4 must not be a base pointer) and makes the tables writable. */
static long uspace_unpin(const struct uspace *u)
{
	long rc = mmuext1(TG_MMUEXT_UNPIN_TABLE, u->table[T_L4], 0);
	if (rc == 0)
		rc = set_aliases(u->table, NR_UTABLES, true);
	return rc;
}

/* Runs a program of mm_user.c on the current user page table, on its stack page. */
static void run_user_program(uint64_t rip, uint64_t arg)
{
	run_user_at(rip, MM_USER_STACK_TOP - 8, arg);
}

/* ---- 2. a user program on its own page tables --------------------------------- */

static void check_user_page_tables(void)
{
	struct uspace u;
	if (!uspace_build(&u, true)) {
		check(false, "frames for a user address space");
		return;
	}
	volatile uint64_t *data = gfn_va(u.data[0]);
	for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
		data[w] = MM_PATTERN_A(0, w);

	/* With only the L4 read-only, typing its L3 fails: the L3 is mapped writable. */
	check_rc(set_alias(u.table[T_L4], false), 0, "update_va_mapping makes a frame's direct-map alias read-only");
	check_rc(mmuext1(TG_MMUEXT_PIN_L4_TABLE, u.table[T_L4], 0), -TG_EBUSY,
		 "pin of an L4 whose L3 is still mapped writable: -EBUSY, nothing pinned");
	check_rc(mmuext1(TG_MMUEXT_NEW_USER_BASEPTR, u.table[T_L4], 0), -TG_EINVAL,
		 "NEW_USER_BASEPTR of an L4 that is not pinned: -EINVAL");

	long rc = uspace_pin(&u, true);
	check_rc(rc, 0, "user tables made read-only, pinned and set as user base pointer in one multicall");
	check(mc_ops_done == 2, "the mmuext_op inside the multicall reports both ops done");
	if (rc != 0) {
		set_aliases(u.table, NR_UTABLES, true);
		uspace_free(&u);
		return;
	}
	check(gfn_va(u.table[T_L4])[TG_RESERVED_L4_SLOT] & TG_PTE_P, "pinning an L4 writes the VMM's slot 257 into it");
	check_rc(set_alias(u.table[T_L1_LO], true), -TG_EPERM,
		 "writable mapping of an L1 under a pinned L4: -EPERM");
	check_rc(mmu_set(user_data_entry(&u, 0), (u.table[T_L2_LO] << PAGE_SHIFT) | PTE_USER_RW), -TG_EPERM,
		 "an L1 entry mapping an L2 table writable: -EPERM");

	unsigned seen = expected_faults_seen();
	run_user_program((uint64_t)user_mm_basic, (uint64_t)si);
	check(expected_faults_seen() == seen + 2, "the user program's two faults were bounced to the kernel");
	bool written = true;
	for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
		written &= data[w] == MM_PATTERN_B(0, w);
	check(written, "the user program's writes reached its data frame");

	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, u.table[T_L4], 0), -TG_EBUSY,
		 "unpin of the L4 that is the user base pointer: -EBUSY");
	rc = mmuext1(TG_MMUEXT_NEW_USER_BASEPTR, 0, 0);
	if (rc == 0)
		rc = uspace_unpin(&u);
	check_rc(rc, 0, "user base pointer back to 0, the L4 unpinned, its tables writable again");
	if (rc == 0)
		uspace_free(&u);
}

/* ---- 4. fork with copy-on-write ------------------------------------------------ */

static struct uspace *cow_space;
static uint64_t cow_old[MM_USER_NDATA];
static unsigned cow_faults;

/* The parent wrote to a page the fork made read-only: give it a copy. */
static bool cow_fault(uint64_t va)
{
	unsigned page = (unsigned)((va - MM_USER_DATA_VA) >> PAGE_SHIFT);
	uint64_t epa = user_data_entry(cow_space, page);
	uint64_t old = pte_read(epa);
	if (!(old & TG_PTE_P) || (old & TG_PTE_RW))
		return false;
	uint64_t fresh = frame_alloc();
	if (!fresh)
		return false;
	copy_frame(fresh, pte_gfn(old));
	if (mmu_set(epa | TG_MMU_NORMAL_PT_UPDATE, (fresh << PAGE_SHIFT) | PTE_USER_RW) != 0 ||
	    mmuext1(TG_MMUEXT_INVLPG_LOCAL, va & ~(PAGE_SIZE - 1), 0) != 0) {
		frame_free(fresh);
		return false;
	}
	cow_space->data[page] = fresh;
	cow_faults++;
	return true;
}

static void check_fork(void)
{
	static struct uspace parent, child;
	if (!uspace_build(&parent, true)) {
		check(false, "frames for the parent address space");
		return;
	}
	for (unsigned i = 0; i < MM_USER_NDATA; i++)
		for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
			gfn_va(parent.data[i])[w] = MM_PATTERN_A(i, w);
	long rc = uspace_pin(&parent, true);
	check_rc(rc, 0, "fork: the parent's tables are pinned and it is the user base pointer");
	if (rc != 0) {
		set_aliases(parent.table, NR_UTABLES, true);
		uspace_free(&parent);
		return;
	}
	run_user_program((uint64_t)user_fork_touch, 0);

	/*
	 * The fork, in one multicall: the child's tables (filled while
	 * writable) made read-only and pinned; the parent's data entries
	 * write-protected with CLEAR_BITS; the child's data entries mapping
	 * the same frames read-only; and a flush.
	 */
	if (!uspace_build(&child, false)) {
		check(false, "frames for the child address space");
		return;
	}
	static struct tg_mmu_update fork_reqs[2 * MM_USER_NDATA];
	static struct tg_mmuext_op pin, flush;
	static uint32_t pin_done, reqs_done, flush_done;
	for (unsigned i = 0; i < MM_USER_NDATA; i++) {
		fork_reqs[i].ptr = user_data_entry(&parent, i) | TG_MMU_PT_CLEAR_BITS;
		fork_reqs[i].val = TG_PTE_RW;
		fork_reqs[MM_USER_NDATA + i].ptr = user_data_entry(&child, i) | TG_MMU_NORMAL_PT_UPDATE;
		fork_reqs[MM_USER_NDATA + i].val = (parent.data[i] << PAGE_SHIFT) | PTE_USER_RO;
	}
	mmuext_fill(&pin, TG_MMUEXT_PIN_L4_TABLE, child.table[T_L4], 0);
	mmuext_fill(&flush, TG_MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
	pin_done = reqs_done = flush_done = 0;
	uint64_t calls0 = calls.multicall + calls.mmu_update + calls.mmuext_op + calls.update_va_mapping;
	mc_begin();
	for (unsigned t = 0; t < NR_UTABLES; t++)
		mc_alias(child.table[t], false);
	mc_add(TG_HC_mmuext_op, (uint64_t)&pin, 1, (uint64_t)&pin_done);
	mc_add(TG_HC_mmu_update, (uint64_t)fork_reqs, 2 * MM_USER_NDATA, (uint64_t)&reqs_done);
	mc_add(TG_HC_mmuext_op, (uint64_t)&flush, 1, (uint64_t)&flush_done);
	long mrc = hypercall2(TG_HC_multicall, mc, mc_n);
	calls.multicall++;
	bool each = mrc == 0;
	for (unsigned i = 0; i < mc_n; i++)
		each &= mc[i].result == 0;
	check_rc(mrc, 0, "fork: one multicall");
	check(each && pin_done == 1 && reqs_done == 2 * MM_USER_NDATA && flush_done == 1,
	      "fork: every entry of the multicall succeeded (7 update_va_mapping, pin, 8 mmu_update requests, flush)");
	check(calls.multicall + calls.mmu_update + calls.mmuext_op + calls.update_va_mapping - calls0 == 1,
	      "fork: the whole copy cost one hypercall");
	if (!each) {
		for (unsigned i = 0; i < mc_n; i++) {
			put_str("#   entry ");
			put_dec(i);
			put_str(" result ");
			put_sdec(mc[i].result);
			put_str("\n");
		}
	}

	bool old_values = true, protected = true, child_ro = true;
	for (unsigned i = 0; i < MM_USER_NDATA; i++) {
		uint64_t prev = fork_reqs[i].val;
		old_values &= (prev & TG_PTE_P) && (prev & TG_PTE_RW) && (prev & TG_PTE_US) && pte_gfn(prev) == parent.data[i];
		uint64_t now = pte_read(user_data_entry(&parent, i));
		protected &= (now & TG_PTE_P) && !(now & TG_PTE_RW) && pte_gfn(now) == parent.data[i] &&
			     (now & (TG_PTE_A | TG_PTE_D)) == (prev & (TG_PTE_A | TG_PTE_D));
		uint64_t c = pte_read(user_data_entry(&child, i));
		child_ro &= (c & TG_PTE_P) && !(c & TG_PTE_RW) && pte_gfn(c) == parent.data[i];
		cow_old[i] = parent.data[i];
	}
	check(old_values, "CLEAR_BITS writes each entry's previous value (P, RW, frame) back into val");
	check(protected, "CLEAR_BITS cleared RW and kept the frame and the A/D bits");
	check(child_ro, "the child maps the same frames read-only");
	if (!each) {
		/* Not safe to go on: drop what may have been set up. */
		mmuext1(TG_MMUEXT_NEW_USER_BASEPTR, 0, 0);
		mmuext1(TG_MMUEXT_UNPIN_TABLE, parent.table[T_L4], 0);
		mmuext1(TG_MMUEXT_UNPIN_TABLE, child.table[T_L4], 0);
		set_aliases(parent.table, NR_UTABLES, true);
		set_aliases(child.table, NR_UTABLES, true);
		uspace_free(&parent);
		uspace_free(&child);
		return;
	}

	/* The parent writes: one copy-on-write fault per page. */
	cow_space = &parent;
	cow_faults = 0;
	pf_count = 0;
	pf_failed = false;
	pf_mode = PF_COW;
	run_user_program((uint64_t)user_cow_parent, 0);
	pf_mode = PF_OFF;
	check(!pf_failed && cow_faults == MM_USER_NDATA, "copy-on-write: one write fault (P|W|U) per page, each resolved");
	bool copies = true, originals = true;
	for (unsigned i = 0; i < MM_USER_NDATA; i++) {
		uint64_t e = pte_read(user_data_entry(&parent, i));
		copies &= parent.data[i] != cow_old[i] && pte_gfn(e) == parent.data[i] && (e & TG_PTE_RW);
		for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
			originals &= gfn_va(cow_old[i])[w] == MM_PATTERN_A(i, w);
	}
	check(copies, "the parent now maps its own writable copies");
	check(originals, "the frames shared with the child kept the contents at the fork");

	/* The child runs and sees the old contents. */
	for (unsigned i = 0; i < MM_USER_NDATA; i++)
		child.data[i] = cow_old[i];
	unsigned seen = expected_faults_seen();
	check_rc(mmuext1(TG_MMUEXT_NEW_USER_BASEPTR, child.table[T_L4], 0), 0, "the child's L4 becomes the user base pointer");
	run_user_program((uint64_t)user_cow_child, 0);
	check(expected_faults_seen() == seen + 1, "the child's write fault was bounced to the kernel");

	/* Tear down both. */
	struct tg_mmuext_op down[3];
	uint32_t done = 0;
	mmuext_fill(&down[0], TG_MMUEXT_NEW_USER_BASEPTR, 0, 0);
	mmuext_fill(&down[1], TG_MMUEXT_UNPIN_TABLE, parent.table[T_L4], 0);
	mmuext_fill(&down[2], TG_MMUEXT_UNPIN_TABLE, child.table[T_L4], 0);
	rc = mmuext(down, 3, &done);
	if (rc == 0)
		rc = set_aliases(parent.table, NR_UTABLES, true);
	if (rc == 0)
		rc = set_aliases(child.table, NR_UTABLES, true);
	check_rc(rc, 0, "fork teardown: both L4s unpinned in one mmuext_op, their tables writable again");
	check(done == 3, "the teardown mmuext_op reports 3 done");
	if (rc == 0) {
		uspace_free(&parent);
		uspace_free(&child);
	}
}

/* ---- 5. invalid updates --------------------------------------------------------- */

/* A frame outside the domain, and not a doorbell page. */
static uint64_t outside_gfn(void)
{
	uint64_t g = nr_pages;
	uint64_t db = si->doorbell_gpa >> PAGE_SHIFT;
	if (si->nr_doorbell_pages && g >= db && g < db + si->nr_doorbell_pages)
		g = db + si->nr_doorbell_pages;
	return g;
}

/* A fresh zeroed frame whose alias is read-only, ready to be typed; 0 on failure. */
static uint64_t table_frame(void)
{
	uint64_t g = frame_alloc_zeroed();
	if (g && set_alias(g, false) != 0) {
		frame_free(g);
		return 0;
	}
	return g;
}

/* Gives back a frame from table_frame() (it must not be typed any more). */
static void table_frame_free(uint64_t g)
{
	if (g && set_alias(g, true) == 0)
		frame_free(g);
}

/* Writes an entry of an untyped frame whose alias is read-only: an unvalidated mmu_update. */
static long plain_write(uint64_t g, unsigned index, uint64_t val)
{
	return mmu_set(entry_gpa(g, index) | TG_MMU_NORMAL_PT_UPDATE, val);
}

static void check_invalid_mappings(void)
{
	uint64_t outside = outside_gfn();
	uint64_t probe = scratch_entry(3);
	uint64_t data = frame_alloc_zeroed();

	/* Pinned and linked tables can be mapped read-only, never writable. */
	uint64_t t = table_frame();
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 0), 0, "pin of a zeroed, read-only frame as an L1");
	check_rc(uvm(scratch_va(3), (t << PAGE_SHIFT) | PTE_KERNEL_RW, TG_UVMF_NONE), -TG_EPERM,
		 "writable mapping of a pinned L1: -EPERM");
	check_rc(set_alias(t, true), -TG_EPERM, "making a pinned table's own alias writable: -EPERM");
	check_rc(mmu_set(probe, (scratch_l1[0] << PAGE_SHIFT) | PTE_KERNEL_RW), -TG_EPERM,
		 "writable mapping of an L1 that is typed by a reference: -EPERM");
	check_rc(mmu_set(probe, (kernel_l4 << PAGE_SHIFT) | PTE_KERNEL_RW), -TG_EPERM,
		 "writable mapping of the kernel L4: -EPERM");
	check_rc(uvm(scratch_va(3), (t << PAGE_SHIFT) | PTE_KERNEL_RO, TG_UVMF_NONE), 0,
		 "read-only mapping of a pinned L1 is allowed");
	check(touch_read(scratch_va(3)) == 0, "and reads the table through it");
	check_rc(uvm(scratch_va(3), 0, TG_UVMF_INVLPG), 0, "update_va_mapping to 0 unmaps it (with INVLPG)");

	/* Frames that are not the domain's. */
	check_rc(uvm(scratch_va(3), (outside << PAGE_SHIFT) | PTE_KERNEL_RW, TG_UVMF_NONE), -TG_EPERM,
		 "mapping a frame outside the domain (gfn >= nr_pages): -EPERM");
	check_rc(uvm(scratch_va(3), (outside << PAGE_SHIFT) | PTE_KERNEL_RO, TG_UVMF_NONE), -TG_EPERM,
		 "read-only mapping of a frame outside the domain: -EPERM");
	check_rc(mmu_set((outside << PAGE_SHIFT) | TG_MMU_NORMAL_PT_UPDATE, 0), -TG_EPERM,
		 "mmu_update of an entry outside the domain: -EPERM");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, outside, 0), -TG_EPERM, "pin of a frame outside the domain: -EPERM");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, outside, 0), -TG_EPERM, "unpin of a frame outside the domain: -EPERM");
	check_rc(mmu_set(entry_gpa(scratch_l2, 7), (outside << PAGE_SHIFT) | PTE_TABLE), -TG_EPERM,
		 "an L2 entry naming a frame outside the domain: -EPERM");

	/* The reserved range. */
	uint64_t slot257 = pte_read(entry_gpa(kernel_l4, TG_RESERVED_L4_SLOT));
	check_rc(mmu_set(entry_gpa(kernel_l4, TG_RESERVED_L4_SLOT), slot257), -TG_EPERM,
		 "mmu_update of L4 slot 257 (the VMM's), even with its own value: -EPERM");
	check_rc(mmu_set(entry_gpa(kernel_l4, TG_RESERVED_L4_FIRST), 0), -TG_EPERM,
		 "mmu_update of L4 slot 256 to not-present: -EPERM");
	check_rc(mmu_set(entry_gpa(kernel_l4, TG_RESERVED_L4_LAST), (scratch_l3 << PAGE_SHIFT) | PTE_TABLE), -TG_EPERM,
		 "mmu_update of L4 slot 271: -EPERM");
	check(pte_read(entry_gpa(kernel_l4, TG_RESERVED_L4_SLOT)) == slot257 &&
		      pte_read(entry_gpa(kernel_l4, TG_RESERVED_L4_LAST)) == 0,
	      "the reserved slots are unchanged");
	check_rc(uvm(TG_RESERVED_AREA_VA, (data << PAGE_SHIFT) | PTE_KERNEL_RW, TG_UVMF_NONE), -TG_EINVAL,
		 "update_va_mapping of a VA in the reserved range: -EINVAL");
	check_rc(uvm(TG_RESERVED_VA_START, 0, TG_UVMF_NONE), -TG_EINVAL,
		 "update_va_mapping of the first reserved VA: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_INVLPG_LOCAL, TG_RESERVED_AREA_VA, 0), -TG_EINVAL, "INVLPG of a reserved VA: -EINVAL");
	check_rc(uvm(0x0000800000000000ULL, 0, TG_UVMF_NONE), -TG_EINVAL, "update_va_mapping of a non-canonical VA: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_INVLPG_LOCAL, 0x0000800000000000ULL, 0), -TG_EINVAL,
		 "INVLPG of a non-canonical VA: -EINVAL");

	/* Not present is accepted as written; update_va_mapping needs an L1. */
	check_rc(mmu_set(probe, 0x0123456789abcde0ULL), 0, "a not-present entry is accepted whatever its other bits");
	check(pte_read(probe) == 0x0123456789abcde0ULL, "and is stored as written");
	check_rc(mmu_set(probe, 0), 0, "and cleared again");
	check_rc(uvm(NO_L3_VA, (data << PAGE_SHIFT) | PTE_KERNEL_RW, TG_UVMF_NONE), -TG_ENOENT,
		 "update_va_mapping where the L4 entry is empty: -ENOENT");
	check_rc(uvm(SCRATCH_VA + (4ULL << 20), (data << PAGE_SHIFT) | PTE_KERNEL_RW, TG_UVMF_NONE), -TG_ENOENT,
		 "update_va_mapping where the L2 entry is empty: -ENOENT");
	check_rc(uvm(scratch_va(3), (data << PAGE_SHIFT) | PTE_KERNEL_RW, 0x8), -TG_EINVAL,
		 "update_va_mapping with an unknown flag: -EINVAL");
	check_rc(uvm(scratch_va(3), (data << PAGE_SHIFT) | PTE_KERNEL_RW, 0x3), -TG_EINVAL,
		 "update_va_mapping with flush field 3: -EINVAL");
	check(pte_read(probe) == 0, "nothing was mapped by the refused calls");

	/* Bits that are never allowed in a present entry. */
	check_rc(mmu_set(probe, (data << PAGE_SHIFT) | PTE_KERNEL_RW | (1ULL << 59)), -TG_EINVAL,
		 "an L1 entry with a protection-key bit: -EINVAL");
	check_rc(mmu_set(entry_gpa(scratch_l2, 7), (data << PAGE_SHIFT) | PTE_TABLE | TG_PTE_PS), -TG_EINVAL,
		 "an L2 entry with PS (a 2 MiB page): -EINVAL");
	check_rc(mmu_set(entry_gpa(scratch_l3, 7), (data << PAGE_SHIFT) | PTE_TABLE | TG_PTE_PS), -TG_EINVAL,
		 "an L3 entry with PS (a 1 GiB page): -EINVAL");
	check_rc(mmu_set(probe, (data << PAGE_SHIFT) | PTE_KERNEL_RW | TG_PTE_G), 0, "an L1 entry with G is accepted");
	uint64_t stored = pte_read(probe);
	check(!(stored & TG_PTE_G) && (stored & TG_PTE_US), "and stored with G clear and US set");
	check_rc(mmu_set(probe, 0), 0, "and cleared");

	/* Wrong-level entries. */
	uint64_t kernel_l3 = pte_gfn(pte_read(entry_gpa(kernel_l4, pt_index(virt_base, 4))));
	uint64_t kernel_l2 = pte_gfn(pte_read(entry_gpa(kernel_l3, pt_index(virt_base, 3))));
	check_rc(mmu_set(entry_gpa(scratch_l2, 7), (kernel_l2 << PAGE_SHIFT) | PTE_TABLE), -TG_EINVAL,
		 "an L2 entry pointing at a frame typed L2: -EINVAL");
	check_rc(mmu_set(entry_gpa(kernel_l4, pt_index(EMPTY_SLOT_VA, 4)), (scratch_l1[0] << PAGE_SHIFT) | PTE_TABLE),
		 -TG_EINVAL, "an L4 entry pointing at a frame typed L1: -EINVAL");
	check_rc(mmu_set(entry_gpa(scratch_l3, 7), (kernel_l3 << PAGE_SHIFT) | PTE_TABLE), -TG_EINVAL,
		 "an L3 entry pointing at a frame typed L3: -EINVAL");
	check_rc(mmu_set(entry_gpa(scratch_l2, 7), (t << PAGE_SHIFT) | PTE_TABLE), 0,
		 "an L2 entry pointing at a pinned L1 is fine");
	check_rc(mmu_set(entry_gpa(scratch_l2, 7), 0), 0, "and removed again");
	check(pte_read(entry_gpa(kernel_l4, pt_index(EMPTY_SLOT_VA, 4))) == 0, "the refused L4 entry stayed empty");

	/* Entries written into the shared info page or the console ring: VMM type. */
	uint64_t shared_gfn = si->shared_info_gpa >> PAGE_SHIFT;
	check_rc(mmu_set(si->shared_info_gpa + PAGE_SIZE - 8, 0), -TG_EPERM,
		 "mmu_update into the shared info page: -EPERM");
	check_rc(mmu_set((si->console_ring_gfn << PAGE_SHIFT) + PAGE_SIZE - 8, 0), -TG_EPERM,
		 "mmu_update into the console ring page: -EPERM");
	check_rc(mmu_set(probe, (shared_gfn << PAGE_SHIFT) | PTE_KERNEL_RW), 0,
		 "the shared info page may be mapped writable");
	check(touch_read(scratch_va(3)) == *(volatile uint64_t *)si->shared_info_va, "and reads the same through both mappings");
	check_rc(mmu_set(probe, 0), 0, "and unmapped");
	check_rc(mmuext1(TG_MMUEXT_INVLPG_LOCAL, scratch_va(3), 0), 0, "INVLPG_LOCAL of a scratch VA");

	/* An unvalidated write into an ordinary frame is done as written. */
	check_rc(mmu_set(entry_gpa(data, 5) | TG_MMU_NORMAL_PT_UPDATE, 0xfeedULL), 0,
		 "mmu_update into an ordinary frame is done as written");
	check(gfn_va(data)[5] == 0xfeedULL, "and the frame holds the value");

	/* Request types. */
	check_rc(mmu_set(probe | 3, 0), -TG_EINVAL, "mmu_update request type 3: -EINVAL");
	check_rc(mmu_set(probe | 7, 0), -TG_EINVAL, "mmu_update request type 7: -EINVAL");

	/* PRESERVE_AD keeps the A and D bits the entry has. */
	check_rc(mmu_set(probe, (data << PAGE_SHIFT) | PTE_KERNEL_RW | TG_PTE_A | TG_PTE_D), 0, "an entry with A and D set");
	check_rc(mmu_set(probe | TG_MMU_PT_UPDATE_PRESERVE_AD, (data << PAGE_SHIFT) | PTE_KERNEL_RO), 0,
		 "PRESERVE_AD update to read-only");
	stored = pte_read(probe);
	check((stored & TG_PTE_A) && (stored & TG_PTE_D) && !(stored & TG_PTE_RW) && pte_gfn(stored) == data,
	      "PRESERVE_AD kept A and D and applied the rest");
	struct tg_mmu_update clr;
	clr.ptr = probe | TG_MMU_PT_CLEAR_BITS;
	clr.val = ~0ULL;
	check_rc(mmu_update(&clr, 1, NULL), 0, "CLEAR_BITS with every bit clears the entry");
	check(clr.val == stored && pte_read(probe) == 0, "and writes the previous value back into val");
	mmuext1(TG_MMUEXT_INVLPG_LOCAL, scratch_va(3), 0);

	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, t, 0), 0, "unpin of the pinned L1");
	table_frame_free(t);
	frame_free(data);
}

static void check_invalid_tables(void)
{
	uint64_t t = table_frame(), u = table_frame(), w = frame_alloc_zeroed();
	uint64_t shared_gfn = si->shared_info_gpa >> PAGE_SHIFT;
	uint64_t kernel_l3 = pte_gfn(pte_read(entry_gpa(kernel_l4, pt_index(virt_base, 4))));
	uint64_t kernel_l2 = pte_gfn(pte_read(entry_gpa(kernel_l3, pt_index(virt_base, 3))));
	if (!t || !u || !w) {
		check(false, "frames for the invalid-table checks");
		return;
	}

	/* A table that maps itself writable can never be typed. */
	check_rc(plain_write(t, 0, (t << PAGE_SHIFT) | PTE_KERNEL_RW), 0,
		 "mmu_update into an untyped frame mapped read-only is done as written");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 0), -TG_EPERM,
		 "pin as an L1 of a frame one of whose entries maps it writable: -EPERM");
	check_rc(plain_write(t, 0, (t << PAGE_SHIFT) | PTE_KERNEL_RO), 0, "the frame is still untyped after the refused pin");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 0), 0, "an L1 that maps itself read-only may be pinned");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 0), -TG_EEXIST, "pin of an already pinned L1: -EEXIST");
	check_rc(mmuext1(TG_MMUEXT_PIN_L4_TABLE, kernel_l4, 0), -TG_EEXIST, "pin of the bootstrap L4 (pinned): -EEXIST");
	check_rc(mmu_set(entry_gpa(t, 0), (t << PAGE_SHIFT) | PTE_KERNEL_RW), -TG_EPERM,
		 "an entry of a pinned L1 that would map the L1 itself writable: -EPERM");
	check_rc(mmuext1(TG_MMUEXT_NEW_BASEPTR, t, 0), -TG_EINVAL, "NEW_BASEPTR to a pinned L1: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, t, 0), 0, "unpin of the pinned L1");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, t, 0), -TG_EINVAL, "unpin of a frame that is not pinned: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, scratch_l1[0], 0), -TG_EINVAL,
		 "unpin of an L1 typed only by a reference (not pinned): -EINVAL");
	check_rc(plain_write(t, 0, 0), 0, "after the unpin the frame is ordinary memory again");

	/* Frames that cannot take a page-table type. */
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, w, 0), -TG_EBUSY, "pin of a frame that is mapped writable: -EBUSY");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, shared_gfn, 0), -TG_EBUSY, "pin of the shared info page (VMM type): -EBUSY");
	check_rc(mmuext1(TG_MMUEXT_PIN_L4_TABLE, si->console_ring_gfn, 0), -TG_EBUSY,
		 "pin of the console ring page (VMM type): -EBUSY");
	check_rc(mmu_set(entry_gpa(scratch_l2, 7), (shared_gfn << PAGE_SHIFT) | PTE_TABLE), -TG_EBUSY,
		 "an L2 entry naming the shared info page as an L1: -EBUSY");

	/* Entries that do not validate make the whole pin fail. */
	plain_write(t, 3, (w << PAGE_SHIFT) | PTE_KERNEL_RO | (1ULL << 60));
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 0), -TG_EINVAL,
		 "pin of an L1 holding an entry with a protection-key bit: -EINVAL");
	plain_write(t, 3, 0);
	plain_write(t, 9, (w << PAGE_SHIFT) | TG_PTE_P | TG_PTE_PS);
	check_rc(mmuext1(TG_MMUEXT_PIN_L2_TABLE, t, 0), -TG_EINVAL, "pin of an L2 holding an entry with PS: -EINVAL");
	plain_write(t, 9, (kernel_l2 << PAGE_SHIFT) | PTE_TABLE);
	check_rc(mmuext1(TG_MMUEXT_PIN_L2_TABLE, t, 0), -TG_EINVAL,
		 "pin of an L2 whose entry points at a frame typed L2: -EINVAL");
	plain_write(t, 9, (u << PAGE_SHIFT) | PTE_TABLE);
	plain_write(t, 10, (w << PAGE_SHIFT) | PTE_TABLE);
	check_rc(mmuext1(TG_MMUEXT_PIN_L2_TABLE, t, 0), -TG_EBUSY,
		 "pin of an L2 whose second L1 is mapped writable: -EBUSY, all or nothing");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, u, 0), -TG_EINVAL, "the first L1 of the refused pin was not kept typed");
	check_rc(mmu_set(entry_gpa(u, 0), (u << PAGE_SHIFT) | PTE_KERNEL_RW), 0,
		 "and is still ordinary memory (an unvalidated write succeeds)");
	plain_write(u, 0, 0);
	plain_write(t, 9, 0);
	plain_write(t, 10, 0);

	/* The reserved L4 slots in an L4 about to be pinned: ignored, then overwritten. */
	plain_write(t, 260, (u << PAGE_SHIFT) | PTE_TABLE);
	check_rc(mmuext1(TG_MMUEXT_PIN_L4_TABLE, t, 0), 0,
		 "pin of an L4 with a present entry in slot 260 (reserved range) succeeds");
	check(pte_read(entry_gpa(t, 260)) == 0 && (pte_read(entry_gpa(t, TG_RESERVED_L4_SLOT)) & TG_PTE_P),
	      "the pin cleared slot 260 and installed the VMM's slot 257");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, u, 0), 0,
		 "the frame slot 260 named took no type from the pin (it can still be pinned as an L1)");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, u, 0), 0, "unpin of that L1");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, t, 0), 0, "unpin of that L4");
	/* Base pointers. */
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, kernel_l4, 0), -TG_EBUSY,
		 "unpin of the L4 that is the kernel base pointer: -EBUSY");
	check_rc(mmuext1(TG_MMUEXT_NEW_BASEPTR, w, 0), -TG_EINVAL, "NEW_BASEPTR to an ordinary frame: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_NEW_BASEPTR, kernel_l3, 0), -TG_EINVAL, "NEW_BASEPTR to an L3: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_NEW_USER_BASEPTR, w, 0), -TG_EINVAL, "NEW_USER_BASEPTR to an ordinary frame: -EINVAL");
	check_rc(mmuext1(TG_MMUEXT_NEW_BASEPTR, kernel_l4, 0), 0, "NEW_BASEPTR reloading the bootstrap L4");

	/* mmuext_op arguments. */
	check_rc(mmuext1(77, 0, 0), -TG_ENOSYS, "unknown mmuext_op command: -ENOSYS");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 1), -TG_EINVAL, "PIN with a nonzero arg2: -EINVAL");
	struct tg_mmuext_op padded;
	mmuext_fill(&padded, TG_MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
	padded._pad0 = 1;
	check_rc(mmuext(&padded, 1, NULL), -TG_EINVAL, "mmuext_op with nonzero padding: -EINVAL");
	unsigned missing = si->nr_vcpus <= 5 ? 5 : si->nr_vcpus;
	check_rc(mmuext1(TG_MMUEXT_TLB_FLUSH_MULTI, 0, 1ULL << missing), -TG_ESRCH,
		 "TLB_FLUSH_MULTI naming a vCPU the domain does not have: -ESRCH");
	check_rc(mmuext1(TG_MMUEXT_INVLPG_MULTI, scratch_va(3), 1ULL << missing), -TG_ESRCH,
		 "INVLPG_MULTI naming a vCPU the domain does not have: -ESRCH");
	check_rc(mmuext1(TG_MMUEXT_TLB_FLUSH_MULTI, 0, 1), 0, "TLB_FLUSH_MULTI of vCPU 0");
	check_rc(mmuext1(TG_MMUEXT_TLB_FLUSH_ALL, 0, 0), 0, "TLB_FLUSH_ALL");
	check_rc(mmuext1(TG_MMUEXT_INVLPG_ALL, scratch_va(3), 0), 0, "INVLPG_ALL");

	table_frame_free(t);
	table_frame_free(u);
	frame_free(w);
}

static void check_invalid_batches(void)
{
	uint32_t done;
	uint64_t data[3] = {frame_alloc(), frame_alloc(), frame_alloc()};
	uint64_t t = table_frame();

	/* Too long: nothing is done. */
	for (unsigned i = 0; i <= TG_MMU_UPDATE_MAX; i++)
		req_set(i, scratch_entry(20) | TG_MMU_NORMAL_PT_UPDATE, (data[0] << PAGE_SHIFT) | PTE_KERNEL_RW);
	check_rc(mmu_update(reqs, TG_MMU_UPDATE_MAX + 1, &done), -TG_E2BIG, "mmu_update of 4097 requests: -E2BIG");
	check(pte_read(scratch_entry(20)) == 0, "and nothing of it was applied");
	struct tg_mmuext_op *ops = (struct tg_mmuext_op *)reqs;
	for (unsigned i = 0; i <= TG_MMUEXT_OP_MAX; i++)
		mmuext_fill(&ops[i], TG_MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
	check_rc(mmuext(ops, TG_MMUEXT_OP_MAX + 1, &done), -TG_E2BIG, "mmuext_op of 1025 ops: -E2BIG");
	struct tg_multicall_entry *many = (struct tg_multicall_entry *)reqs;
	for (unsigned i = 0; i <= TG_MULTICALL_MAX; i++) {
		many[i].op = TG_HC_version;
		many[i].result = 0x7e57;
		many[i].args[0] = TG_VERSION_abi;
		for (unsigned a = 1; a < 6; a++)
			many[i].args[a] = 0;
	}
	check_rc(hypercall2(TG_HC_multicall, many, TG_MULTICALL_MAX + 1), -TG_E2BIG, "multicall of 513 entries: -E2BIG");
	check(many[0].result == 0x7e57, "and none of its entries ran");

	/* A batch that fails at request 3: 0-2 stay applied, 3 and 4 are not. */
	req_set(0, scratch_entry(10), (data[0] << PAGE_SHIFT) | PTE_KERNEL_RW);
	req_set(1, scratch_entry(11), (data[1] << PAGE_SHIFT) | PTE_KERNEL_RW);
	req_set(2, scratch_entry(12), (data[2] << PAGE_SHIFT) | PTE_KERNEL_RO);
	req_set(3, scratch_entry(13), (outside_gfn() << PAGE_SHIFT) | PTE_KERNEL_RW);
	req_set(4, scratch_entry(14), (data[0] << PAGE_SHIFT) | PTE_KERNEL_RW);
	done = 99;
	check_rc(mmu_update(reqs, 5, &done), -TG_EPERM, "a batch whose request 3 names a frame outside the domain: -EPERM");
	check(done == 3, "and reports 3 requests done");
	check(pte_gfn(pte_read(scratch_entry(10))) == data[0] && pte_gfn(pte_read(scratch_entry(12))) == data[2] &&
		      pte_read(scratch_entry(13)) == 0 && pte_read(scratch_entry(14)) == 0,
	      "requests 0-2 stay applied, 3 and 4 are not");
	*(volatile uint64_t *)gfn_va(data[1]) = 0x1111;
	check(touch_read(scratch_va(11)) == 0x1111, "the applied requests map their frames");
	for (unsigned i = 0; i < 3; i++)
		req_set(i, scratch_entry(10 + i), 0);
	check_rc(mmu_update(reqs, 3, &done), 0, "the three mappings removed");
	mmuext1(TG_MMUEXT_TLB_FLUSH_LOCAL, 0, 0);

	/* An mmuext_op batch that fails at op 1: op 0 stays done. */
	struct tg_mmuext_op two[3];
	mmuext_fill(&two[0], TG_MMUEXT_PIN_L1_TABLE, t, 0);
	mmuext_fill(&two[1], TG_MMUEXT_PIN_L1_TABLE, t, 0);
	mmuext_fill(&two[2], TG_MMUEXT_TLB_FLUSH_LOCAL, 0, 0);
	done = 99;
	check_rc(mmuext(two, 3, &done), -TG_EEXIST, "an mmuext_op batch whose op 1 pins a pinned table: -EEXIST");
	check(done == 1, "and reports 1 op done");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, t, 0), 0, "op 0 stayed applied: the frame is pinned");

	/* Multicall: refused entries fail alone, the others run. */
	mc_begin();
	mc_add(TG_HC_version, TG_VERSION_abi, 0, 0);
	mc_add(TG_HC_iret, 0, 0, 0);
	mc_add(TG_HC_version, TG_VERSION_abi, 0, 0);
	mc_add(99, 0, 0, 0);
	mc_add(TG_HC_multicall, (uint64_t)mc, 1, 0);
	mc_add(TG_HC_sched_op, TG_SCHEDOP_block, 0, 0);
	mc_add(TG_HC_update_va_mapping, scratch_va(15), (data[0] << PAGE_SHIFT) | PTE_KERNEL_RW, TG_UVMF_NONE);
	mc_add(TG_HC_update_va_mapping, scratch_va(15), 0, TG_UVMF_INVLPG);
	long rc = hypercall2(TG_HC_multicall, mc, mc_n);
	calls.multicall++;
	check_rc(rc, 0, "a multicall with refused entries returns 0");
	check(mc[0].result == TG_ABI_VERSION && mc[2].result == TG_ABI_VERSION && mc[6].result == 0 && mc[7].result == 0,
	      "the entries around the refused ones ran");
	check_rc(mc[1].result, -TG_EINVAL, "an iret entry in a multicall: -EINVAL");
	check_rc(mc[3].result, -TG_ENOSYS, "an entry that is not a hypercall: -ENOSYS");
	check_rc(mc[4].result, -TG_EINVAL, "a multicall entry in a multicall: -EINVAL");
	check_rc(mc[5].result, -TG_EINVAL, "a sched_op block entry in a multicall: -EINVAL");

	table_frame_free(t);
	for (unsigned i = 0; i < 3; i++)
		frame_free(data[i]);
}

static void check_invalid_updates(void)
{
	uint64_t probe = *(volatile uint64_t *)gfn_va(alloc_first);
	check_invalid_mappings();
	check_invalid_tables();
	check_invalid_batches();
	bool same = true;
	for (unsigned i = 0; i < SCRATCH_PAGES; i++)
		same &= pte_read(scratch_entry(i)) == 0;
	check(same && hypercall2(TG_HC_version, TG_VERSION_abi, 0) == TG_ABI_VERSION &&
		      *(volatile uint64_t *)gfn_va(alloc_first) == probe,
	      "after every refused update the guest runs on, its tables as they were");
}

/* ---- 6. memory reservation --------------------------------------------------------- */

static long reservation(unsigned cmd, const tg_gfn_t *gfns, uint64_t n)
{
	struct tg_memory_reservation r;
	r.extent_start = (uint64_t)gfns;
	r.nr_extents = n;
	r.extent_order = 0;
	r.domid = TG_DOMID_SELF;
	r._pad0 = 0;
	return memory_op(cmd, &r);
}

static void check_reservation(void)
{
	tg_domid_t self = TG_DOMID_SELF;
	long cur = memory_op(TG_MEMOP_current_reservation, &self);
	long max = memory_op(TG_MEMOP_maximum_reservation, &self);
	check_rc(cur, (long)nr_pages, "current_reservation: every RAM frame is populated");
	check(max >= cur, "maximum_reservation is at least the current reservation");

	static struct tg_memmap_entry map[TG_MAX_MEMMAP_ENTRIES];
	struct tg_memory_map mm;
	mm.nr_entries = TG_MAX_MEMMAP_ENTRIES;
	mm._pad0 = 0;
	mm.buffer = (uint64_t)map;
	check_rc(memory_op(TG_MEMOP_memory_map, &mm), 0, "memory_map");
	check(mm.nr_entries == si->nr_memmap && map[0].gpa == si->memmap[0].gpa && map[0].size == si->memmap[0].size &&
		      map[0].type == si->memmap[0].type,
	      "memory_map returns the start info's map");
	mm.nr_entries = 0;
	check_rc(memory_op(TG_MEMOP_memory_map, &mm), -TG_EOVERFLOW, "memory_map into a buffer of 0 entries: -EOVERFLOW");
	check(mm.nr_entries == si->nr_memmap, "and says how many entries it needs");

	static tg_gfn_t f[6], list[4];
	for (unsigned i = 0; i < 6; i++) {
		f[i] = frame_alloc();
		for (unsigned w = 0; f[i] && w < WORDS_PER_PAGE; w++)
			gfn_va(f[i])[w] = MM_PATTERN_A(i, w);
	}
	uint64_t t = table_frame();
	if (!f[5] || !t) {
		check(false, "frames for the reservation checks");
		return;
	}
	/* f0, f1, f2 and f4 lose their only mapping, the direct-map alias; f3 keeps it. */
	bool unmapped = true;
	for (unsigned i = 0; i < 5; i++)
		if (i != 3)
			unmapped &= uvm((uint64_t)gfn_va(f[i]), 0, TG_UVMF_INVLPG | TG_UVMF_LOCAL) == 0;
	check(unmapped, "four free frames unmapped from the direct map");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, t, 0), 0, "a pinned L1 for the reservation checks");
	check_rc(uvm((uint64_t)gfn_va(t), 0, TG_UVMF_INVLPG), 0, "the L1 unmapped from the direct map");

	list[0] = f[0];
	list[1] = f[1];
	check_rc(reservation(TG_MEMOP_decrease_reservation, list, 2), 2, "decrease_reservation of two unmapped frames: 2");
	check_rc(memory_op(TG_MEMOP_current_reservation, &self), cur - 2, "the current reservation drops by 2");
	list[0] = f[2];
	list[1] = f[3];
	list[2] = f[4];
	check_rc(reservation(TG_MEMOP_decrease_reservation, list, 3), 1,
		 "decrease stops at a frame that is still mapped: returns the count before it");
	list[0] = f[4];
	list[1] = t;
	list[2] = f[5];
	check_rc(reservation(TG_MEMOP_decrease_reservation, list, 3), 1, "decrease stops at a page table (pinned L1)");
	list[0] = si->shared_info_gpa >> PAGE_SHIFT;
	check_rc(reservation(TG_MEMOP_decrease_reservation, list, 1), 0, "decrease of the shared info page: 0");
	list[0] = f[0];
	check_rc(reservation(TG_MEMOP_decrease_reservation, list, 1), 0, "decrease of a frame already released: 0");
	check_rc(memory_op(TG_MEMOP_current_reservation, &self), cur - 4, "the current reservation dropped by 4");

	check_rc(uvm((uint64_t)gfn_va(f[0]), alias_pte(f[0], true), TG_UVMF_NONE), -TG_EPERM,
		 "mapping a released frame writable: -EPERM");
	check_rc(uvm((uint64_t)gfn_va(f[1]), alias_pte(f[1], false), TG_UVMF_NONE), -TG_EPERM,
		 "mapping a released frame read-only: -EPERM");
	check_rc(mmuext1(TG_MMUEXT_PIN_L1_TABLE, f[2], 0), -TG_EPERM, "pin of a released frame: -EPERM");
	check_rc(mmu_set(entry_gpa(f[2], 0), 0), -TG_EPERM, "mmu_update of an entry in a released frame: -EPERM");

	struct tg_memory_reservation bad;
	bad.extent_start = (uint64_t)list;
	bad.nr_extents = 1;
	bad.extent_order = 1;
	bad.domid = TG_DOMID_SELF;
	bad._pad0 = 0;
	list[0] = f[0];
	check_rc(memory_op(TG_MEMOP_increase_reservation, &bad), -TG_EINVAL, "increase with extent_order 1: -EINVAL");
	bad.extent_order = 0;
	bad.domid = 3;
	check_rc(memory_op(TG_MEMOP_increase_reservation, &bad), -TG_EINVAL, "increase for another domain: -EINVAL");
	bad.domid = TG_DOMID_SELF;
	bad._pad0 = 1;
	check_rc(memory_op(TG_MEMOP_increase_reservation, &bad), -TG_EINVAL, "increase with nonzero padding: -EINVAL");
	bad._pad0 = 0;
	bad.nr_extents = TG_RESERVATION_MAX + 1;
	bad.extent_start = (uint64_t)gfn_va(alloc_first);
	check_rc(memory_op(TG_MEMOP_decrease_reservation, &bad), -TG_E2BIG, "decrease of 65537 extents: -E2BIG");
	check_rc(memory_op(TG_MEMOP_current_reservation, &self), cur - 4, "and nothing was done");

	list[0] = f[0];
	list[1] = f[1];
	list[2] = f[2];
	list[3] = f[4];
	check_rc(reservation(TG_MEMOP_increase_reservation, list, 4), 4, "increase_reservation brings the four frames back");
	check_rc(memory_op(TG_MEMOP_current_reservation, &self), cur, "the current reservation is back where it was");
	list[0] = f[3];
	check_rc(reservation(TG_MEMOP_increase_reservation, list, 1), 0, "increase of a populated frame: 0");

	bool mapped = true, zero = true;
	for (unsigned i = 0; i < 5; i++)
		if (i != 3)
			mapped &= uvm((uint64_t)gfn_va(f[i]), alias_pte(f[i], true), TG_UVMF_INVLPG) == 0;
	check(mapped, "the repopulated frames map again at the same gfns");
	for (unsigned i = 0; mapped && i < 5; i++)
		for (unsigned w = 0; i != 3 && w < WORDS_PER_PAGE; w++)
			zero &= gfn_va(f[i])[w] == 0;
	check(mapped && zero, "and hold zeroes");
	bool kept = true;
	for (unsigned w = 0; w < WORDS_PER_PAGE; w++)
		kept &= gfn_va(f[3])[w] == MM_PATTERN_A(3, w) && gfn_va(f[5])[w] == MM_PATTERN_A(5, w);
	check(kept, "the frames that were not released kept their contents");

	check_rc(uvm((uint64_t)gfn_va(t), alias_pte(t, false), TG_UVMF_NONE), 0, "the pinned L1 mapped read-only again");
	check_rc(mmuext1(TG_MMUEXT_UNPIN_TABLE, t, 0), 0, "and unpinned");
	table_frame_free(t);
	if (mapped)
		for (unsigned i = 0; i < 6; i++)
			frame_free(f[i]);
}

/* ---- the suite ------------------------------------------------------------------- */

static bool mm_setup(const struct tg_start_info *start_info)
{
	if (mm_ready)
		return true;
	si = start_info;
	virt_base = si->virt_base;
	nr_pages = si->nr_pages;
	kernel_l4 = va_gfn(si->pt_base);
	alloc_init();
	page_fault_hook = mm_page_fault;
	if (!extend_direct_map() || !setup_scratch())
		return false;
	mm_ready = true;
	return true;
}

void mm_selftest(const struct tg_start_info *start_info)
{
	struct tg_feature_info f = {.submap_idx = 0};
	long rc = hypercall2(TG_HC_version, TG_VERSION_features, &f);
	uint32_t need = TG_FEAT_PV_MMU | TG_FEAT_MULTICALL | TG_FEAT_BALLOON;
	check(rc == 0 && (f.submap & need) == need, "features word 0 offers the PV MMU, multicall and ballooning");
	if (rc != 0 || (f.submap & need) != need) {
		put_line("# memory suite skipped: the VMM does not offer the PV MMU");
		return;
	}
	if (start_info->nr_pages < MIN_PAGES) {
		put_line("# memory suite skipped: it needs at least 8 MiB of RAM");
		return;
	}
	if (!mm_setup(start_info))
		return;
	uint64_t in_use = frames_in_use;
	check_user_page_tables();
	check_demand_faults();
	check_fork();
	check_invalid_updates();
	check_reservation();
	note("memory suite: mmu_update calls ", calls.mmu_update);
	note("memory suite: mmuext_op calls ", calls.mmuext_op);
	note("memory suite: update_va_mapping calls ", calls.update_va_mapping);
	note("memory suite: multicalls ", calls.multicall);
	check(frames_in_use == in_use, "the memory suite gave back every frame it took");
}

/* ---- 7. benchmarks ---------------------------------------------------------------- */

bool mm_bench_kind(const char *kind)
{
	return str_eq(kind, "map-unbatched") || str_eq(kind, "map-batched") || str_eq(kind, "mmu-entries") ||
	       str_eq(kind, "mmu-single");
}

bool mm_bench_prepare(const struct tg_start_info *start_info, const char *kind)
{
	if (!mm_setup(start_info))
		return false;
	if (str_eq(kind, "mmu-entries") || str_eq(kind, "mmu-single"))
		return map_scratch_batched() == 0;
	return true;
}

static void touch_scratch(void)
{
	for (unsigned i = 0; i < SCRATCH_PAGES; i++)
		*(volatile uint64_t *)scratch_va(i) = i;
}

void mm_bench_run(const char *kind, uint64_t n)
{
	if (str_eq(kind, "map-unbatched")) {
		for (uint64_t k = 0; k < n; k++) {
			for (unsigned i = 0; i < SCRATCH_PAGES; i++)
				uvm(scratch_va(i), demand_pte(i), TG_UVMF_NONE);
			touch_scratch();
			unmap_scratch();
		}
	} else if (str_eq(kind, "map-batched")) {
		for (uint64_t k = 0; k < n; k++) {
			map_scratch_batched();
			touch_scratch();
			unmap_scratch();
		}
	} else if (str_eq(kind, "mmu-entries")) {
		for (uint64_t k = 0; k < n; k++)
			map_scratch_batched();
	} else if (str_eq(kind, "mmu-single")) {
		for (uint64_t k = 0; k < n; k++)
			mmu_set(scratch_entry(0) | TG_MMU_NORMAL_PT_UPDATE, demand_pte(0));
	}
}
