/*
 * The test guest's block frontend (ABI.md 15, 18): one ring, data pages
 * granted to the VMM, the disk's doorbell to notify, sched_op poll to
 * wait (the port is masked: no upcalls). It writes patterns over the whole
 * disk with many requests in flight, flushes, reads back and verifies,
 * sends the backend every kind of bad request, and provides the vbd-*
 * bench kinds and scenarios.
 *
 * Discovery and connection go through the store (ABI.md 17): the frontend
 * directory device/vbd/51712 names the backend's, whose keys give the
 * disk's size and features; the frontend publishes its ring reference and
 * port and the two sides step through InitWait, Initialised, Connected.
 */
#include "guest.h"
#include "blk_pattern.h"

#define QD_MAX 32
#define SLOT_PAGES 8 /* pages per request: 64 sectors */
#define SLOT_SECTORS (SLOT_PAGES * TG_BLKIF_SECTORS_PER_PAGE)
#define DATA_REF0 16
#define WAIT_NS 20000000000ULL
#define TIMED_OUT 1000 /* a status no response carries */
#define RING_REF 1
#define FRONTEND_DIR "device/vbd/51712"

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

extern struct tg_shared_info *shared_info;

static const struct tg_start_info *si;
static union {
	struct tg_blkif_sring s;
	uint8_t page[4096];
} ring_page __attribute__((aligned(4096)));
static struct tg_blkif_front_ring fr;
static uint8_t data[QD_MAX * SLOT_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t doorbell_window[4096] __attribute__((aligned(4096)));
static volatile uint64_t *doorbell;
static uint32_t port;
static uint64_t sectors;
static bool connected, read_only, has_discard;
static char backend_dir[128];
static uint64_t doorbells, polls, stray_responses;

static struct slot {
	bool busy, done;
	int16_t status;
	uint8_t op;
	uint64_t sector;
	uint32_t nsect;
} slot[QD_MAX];

static uint32_t slot_ref(unsigned s, unsigned page)
{
	return DATA_REF0 + s * SLOT_PAGES + page;
}

static uint8_t *slot_page(unsigned s, unsigned page)
{
	return data[s * SLOT_PAGES + page];
}

static long sched_poll_port(uint32_t p, uint64_t deadline)
{
	uint32_t ports[1] = {p};
	struct tg_sched_poll sp = {.ports = (uint64_t)ports, .nr_ports = 1, .timeout_ns = deadline};
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &sp);
}

static void port_bit(uint64_t *words, unsigned nr, bool set)
{
	if (set)
		__atomic_fetch_or(&words[nr / 64], 1ULL << (nr % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&words[nr / 64], ~(1ULL << (nr % 64)), __ATOMIC_SEQ_CST);
}

/* ---- the ring ------------------------------------------------------------ */

/* A decimal key of the backend's directory, or `otherwise`. */
static uint64_t backend_key(const char *key, uint64_t otherwise)
{
	return xs_backend_key(backend_dir, key, otherwise);
}

/* ABI.md 17.3, the frontend's half, up to Connected. */
static bool blk_handshake(void)
{
	if (!xs_init(si) || !xs_frontend_wait_backend(FRONTEND_DIR, backend_dir, sizeof backend_dir))
		return false;
	sectors = backend_key(TG_BLKIF_KEY_SECTORS, 0);
	read_only = backend_key(TG_BLKIF_KEY_READ_ONLY, 1) != 0;
	has_discard = backend_key(TG_BLKIF_KEY_FEATURE_DISCARD, 0) == 1;
	if (backend_key(TG_BLKIF_KEY_MAX_SEGMENTS, 0) < TG_BLKIF_MAX_SEGMENTS || !gnt_init(si))
		return false;
	TG_RING_SHARED_INIT(&ring_page.s);
	TG_RING_FRONT_INIT(&fr, &ring_page.s);
	gnt_grant(RING_REF, gfn_of(&ring_page), false);
	struct tg_evtchn_alloc_unbound au = {.remote_dom = TG_DOMID_VMM};
	if (hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_alloc_unbound, &au) != 0)
		return false;
	port = au.port;
	port_bit(shared_info->evtchn_mask, port, true); /* we poll; no upcalls */
	const char *keys[] = {TG_BLKIF_KEY_RING_REF, TG_BLKIF_KEY_EVENT_CHANNEL};
	uint64_t values[] = {RING_REF, port};
	return xs_frontend_publish(FRONTEND_DIR, backend_dir, keys, values, 2);
}

static bool blk_connect(void)
{
	if (connected)
		return true;
	if (si->doorbell_gpa == 0 || !blk_handshake())
		return false;
	for (unsigned i = 0; i < QD_MAX * SLOT_PAGES; i++)
		gnt_grant(DATA_REF0 + i, gfn_of(data[i]), false);
	uint64_t slot_gpa = TG_DOORBELL_GPA(si->doorbell_gpa, port);
	uint64_t pte = (slot_gpa & ~(TG_PAGE_SIZE - 1)) | TG_PTE_P | TG_PTE_RW | TG_PTE_PCD | TG_PTE_PWT | TG_PTE_NX;
	if (hypercall3(TG_HC_update_va_mapping, (uint64_t)doorbell_window, pte, TG_UVMF_INVLPG) != 0)
		return false;
	doorbell = (volatile uint64_t *)(doorbell_window + (slot_gpa & (TG_PAGE_SIZE - 1)));
	connected = true;
	return true;
}

static void blk_submit(const struct tg_blkif_request *req)
{
	*TG_RING_GET_REQUEST(&fr, fr.req_prod_pvt) = *req;
	fr.req_prod_pvt++;
}

/* Publishes the queued requests; rings only when the backend asked. */
static void blk_push(void)
{
	int notify;
	TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&fr, notify);
	if (notify) {
		*doorbell = 1;
		doorbells++;
	}
}

static unsigned blk_consume(void)
{
	unsigned n = 0;
	uint32_t prod = TG_RING_READ_IDX(fr.sring->rsp_prod);
	TG_RING_RMB();
	while (fr.rsp_cons != prod) {
		struct tg_blkif_response r = *TG_RING_GET_RESPONSE(&fr, fr.rsp_cons);
		fr.rsp_cons++;
		if (r.id < QD_MAX && slot[r.id].busy && !slot[r.id].done && r.op == slot[r.id].op) {
			slot[r.id].done = true;
			slot[r.id].status = r.status;
			n++;
		} else {
			stray_responses++;
		}
	}
	return n;
}

/* Waits for at least one response (15.3: clear, look, re-arm, look, sleep). */
static bool blk_wait(void)
{
	uint64_t deadline = system_time_ns() + WAIT_NS;
	for (;;) {
		port_bit(shared_info->evtchn_pending, port, false);
		if (blk_consume())
			return true;
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(&fr, more);
		if (more)
			continue;
		polls++;
		if (sched_poll_port(port, deadline) == -TG_ETIMEDOUT)
			return blk_consume() != 0;
	}
}

static void fill_rw(struct tg_blkif_request *r, uint8_t op, unsigned s, uint64_t sector, uint32_t n)
{
	mem_set(r, 0, sizeof *r);
	r->op = op;
	r->id = s;
	r->sector = sector;
	r->nr_segments = (uint8_t)((n + 7) / 8);
	for (unsigned i = 0; i < r->nr_segments; i++) {
		r->seg[i].gref = slot_ref(s, i);
		r->seg[i].first_sect = 0;
		r->seg[i].last_sect = i + 1 == r->nr_segments ? (uint8_t)((n - 1) % 8) : 7;
	}
}

static void start_slot(unsigned s, const struct tg_blkif_request *r, uint64_t sector, uint32_t n)
{
	slot[s] = (struct slot){.busy = true, .op = r->op, .sector = sector, .nsect = n};
	blk_submit(r);
}

/* One request on slot 0, nothing else in flight: its status. */
static int blk_sync(struct tg_blkif_request *r)
{
	r->id = 0;
	start_slot(0, r, r->sector, 0);
	blk_push();
	while (!slot[0].done)
		if (!blk_wait())
			return TIMED_OUT;
	slot[0].busy = false;
	return slot[0].status;
}

/* ---- patterns -------------------------------------------------------------- */

static void pattern_fill(unsigned s, uint64_t sector, uint32_t n, uint64_t seed)
{
	for (uint64_t i = 0; i < (uint64_t)n * 64; i++)
		((uint64_t *)slot_page(s, (unsigned)(i / 512)))[i % 512] = blk_pattern_word(seed, sector * 64 + i);
}

static uint64_t pattern_mismatches(unsigned s, uint64_t sector, uint32_t n, uint64_t seed)
{
	uint64_t bad = 0;
	for (uint64_t i = 0; i < (uint64_t)n * 64; i++)
		bad += ((uint64_t *)slot_page(s, (unsigned)(i / 512)))[i % 512] != blk_pattern_word(seed, sector * 64 + i);
	return bad;
}

/*
 * Writes or reads (and verifies) the whole disk with qd requests of up to
 * 64 sectors in flight. Returns false if the backend stopped answering.
 */
static bool blk_stream(uint8_t op, uint64_t seed, unsigned qd, uint64_t *errors, uint64_t *mismatches,
		       unsigned *max_in_flight)
{
	uint64_t next = 0;
	unsigned active = 0;
	*errors = *mismatches = 0;
	for (unsigned s = 0; s < QD_MAX; s++)
		slot[s].busy = false;
	while (next < sectors || active) {
		bool queued = false;
		for (unsigned s = 0; s < qd && next < sectors; s++) {
			if (slot[s].busy)
				continue;
			uint32_t n = sectors - next < SLOT_SECTORS ? (uint32_t)(sectors - next) : SLOT_SECTORS;
			struct tg_blkif_request r;
			fill_rw(&r, op, s, next, n);
			if (op == TG_BLKIF_OP_WRITE)
				pattern_fill(s, next, n, seed);
			start_slot(s, &r, next, n);
			next += n;
			active++;
			queued = true;
		}
		if (max_in_flight && active > *max_in_flight)
			*max_in_flight = active;
		if (queued)
			blk_push();
		if (!blk_wait())
			return false;
		for (unsigned s = 0; s < qd; s++) {
			if (!slot[s].busy || !slot[s].done)
				continue;
			*errors += slot[s].status != 0;
			if (op == TG_BLKIF_OP_READ && slot[s].status == 0)
				*mismatches += pattern_mismatches(s, slot[s].sector, slot[s].nsect, seed);
			slot[s].busy = false;
			active--;
		}
	}
	return true;
}

static int blk_flush(void)
{
	struct tg_blkif_request r = {.op = TG_BLKIF_OP_FLUSH};
	return blk_sync(&r);
}

static int blk_discard(uint64_t sector, uint64_t n)
{
	struct tg_blkif_request r = {.op = TG_BLKIF_OP_DISCARD, .sector = sector};
	r.discard.nr_sectors = n;
	return blk_sync(&r);
}

/* ---- the suite ------------------------------------------------------------ */

static uint64_t seed_from_cmdline(void)
{
	char v[24];
	return cmdline_value(si->cmdline, "vbdseed", v, sizeof v) ? parse_dec(v) : 1;
}

/*
 * Eleven segments, each sectors 1..6 of its page: 66 consecutive disk
 * sectors from disk_sector spread over the middle of eleven pages.
 */
static void fill_scattered(struct tg_blkif_request *r, uint8_t op, uint64_t disk_sector)
{
	mem_set(r, 0, sizeof *r);
	r->op = op;
	r->sector = disk_sector;
	r->nr_segments = TG_BLKIF_MAX_SEGMENTS;
	for (unsigned i = 0; i < TG_BLKIF_MAX_SEGMENTS; i++)
		r->seg[i] = (struct tg_blkif_segment){.gref = DATA_REF0 + i, .first_sect = 1, .last_sect = 6};
}

/* Word `word` (64..447) of page `page` after a scattered transfer at disk_sector. */
static uint64_t scattered_word(unsigned page, unsigned word, uint64_t seed, uint64_t disk_sector)
{
	return blk_pattern_word(seed, (disk_sector + 6 * page) * 64 + (word - 64));
}

static void check_scattered(uint64_t seed)
{
	const uint64_t at = 5;
	struct tg_blkif_request r;
	for (unsigned p = 0; p < TG_BLKIF_MAX_SEGMENTS; p++)
		for (unsigned w = 0; w < 512; w++)
			((uint64_t *)data[p])[w] = w >= 64 && w < 448 ? scattered_word(p, w, seed, at) : 0xeeeeeeeeeeeeeeeeULL;
	fill_scattered(&r, TG_BLKIF_OP_WRITE, at);
	check_rc(blk_sync(&r), 0, "vbd: a write of 11 segments of sectors 1..6 each");
	for (unsigned p = 0; p < TG_BLKIF_MAX_SEGMENTS; p++)
		mem_set(data[p], 0xee, 4096);
	fill_scattered(&r, TG_BLKIF_OP_READ, at);
	check_rc(blk_sync(&r), 0, "vbd: a read of 11 segments of sectors 1..6 each");
	uint64_t bad = 0;
	for (unsigned p = 0; p < TG_BLKIF_MAX_SEGMENTS; p++)
		for (unsigned w = 0; w < 512; w++)
			bad += ((uint64_t *)data[p])[w] != (w >= 64 && w < 448 ? scattered_word(p, w, seed, at)
										 : 0xeeeeeeeeeeeeeeeeULL);
	check(bad == 0, "vbd: ... each segment's sectors landed at their offsets, and nothing outside them");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, at, 66);
	check_rc(blk_sync(&r), 0, "vbd: the same 66 sectors read back as one contiguous request");
	bad = 0;
	for (unsigned i = 0; i < 66 * 64; i++)
		bad += ((uint64_t *)slot_page(0, i / 512))[i % 512] != blk_pattern_word(seed, at * 64 + i);
	check(bad == 0, "vbd: ... and they are consecutive on the disk");
}

static void check_bad_requests(void)
{
	uint64_t pt_gfn = (si->pt_base - si->virt_base) >> 12;
	struct tg_blkif_request r;
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 0, 8);
	r.op = 7;
	check_rc(blk_sync(&r), -TG_EOPNOTSUPP, "vbd: an unknown operation is answered -EOPNOTSUPP");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 0, 8);
	r.handle = 1;
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: a nonzero handle is answered -EINVAL");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 0, 8);
	r.nr_segments = TG_BLKIF_MAX_SEGMENTS + 1;
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: too many segments is answered -EINVAL");
	r.nr_segments = 0;
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: a read of no segments is answered -EINVAL");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 0, 8);
	r.seg[0].first_sect = 5;
	r.seg[0].last_sect = 3;
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: first_sect > last_sect is answered -EINVAL");
	r.seg[0].first_sect = 0;
	r.seg[0].last_sect = 8;
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: last_sect 8 is answered -EINVAL");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, sectors - 4, 8);
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: a read across the end of the disk is answered -EINVAL");
	fill_rw(&r, TG_BLKIF_OP_WRITE, 0, ~0ULL - 3, 8);
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: a sector near 2^64 (overflow) is answered -EINVAL");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 0, 16);
	r.seg[1].gref = 60000;
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a grant reference beyond the table is answered -EACCES");
	r.seg[1].gref = 1500;
	gnt_entry(1500)->flags = 0;
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a revoked grant is answered -EACCES");
	gnt_grant(1500, gfn_of(data[0]), true);
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a read into a read-only grant is answered -EACCES");
	gnt_grant(1500, gfn_of(data[0]), false);
	gnt_entry(1500)->domid = 4;
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a grant to another domid is answered -EACCES");
	gnt_grant(1500, pt_gfn, false);
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a grant of a page-table frame is answered -EACCES");
	gnt_grant(1500, si->nr_pages + 1, false);
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a grant of a frame outside RAM is answered -EACCES");
	gnt_grant(1500, si->console_ring_gfn, false);
	check_rc(blk_sync(&r), -TG_EACCES, "vbd: a grant of a VMM frame (the console ring) is answered -EACCES");
	check(gnt_revoke(1500), "vbd: the refused grants are not left in use");
	r = (struct tg_blkif_request){.op = TG_BLKIF_OP_FLUSH, .nr_segments = 1};
	check_rc(blk_sync(&r), -TG_EINVAL, "vbd: a flush with a segment is answered -EINVAL");
	if (has_discard) {
		r = (struct tg_blkif_request){.op = TG_BLKIF_OP_DISCARD, .sector = 0};
		r.discard.nr_sectors = 8;
		r.discard._reserved = 1;
		check_rc(blk_sync(&r), -TG_EINVAL, "vbd: a discard with reserved bits is answered -EINVAL");
		check_rc(blk_discard(sectors - 1, 2), -TG_EINVAL, "vbd: a discard across the end is answered -EINVAL");
	}
	bool idle = true;
	for (unsigned i = 0; i < QD_MAX * SLOT_PAGES; i++)
		idle = idle && gnt_entry(DATA_REF0 + i)->flags == TG_GTF_permit_access;
	check(idle && stray_responses == 0, "vbd: every data grant is idle again, and no response was stray");
}

static void check_read_write(uint64_t seed)
{
	uint64_t errors, bad;
	unsigned max_in_flight = 0;
	bool ok = blk_stream(TG_BLKIF_OP_WRITE, seed, QD_MAX, &errors, &bad, &max_in_flight);
	check(ok && errors == 0, "vbd: the whole disk written with 64-sector requests");
	check(max_in_flight == QD_MAX, "vbd: ... with 32 requests in flight");
	check_rc(blk_flush(), 0, "vbd: flush");
	ok = blk_stream(TG_BLKIF_OP_READ, seed, 8, &errors, &bad, NULL);
	check(ok && errors == 0 && bad == 0, "vbd: the whole disk read back bit-exact, 8 in flight");
	check_scattered(seed + 1);
	struct tg_blkif_request r;
	gnt_grant(slot_ref(0, 0), gfn_of(slot_page(0, 0)), true);
	fill_rw(&r, TG_BLKIF_OP_WRITE, 0, 0, 8);
	pattern_fill(0, 0, 8, seed);
	check_rc(blk_sync(&r), 0, "vbd: a write from a read-only grant");
	gnt_grant(slot_ref(0, 0), gfn_of(slot_page(0, 0)), false);
	fill_rw(&r, TG_BLKIF_OP_WRITE, 0, 5, 66);
	pattern_fill(0, 5, 66, seed);
	check_rc(blk_sync(&r), 0, "vbd: the scattered sectors restored");
	if (has_discard) {
		check_rc(blk_discard(sectors - 64, 64), 0, "vbd: discard of the last 64 sectors");
		fill_rw(&r, TG_BLKIF_OP_WRITE, 0, sectors - 64, 64);
		pattern_fill(0, sectors - 64, 64, seed);
		check_rc(blk_sync(&r), 0, "vbd: ... and written again");
	}
	check_rc(blk_flush(), 0, "vbd: flush again");
}

static void check_read_only(uint64_t seed)
{
	uint64_t errors, bad;
	bool ok = blk_stream(TG_BLKIF_OP_READ, seed, QD_MAX, &errors, &bad, NULL);
	check(ok && errors == 0 && bad == 0, "vbd: read-only disk: its contents read bit-exact");
	struct tg_blkif_request r;
	fill_rw(&r, TG_BLKIF_OP_WRITE, 0, 0, 8);
	check_rc(blk_sync(&r), -TG_EPERM, "vbd: read-only disk: a write is answered -EPERM");
	check_rc(blk_discard(0, 8), -TG_EPERM, "vbd: read-only disk: a discard is answered -EPERM");
	check_rc(blk_flush(), 0, "vbd: read-only disk: a flush succeeds");
}

void blk_selftest(const struct tg_start_info *start_info)
{
	si = start_info;
	char value[64];
	if (!xs_init(si) || !xs_read_str(0, FRONTEND_DIR "/" TG_STORE_KEY_BACKEND, value, sizeof value)) {
		put_line("# vbd skipped: no disk in the store");
		return;
	}
	check(blk_connect(), "vbd: connected through the store (InitWait, Initialised, Connected)");
	if (!connected)
		return;
	struct tg_evtchn_status st = {.port = port};
	check(hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_status, &st) == 0 && st.status == TG_EVTCHNSTAT_backend,
	      "vbd: the frontend's port is now bound to the VMM's block backend");
	check(sectors >= 128, "vbd: the backend directory describes the disk");
	uint64_t seed = seed_from_cmdline();
	if (read_only)
		check_read_only(seed);
	else
		check_read_write(seed);
	check_bad_requests();
	put_str("# vbd: doorbells ");
	put_dec(doorbells);
	put_str(", polls ");
	put_dec(polls);
	put_str("\n");
}

/* vbd=fill-flush-hold: the whole disk written, flushed, then wait to be killed. */
void blk_fill_flush_hold(const struct tg_start_info *start_info)
{
	si = start_info;
	uint64_t errors, bad;
	if (!blk_connect() || !blk_stream(TG_BLKIF_OP_WRITE, seed_from_cmdline(), QD_MAX, &errors, &bad, NULL) ||
	    errors != 0 || blk_flush() != 0) {
		put_line("vbd: fill and flush failed");
		shutdown(TG_SHUTDOWN_crash);
	}
	put_line("vbd: flushed");
	for (;;)
		sched_poll_port(port, 0);
}

/*
 * vbd=seq: the disk a save and restore test watches (ABI.md 21). Batches
 * of SEQ_BATCH one-sector writes, all in flight at once: write n goes to
 * sector n and holds blk_seq_magic and n in its first two words. After
 * each batch is acknowledged, "vbd: acked N" (N the batch's last), then a
 * pause of every=MS (default 20). A failed write prints "vbd: seq FAILED"
 * and crashes the domain; connecting is said once ("vbd: seq connected").
 */
#define SEQ_BATCH 4

void blk_sequence(const struct tg_start_info *start_info)
{
	si = start_info;
	char v[16] = "20";
	cmdline_value(si->cmdline, "every", v, sizeof v);
	uint64_t every = parse_dec(v) * 1000000ULL;
	if (!blk_connect() || read_only) {
		put_line("vbd: seq FAILED to connect a writable disk");
		shutdown(TG_SHUTDOWN_crash);
	}
	put_line("vbd: seq connected");
	for (uint64_t n = 1; n + SEQ_BATCH < sectors; n += SEQ_BATCH) {
		for (unsigned s = 0; s < SEQ_BATCH; s++) {
			uint64_t *w = (uint64_t *)slot_page(s, 0);
			w[0] = BLK_SEQ_MAGIC;
			w[1] = n + s;
			for (unsigned i = 2; i < 64; i++)
				w[i] = blk_pattern_word(n + s, i);
			struct tg_blkif_request r;
			fill_rw(&r, TG_BLKIF_OP_WRITE, s, n + s, 1);
			start_slot(s, &r, n + s, 1);
		}
		blk_push();
		for (unsigned s = 0; s < SEQ_BATCH; s++) {
			while (!slot[s].done)
				if (!blk_wait()) {
					put_line("vbd: seq FAILED: no answer");
					shutdown(TG_SHUTDOWN_crash);
				}
			slot[s].busy = false;
			if (slot[s].status != 0) {
				put_str("vbd: seq FAILED: status ");
				put_sdec(slot[s].status);
				put_str("\n");
				shutdown(TG_SHUTDOWN_crash);
			}
		}
		put_str("vbd: acked ");
		put_dec(n + SEQ_BATCH - 1);
		put_str("\n");
		uint64_t until = system_time_ns() + every;
		while (system_time_ns() < until) {
			port_bit(shared_info->evtchn_pending, port, false);
			sched_poll_port(port, until);
		}
	}
	put_line("vbd: seq reached the end of the disk");
	shutdown(TG_SHUTDOWN_poweroff);
}

/* ---- hostile frontends ------------------------------------------------------ */

/* Sets our state key and waits for the backend to reach `want`. */
static bool front_state_then_wait(uint64_t mine, uint64_t want)
{
	char value[4] = {(char)('0' + mine), 0};
	if (!xs_write_str(0, FRONTEND_DIR "/" TG_STORE_KEY_STATE, value))
		return false;
	for (int events = 0; events < 16; events++) {
		if (backend_key(TG_STORE_KEY_STATE, 0) == want)
			return true;
		if (!xs_wait_event())
			return false;
	}
	return false;
}

/*
 * vbd-reconnect: a write, then the frontend closes the device (Closing,
 * Closed, its port closed), starts over (Initialising), connects again
 * with a new port, and reads the data back (ABI.md 17.3).
 */
static void blk_reconnect(void)
{
	struct tg_blkif_request r;
	fill_rw(&r, TG_BLKIF_OP_WRITE, 0, 64, 8);
	pattern_fill(0, 64, 8, 77);
	check_rc(blk_sync(&r), 0, "reconnect: a write before closing");
	xs_watch_backend_state(backend_dir);
	check(front_state_then_wait(TG_STATE_CLOSING, TG_STATE_CLOSED), "reconnect: Closing makes the backend Closed");
	struct tg_evtchn_port_op close = {.port = port};
	check(hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_close, &close) == 0, "reconnect: our port closes");
	check(gnt_revoke(RING_REF), "reconnect: the ring's grant revokes (the backend let go of it)");
	check(front_state_then_wait(TG_STATE_CLOSED, TG_STATE_CLOSED) &&
		      front_state_then_wait(TG_STATE_INITIALISING, TG_STATE_INIT_WAIT),
	      "reconnect: Initialising brings the backend back to InitWait");
	xs_unwatch_backend_state(backend_dir);
	connected = false;
	bool again = blk_connect();
	struct tg_evtchn_status st = {.port = port};
	check(again && hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_status, &st) == 0 &&
		      st.status == TG_EVTCHNSTAT_backend,
	      "reconnect: connected again, the new port bound to the backend");
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 64, 8);
	mem_set(slot_page(0, 0), 0, 4096);
	check(blk_sync(&r) == 0 && pattern_mismatches(0, 64, 8, 77) == 0, "reconnect: the data reads back");
}

bool blk_scenario(const struct tg_start_info *start_info, const char *name)
{
	si = start_info;
	if (!str_eq(name, "vbd-runaway") && !str_eq(name, "vbd-ring-revoked") && !str_eq(name, "vbd-reconnect"))
		return false;
	if (str_eq(name, "vbd-reconnect")) {
		if (blk_connect())
			blk_reconnect();
		return true;
	}
	if (!blk_connect()) {
		put_line("scenario: no disk");
		return true;
	}
	struct tg_blkif_request r;
	fill_rw(&r, TG_BLKIF_OP_READ, 0, 0, 8);
	if (str_eq(name, "vbd-runaway")) {
		/* A producer index far beyond what the ring holds. */
		TG_RING_WRITE_IDX(fr.sring->req_prod, fr.req_prod_pvt + 1000);
	} else {
		check(gnt_revoke(RING_REF), "the ring's grant is revoked while connected");
		start_slot(0, &r, 0, 8);
		TG_RING_PUSH_REQUESTS(&fr);
	}
	xs_watch_backend_state(backend_dir);
	*doorbell = 1;
	/* The backend lets go of the device (ABI.md 15.4, 17.3). */
	bool closed = false;
	for (int events = 0; events < 8 && !closed; events++) {
		closed = backend_key(TG_STORE_KEY_STATE, 0) == TG_STATE_CLOSED;
		if (!closed && !xs_wait_event())
			break;
	}
	if (closed) {
		put_line("scenario: the backend closed the device");
		shutdown(TG_SHUTDOWN_poweroff);
	}
	return true;
}

/* ---- bench kinds: vbd-{seq,rand}-{read,write}, qd=1..32 ------------------- */

static struct {
	bool write, random;
	unsigned qd;
	uint32_t nsect;
} bench;

bool blk_bench_kind(const char *kind)
{
	return str_eq(kind, "vbd-seq-read") || str_eq(kind, "vbd-seq-write") || str_eq(kind, "vbd-rand-read") ||
	       str_eq(kind, "vbd-rand-write");
}

bool blk_bench_prepare(const struct tg_start_info *start_info, const char *kind)
{
	si = start_info;
	char v[16] = "1";
	cmdline_value(si->cmdline, "qd", v, sizeof v);
	bench.qd = (unsigned)parse_dec(v);
	if (bench.qd == 0 || bench.qd > QD_MAX)
		return false;
	bench.write = str_eq(kind, "vbd-seq-write") || str_eq(kind, "vbd-rand-write");
	bench.random = str_eq(kind, "vbd-rand-read") || str_eq(kind, "vbd-rand-write");
	bench.nsect = bench.random ? 8 : SLOT_SECTORS;
	return blk_connect() && sectors >= SLOT_SECTORS && !(bench.write && read_only);
}

static uint64_t bench_next_sector(uint64_t *seq, uint64_t *rng)
{
	if (bench.random) {
		*rng ^= *rng << 13;
		*rng ^= *rng >> 7;
		*rng ^= *rng << 17;
		return (*rng % (sectors / 8)) * 8;
	}
	uint64_t s = *seq;
	*seq = s + bench.nsect + bench.nsect > sectors ? 0 : s + bench.nsect;
	return s;
}

void blk_bench_run(uint64_t n)
{
	uint64_t issued = 0, completed = 0, seq = 0, rng = 0x2545f4914f6cdd1dULL, errors = 0;
	uint8_t op = bench.write ? TG_BLKIF_OP_WRITE : TG_BLKIF_OP_READ;
	for (unsigned s = 0; s < QD_MAX; s++)
		slot[s].busy = false;
	while (completed < n) {
		bool queued = false;
		for (unsigned s = 0; s < bench.qd && issued < n; s++) {
			if (slot[s].busy)
				continue;
			uint64_t sector = bench_next_sector(&seq, &rng);
			struct tg_blkif_request r;
			fill_rw(&r, op, s, sector, bench.nsect);
			start_slot(s, &r, sector, bench.nsect);
			issued++;
			queued = true;
		}
		if (queued)
			blk_push();
		if (!blk_wait())
			break;
		for (unsigned s = 0; s < bench.qd; s++) {
			if (slot[s].busy && slot[s].done) {
				errors += slot[s].status != 0;
				slot[s].busy = false;
				completed++;
			}
		}
	}
	put_str("# vbd bench bytes_per_request=");
	put_dec((uint64_t)bench.nsect * TG_BLKIF_SECTOR_SIZE);
	put_str(" doorbells=");
	put_dec(doorbells);
	put_str(" polls=");
	put_dec(polls);
	put_str(" errors=");
	put_dec(errors + (n - completed));
	put_str("\n");
}
