/*
 * counter=1: the guest that save and restore tests run (ABI.md 21). A
 * 10 Hz timer; at every tick it prints "count N t=NS" (N never repeats or
 * goes back, NS is system time) after checking what a restore must have
 * brought back whole:
 *   - a 64 KiB memory pattern, rewritten for the next tick each time;
 *   - a page remapped with update_va_mapping to one of two frames in turn
 *     (page types and mapping counts travel);
 *   - a grant copy through the grant table into one of its pages;
 *   - a store key written and read back (the store and its ring travel).
 * With dirty=N (live migration tests and benchmarks) each tick also
 * rewrites N pages of the RAM above the boot mapping, in turn (at most
 * DIRTY_MAX_PAGES of them), each through one page-sized slot remapped with
 * update_va_mapping, first checking that the page still holds what it was
 * last given: pages dirtied between rounds must arrive with their last
 * contents.
 * A failed check prints "counter: FAILED ..." and crashes the domain.
 */
#include "guest.h"

#define PATTERN_WORDS 8192

static uint64_t pattern[PATTERN_WORDS];
static uint8_t frames[2][4096] __attribute__((aligned(4096)));
static uint8_t window[4096] __attribute__((aligned(4096)));
static const struct tg_start_info *si;
static bool have_store, have_grants;
static uint64_t last_time;

#define DIRTY_MAX_PAGES 32768
static uint64_t dirty_per_tick, dirty_window, dirty_next, dirty_first_gfn;
static uint8_t dirty_slot[4096] __attribute__((aligned(4096)));
static uint32_t dirty_tick[DIRTY_MAX_PAGES]; /* the tick that last wrote each page; 0 = never */

static uint64_t mix(uint64_t i, uint64_t tick)
{
	uint64_t x = (i + 1) * 0x9e3779b97f4a7c15ULL ^ (tick << 17) ^ tick;
	x ^= x >> 29;
	return x * 0xbf58476d1ce4e5b9ULL;
}

static __attribute__((noreturn)) void fail(const char *what, uint64_t tick)
{
	put_str("counter: FAILED ");
	put_str(what);
	put_str(" at count ");
	put_dec(tick);
	put_str("\n");
	shutdown(TG_SHUTDOWN_crash);
}

static void check_pattern(uint64_t tick)
{
	for (uint64_t i = 0; i < PATTERN_WORDS; i++) {
		if (pattern[i] != mix(i, tick - 1))
			fail("memory pattern", tick);
		pattern[i] = mix(i, tick);
	}
}

/* The window maps frames[tick % 2]; each frame holds its own index. */
static void check_window(uint64_t tick)
{
	uint64_t va = (uint64_t)window;
	uint8_t *frame = frames[tick % 2];
	uint64_t entry = ((uint64_t)frame - si->virt_base) | TG_PTE_P | TG_PTE_RW | TG_PTE_NX;
	if (hypercall3(TG_HC_update_va_mapping, va, entry, TG_UVMF_INVLPG) != 0)
		fail("update_va_mapping", tick);
	volatile uint64_t *seen = (volatile uint64_t *)window;
	if (seen[0] != 0x600d0000ULL + tick % 2 || seen[1] != (tick & ~1ULL))
		fail("remapped page", tick);
	seen[1] = (tick + 2) & ~1ULL; /* what this frame shows two ticks on */
}

static void store_tick(uint64_t tick)
{
	char value[24], back[24];
	uint64_t v = tick;
	int n = 0;
	char digits[24];
	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (int i = 0; i < n; i++)
		value[i] = digits[n - 1 - i];
	value[n] = 0;
	if (!xs_write_str(0, "data/counter", value) || !xs_read_str(0, "data/counter", back, sizeof(back)) ||
	    !str_eq(back, value))
		fail("store key", tick);
}

/* The RAM nothing maps: [boot_map_end, nr_pages). */
static void dirty_init(void)
{
	char value[24];
	if (!cmdline_value(si->cmdline, "dirty", value, sizeof(value)))
		return;
	dirty_first_gfn = si->boot_map_end / 4096;
	dirty_window = si->nr_pages > dirty_first_gfn ? si->nr_pages - dirty_first_gfn : 0;
	if (dirty_window > DIRTY_MAX_PAGES)
		dirty_window = DIRTY_MAX_PAGES;
	dirty_per_tick = parse_dec(value);
	put_str("counter: dirtying ");
	put_dec(dirty_per_tick);
	put_str(" pages per tick in a window of ");
	put_dec(dirty_window);
	put_str(" pages\n");
}

static void dirty_tick_pages(uint64_t n)
{
	volatile uint64_t *w = (volatile uint64_t *)dirty_slot;
	for (uint64_t i = 0; i < dirty_per_tick && dirty_window; i++) {
		uint64_t page = dirty_next;
		dirty_next = (dirty_next + 1) % dirty_window;
		uint64_t entry = (dirty_first_gfn + page) * 4096 | TG_PTE_P | TG_PTE_RW | TG_PTE_NX;
		if (hypercall3(TG_HC_update_va_mapping, (uint64_t)dirty_slot, entry, TG_UVMF_INVLPG) != 0)
			fail("update_va_mapping of the dirtying slot", n);
		uint64_t last = dirty_tick[page];
		if (last && (w[0] != last || w[511] != mix(page, last)))
			fail("dirtied page", n);
		w[0] = n;
		w[511] = mix(page, n);
		dirty_tick[page] = (uint32_t)n;
	}
}

static void tick(uint64_t n)
{
	uint64_t now = system_time_ns();
	if (now < last_time)
		fail("system time went back", n);
	last_time = now;
	check_pattern(n);
	check_window(n);
	if (have_grants && !gnt_counter_tick(n))
		fail("grant copy", n);
	if (have_store)
		store_tick(n);
	dirty_tick_pages(n);
	put_str("count ");
	put_dec(n);
	put_str(" t=");
	put_dec(now);
	put_str("\n");
}

void counter_run(const struct tg_start_info *start_info)
{
	si = start_info;
	for (uint64_t i = 0; i < PATTERN_WORDS; i++)
		pattern[i] = mix(i, 0);
	for (int f = 0; f < 2; f++) {
		uint64_t *w = (uint64_t *)frames[f];
		w[0] = 0x600d0000ULL + (uint64_t)f;
		w[1] = f == 0 ? 2 : 0; /* frame 1 is first seen at tick 1, frame 0 at tick 2 */
	}
	have_grants = gnt_init(si);
	have_store = xs_init(si);
	put_str("counter: ready (grants ");
	put_str(have_grants ? "yes" : "no");
	put_str(", store ");
	put_str(have_store ? "yes" : "no");
	put_str(")\n");
	dirty_init();
	ev_run_ticks(si, 10, tick);
}
