/*
 * The agent's balloon driver (ABI.md 13): toward memory/target it gives
 * frames back to the host with decrease_reservation, or takes them again
 * with increase_reservation. The agent uses no memory above the builder's
 * first free frame, so the balloon takes frames from the top of RAM down
 * and gives them back bottom up: what is released is always the range
 * [nr_pages - released, nr_pages). A frame inside the bootstrap mapping
 * loses its direct-map alias first (a mapped frame cannot be released)
 * and gets it back when it is populated again.
 */
#include "guest.h"

#define BATCH 256

static const struct tg_start_info *si;
static uint64_t released; /* frames at the top of RAM given back */

static long memory_op(unsigned cmd, void *arg)
{
	return hypercall2(TG_HC_memory_op, cmd, arg);
}

static long reservation(unsigned cmd, const tg_gfn_t *gfns, uint64_t n)
{
	struct tg_memory_reservation r = {.extent_start = (uint64_t)gfns, .nr_extents = n, .domid = TG_DOMID_SELF};
	return memory_op(cmd, &r);
}

/* The direct-map alias of gfn, for the frames the bootstrap mapping covers. */
static bool alias(uint64_t gfn, bool present)
{
	if (gfn * TG_PAGE_SIZE >= si->boot_map_end)
		return true;
	uint64_t pte = present ? gfn * TG_PAGE_SIZE | TG_PTE_P | TG_PTE_RW | TG_PTE_NX : 0;
	return hypercall3(TG_HC_update_va_mapping, si->virt_base + gfn * TG_PAGE_SIZE, pte, TG_UVMF_INVLPG) == 0;
}

/* Gives back up to n frames from the top; false once nothing more can go. */
static bool shrink(uint64_t n)
{
	static tg_gfn_t gfns[BATCH];
	uint64_t lowest = (si->first_free_gpa + TG_PAGE_SIZE - 1) / TG_PAGE_SIZE;
	while (n) {
		uint64_t k = 0;
		for (; k < BATCH && k < n && si->nr_pages - released - k - 1 >= lowest; k++) {
			gfns[k] = si->nr_pages - released - k - 1;
			if (!alias(gfns[k], false))
				break;
		}
		long done = k ? reservation(TG_MEMOP_decrease_reservation, gfns, k) : 0;
		if (done < 0)
			return false;
		for (uint64_t i = (uint64_t)done; i < k; i++)
			alias(gfns[i], true); /* not released: its alias comes back */
		released += (uint64_t)done;
		n -= (uint64_t)done;
		if ((uint64_t)done < k || k == 0)
			return false;
	}
	return true;
}

/* Takes back up to n of the released frames, lowest first. */
static bool grow(uint64_t n)
{
	static tg_gfn_t gfns[BATCH];
	while (n && released) {
		uint64_t k = 0;
		for (; k < BATCH && k < n && k < released; k++)
			gfns[k] = si->nr_pages - released + k;
		long done = reservation(TG_MEMOP_increase_reservation, gfns, k);
		if (done < 0)
			return false;
		for (uint64_t i = 0; i < (uint64_t)done; i++)
			alias(gfns[i], true);
		released -= (uint64_t)done;
		n -= (uint64_t)done;
		if ((uint64_t)done < k)
			return false;
	}
	return true;
}

void balloon_toward(const struct tg_start_info *start_info, uint64_t target_kib)
{
	si = start_info;
	tg_domid_t self = TG_DOMID_SELF;
	long cur = memory_op(TG_MEMOP_current_reservation, &self);
	uint64_t target = target_kib / (TG_PAGE_SIZE / 1024);
	if (cur > 0 && (uint64_t)cur > target)
		shrink((uint64_t)cur - target);
	else if (cur > 0 && (uint64_t)cur < target)
		grow(target - (uint64_t)cur);
	cur = memory_op(TG_MEMOP_current_reservation, &self);
	put_str("agent: balloon target ");
	put_dec(target_kib);
	put_str(" KiB, now ");
	put_dec(cur > 0 ? (uint64_t)cur * (TG_PAGE_SIZE / 1024) : 0);
	put_str(" KiB\n");
}
