/*
 * The agent's frontends (agent=1, ABI.md 17-19): one instance per plugged
 * disk (up to 4) and NIC (up to 2), each with its own ring pages, grant
 * references, port and doorbell window, so devices come and go
 * independently. A disk is connected, its first 8 sectors written with
 * the pattern of its id (blk_pattern.h, seed = the vbd id), flushed and
 * read back; a NIC is connected with a few receive buffers posted. When
 * the backend asks (online 0, Closing or Closed) or the directories
 * vanish, the instance lets go as 17.3 says: Closing, wait for the
 * backend's Closed, close the port, revoke the grants, Closed.
 *
 * Every line it prints starts with "agent: " for the host's tests.
 */
#include "guest.h"
#include "blk_pattern.h"

#define MAX_VBD 4
#define MAX_VIF 2
#define RX_BUFS 4
#define VBD_REF0 400 /* slot s: ring 400 + 4s, write page +1, read page +2 */
#define VIF_REF0 440 /* slot s: tx ring 440 + 8s, rx ring +1, rx buffers +2.. */
#define WAIT_NS 5000000000ULL
#define PATTERN_SECTORS 8

extern struct tg_shared_info *shared_info;

enum dev_state { DEV_FREE, DEV_CONNECTED, DEV_RELEASED };

struct agent_dev {
	enum dev_state state;
	bool vif;
	uint32_t id;
	unsigned slot;
	char fdir[48], bdir[128];
	uint32_t port;
	volatile uint64_t *doorbell;
};

static const struct tg_start_info *si;
static struct agent_dev vbds[MAX_VBD], vifs[MAX_VIF];

static union {
	struct tg_blkif_sring s;
	uint8_t page[4096];
} vbd_ring[MAX_VBD] __attribute__((aligned(4096)));
static struct tg_blkif_front_ring vbd_fr[MAX_VBD];
static uint8_t vbd_data[MAX_VBD][2][4096] __attribute__((aligned(4096)));

static union {
	struct tg_netif_tx_sring s;
	uint8_t page[4096];
} vif_tx[MAX_VIF] __attribute__((aligned(4096)));
static union {
	struct tg_netif_rx_sring s;
	uint8_t page[4096];
} vif_rx[MAX_VIF] __attribute__((aligned(4096)));
static uint8_t vif_bufs[MAX_VIF][RX_BUFS][4096] __attribute__((aligned(4096)));

/* One doorbell window per instance: each maps its own port's page. */
static uint8_t windows[MAX_VBD + MAX_VIF][4096] __attribute__((aligned(4096)));

/* ---- small helpers -------------------------------------------------------- */

static void put_dev(const struct agent_dev *d, const char *what)
{
	put_str(d->vif ? "agent: vif " : "agent: vbd ");
	put_dec(d->id);
	put_str(what);
}

static void str_copy(char *dst, size_t cap, const char *a, const char *b)
{
	size_t n = 0;
	for (; a && *a && n + 1 < cap; a++)
		dst[n++] = *a;
	for (; b && *b && n + 1 < cap; b++)
		dst[n++] = *b;
	dst[n] = 0;
}

static void dec_text(char *out, uint64_t v)
{
	char tmp[24];
	int n = 0;
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n)
		*out++ = tmp[--n];
	*out = 0;
}

/* A decimal key of a directory, or `otherwise` (also when it is absent). */
static uint64_t dir_key(const char *dir, const char *key, uint64_t otherwise)
{
	return xs_backend_key(dir, key, otherwise);
}

static bool write_front_state(struct agent_dev *d, uint64_t state)
{
	char path[96], value[4];
	str_copy(path, sizeof path, d->fdir, "/" TG_STORE_KEY_STATE);
	dec_text(value, state);
	return xs_write_str(0, path, value);
}

static void port_mask(uint32_t port)
{
	__atomic_fetch_or(&shared_info->evtchn_mask[port / 64], 1ULL << (port % 64), __ATOMIC_SEQ_CST);
}

static void port_clear(uint32_t port)
{
	__atomic_fetch_and(&shared_info->evtchn_pending[port / 64], ~(1ULL << (port % 64)), __ATOMIC_SEQ_CST);
}

static long poll_port(uint32_t port, uint64_t deadline)
{
	uint32_t ports[1] = {port};
	struct tg_sched_poll sp = {.ports = (uint64_t)ports, .nr_ports = 1, .timeout_ns = deadline};
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &sp);
}

/* A fresh port for the backend, masked (we poll), and its doorbell mapped. */
static bool alloc_port(struct agent_dev *d)
{
	struct tg_evtchn_alloc_unbound au = {.remote_dom = TG_DOMID_VMM};
	if (hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_alloc_unbound, &au) != 0)
		return false;
	d->port = au.port;
	port_mask(d->port);
	uint8_t *window = windows[(d->vif ? MAX_VBD : 0) + d->slot];
	uint64_t gpa = TG_DOORBELL_GPA(si->doorbell_gpa, d->port);
	uint64_t pte = (gpa & ~(TG_PAGE_SIZE - 1)) | TG_PTE_P | TG_PTE_RW | TG_PTE_PCD | TG_PTE_PWT | TG_PTE_NX;
	if (hypercall3(TG_HC_update_va_mapping, (uint64_t)window, pte, TG_UVMF_INVLPG) != 0)
		return false;
	d->doorbell = (volatile uint64_t *)(window + (gpa & (TG_PAGE_SIZE - 1)));
	return true;
}

/* The grant references an instance uses, for revoking them all. */
static unsigned dev_refs(const struct agent_dev *d, uint32_t *refs)
{
	unsigned n = 0;
	if (d->vif) {
		for (unsigned i = 0; i < 2 + RX_BUFS; i++)
			refs[n++] = VIF_REF0 + 8 * d->slot + i;
	} else {
		for (unsigned i = 0; i < 3; i++)
			refs[n++] = VBD_REF0 + 4 * d->slot + i;
	}
	return n;
}

/* ---- vbd -------------------------------------------------------------------- */

/* One request on the ring, nothing else in flight: its status, or 1 if none came. */
static int vbd_request(struct agent_dev *d, uint8_t op, uint32_t ref)
{
	struct tg_blkif_front_ring *fr = &vbd_fr[d->slot];
	struct tg_blkif_request *r = TG_RING_GET_REQUEST(fr, fr->req_prod_pvt);
	mem_set(r, 0, sizeof *r);
	r->op = op;
	r->id = 7;
	r->sector = 0;
	if (op != TG_BLKIF_OP_FLUSH) {
		r->nr_segments = 1;
		r->seg[0] = (struct tg_blkif_segment){.gref = ref, .first_sect = 0, .last_sect = PATTERN_SECTORS - 1};
	}
	fr->req_prod_pvt++;
	int notify;
	TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(fr, notify);
	if (notify)
		*d->doorbell = 1;
	uint64_t deadline = system_time_ns() + WAIT_NS;
	for (;;) {
		port_clear(d->port);
		if (fr->rsp_cons != TG_RING_READ_IDX(fr->sring->rsp_prod)) {
			TG_RING_RMB();
			struct tg_blkif_response rsp = *TG_RING_GET_RESPONSE(fr, fr->rsp_cons);
			fr->rsp_cons++;
			return rsp.id == 7 ? rsp.status : 1;
		}
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(fr, more);
		if (!more && poll_port(d->port, deadline) == -TG_ETIMEDOUT)
			return 1;
	}
}

/* Write, flush, read back: NULL when the pattern came back, else why not. */
static const char *vbd_pattern(struct agent_dev *d)
{
	uint32_t ref0 = VBD_REF0 + 4 * d->slot;
	uint64_t *out = (uint64_t *)vbd_data[d->slot][0], *in = (uint64_t *)vbd_data[d->slot][1];
	for (unsigned i = 0; i < 512; i++) {
		out[i] = blk_pattern_word(d->id, i);
		in[i] = 0;
	}
	if (vbd_request(d, TG_BLKIF_OP_WRITE, ref0 + 1) != 0)
		return "the write failed";
	if (vbd_request(d, TG_BLKIF_OP_FLUSH, 0) != 0)
		return "the flush failed";
	if (vbd_request(d, TG_BLKIF_OP_READ, ref0 + 2) != 0)
		return "the read failed";
	for (unsigned i = 0; i < 512; i++)
		if (in[i] != out[i])
			return "the read-back differs";
	return NULL;
}

static const char *vbd_connect(struct agent_dev *d)
{
	uint64_t sectors = dir_key(d->bdir, TG_BLKIF_KEY_SECTORS, 0);
	if (sectors < PATTERN_SECTORS || dir_key(d->bdir, TG_BLKIF_KEY_READ_ONLY, 1) != 0)
		return "not a writable disk of 8 sectors or more";
	uint32_t ref0 = VBD_REF0 + 4 * d->slot;
	TG_RING_SHARED_INIT(&vbd_ring[d->slot].s);
	TG_RING_FRONT_INIT(&vbd_fr[d->slot], &vbd_ring[d->slot].s);
	gnt_grant(ref0, gfn_of(&vbd_ring[d->slot]), false);
	gnt_grant(ref0 + 1, gfn_of(vbd_data[d->slot][0]), true);
	gnt_grant(ref0 + 2, gfn_of(vbd_data[d->slot][1]), false);
	if (!alloc_port(d))
		return "no port";
	const char *keys[] = {TG_BLKIF_KEY_RING_REF, TG_BLKIF_KEY_EVENT_CHANNEL};
	uint64_t values[] = {ref0, d->port};
	if (!xs_frontend_publish(d->fdir, d->bdir, keys, values, 2))
		return "the backend did not connect";
	const char *why = vbd_pattern(d);
	if (why)
		return why;
	put_dev(d, " connected, ");
	put_dec(sectors);
	put_str(" sectors, pattern written\n");
	return NULL;
}

/* ---- vif -------------------------------------------------------------------- */

static const char *vif_connect(struct agent_dev *d)
{
	char path[96], mac[24];
	str_copy(path, sizeof path, d->fdir, "/" TG_NETIF_KEY_MAC);
	if (!xs_read_str(0, path, mac, sizeof mac))
		return "no mac";
	uint32_t ref0 = VIF_REF0 + 8 * d->slot;
	struct tg_netif_tx_front_ring tx;
	struct tg_netif_rx_front_ring rx;
	TG_RING_SHARED_INIT(&vif_tx[d->slot].s);
	TG_RING_FRONT_INIT(&tx, &vif_tx[d->slot].s);
	TG_RING_SHARED_INIT(&vif_rx[d->slot].s);
	TG_RING_FRONT_INIT(&rx, &vif_rx[d->slot].s);
	gnt_grant(ref0, gfn_of(&vif_tx[d->slot]), false);
	gnt_grant(ref0 + 1, gfn_of(&vif_rx[d->slot]), false);
	for (uint16_t i = 0; i < RX_BUFS; i++) {
		gnt_grant(ref0 + 2 + i, gfn_of(vif_bufs[d->slot][i]), false);
		struct tg_netif_rx_request *r = TG_RING_GET_REQUEST(&rx, rx.req_prod_pvt);
		r->id = i;
		r->_pad0 = 0;
		r->gref = ref0 + 2 + i;
		rx.req_prod_pvt++;
	}
	TG_RING_PUSH_REQUESTS(&rx);
	if (!alloc_port(d))
		return "no port";
	const char *keys[] = {TG_NETIF_KEY_TX_RING_REF, TG_NETIF_KEY_RX_RING_REF, TG_NETIF_KEY_EVENT_CHANNEL};
	uint64_t values[] = {ref0, ref0 + 1, d->port};
	if (!xs_frontend_publish(d->fdir, d->bdir, keys, values, 3))
		return "the backend did not connect";
	put_dev(d, " connected mac=");
	put_line(mac);
	return NULL;
}

/* ---- life of an instance ----------------------------------------------------- */

/* Ends what the instance holds: its port and its grants (retried while in use). */
static void dev_drop(struct agent_dev *d)
{
	if (d->port) {
		struct tg_evtchn_port_op close = {.port = d->port};
		hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_close, &close);
		d->port = 0;
	}
	uint32_t refs[8];
	unsigned n = dev_refs(d, refs);
	for (unsigned i = 0; i < n; i++)
		for (int tries = 0; tries < 100 && !gnt_revoke(refs[i]); tries++)
			hypercall0(TG_HC_sched_op); /* yield: a backend still finishing with it */
}

/* ABI.md 17.3, the frontend's side of a disconnect the backend started. */
static void dev_release(struct agent_dev *d, bool directory_gone)
{
	if (!directory_gone) {
		write_front_state(d, TG_STATE_CLOSING);
		xs_watch_backend_state(d->bdir);
		for (int events = 0; events < 16; events++) {
			uint64_t st = dir_key(d->bdir, TG_STORE_KEY_STATE, TG_STATE_UNKNOWN);
			if (st == TG_STATE_CLOSED || st == TG_STATE_UNKNOWN || !xs_wait_event())
				break;
		}
		xs_unwatch_backend_state(d->bdir);
	}
	dev_drop(d);
	if (!directory_gone)
		write_front_state(d, TG_STATE_CLOSED);
	xs_unwatch(d->bdir, "agent");
	d->state = DEV_RELEASED;
	put_dev(d, " released\n");
}

static void dev_connect(struct agent_dev *d)
{
	const char *why = NULL;
	if (!xs_frontend_wait_backend(d->fdir, d->bdir, sizeof d->bdir)) {
		xs_unwatch_backend_state(d->bdir);
		why = "the backend is not waiting for us";
	} else if (!gnt_init(si)) {
		why = "no grant table";
	} else {
		why = d->vif ? vif_connect(d) : vbd_connect(d);
	}
	/* Whatever happens, the backend's directory is watched: online 0 or Closed comes through it. */
	xs_watch(d->bdir, "agent");
	d->state = DEV_CONNECTED;
	if (why) {
		put_dev(d, " connected ... FAILED: ");
		put_line(why);
		dev_release(d, false);
	}
}

static struct agent_dev *find(bool vif, uint32_t id)
{
	struct agent_dev *set = vif ? vifs : vbds;
	unsigned n = vif ? MAX_VIF : MAX_VBD;
	for (unsigned i = 0; i < n; i++)
		if (set[i].state != DEV_FREE && set[i].id == id)
			return &set[i];
	return NULL;
}

static void plugged(bool vif, uint32_t id)
{
	struct agent_dev *set = vif ? vifs : vbds;
	unsigned n = vif ? MAX_VIF : MAX_VBD;
	for (unsigned i = 0; i < n; i++) {
		if (set[i].state != DEV_FREE)
			continue;
		struct agent_dev *d = &set[i];
		*d = (struct agent_dev){.state = DEV_CONNECTED, .vif = vif, .id = id, .slot = i};
		char num[12];
		dec_text(num, id);
		str_copy(d->fdir, sizeof d->fdir, vif ? "device/vif/" : "device/vbd/", num);
		dev_connect(d);
		return;
	}
	put_str(vif ? "agent: vif " : "agent: vbd ");
	put_dec(id);
	put_line(" ignored: no free slot");
}

/* A known instance: does its backend want it gone, is it gone, or back? */
static void dev_check(struct agent_dev *d)
{
	uint64_t front = dir_key(d->fdir, TG_STORE_KEY_STATE, TG_STATE_UNKNOWN);
	if (d->state == DEV_RELEASED) {
		if (front == TG_STATE_UNKNOWN)
			d->state = DEV_FREE; /* its directories were removed */
		else if (front == TG_STATE_INITIALISING)
			dev_connect(d); /* plugged in again under the same id */
		return;
	}
	if (front == TG_STATE_UNKNOWN) {
		dev_release(d, true); /* removed without asking (a forced unplug) */
		d->state = DEV_FREE;
		return;
	}
	uint64_t online = dir_key(d->bdir, TG_STORE_KEY_ONLINE, 1);
	uint64_t back = dir_key(d->bdir, TG_STORE_KEY_STATE, TG_STATE_UNKNOWN);
	if (online == 0 || back == TG_STATE_CLOSING || back == TG_STATE_CLOSED || back == TG_STATE_UNKNOWN)
		dev_release(d, false);
}

/* The ids listed under device/<type>, new ones connected, known ones checked. */
static void scan_type(bool vif)
{
	static char names[1024];
	size_t len = 0;
	if (xs_directory(vif ? "device/vif" : "device/vbd", names, sizeof names - 1, &len)) {
		names[len] = 0;
		for (size_t at = 0; at < len; at += str_len(names + at) + 1) {
			uint32_t id = (uint32_t)parse_dec(names + at);
			if (!find(vif, id))
				plugged(vif, id);
		}
	}
	struct agent_dev *set = vif ? vifs : vbds;
	unsigned n = vif ? MAX_VIF : MAX_VBD;
	for (unsigned i = 0; i < n; i++)
		if (set[i].state != DEV_FREE)
			dev_check(&set[i]);
}

void agent_devices_scan(const struct tg_start_info *start_info)
{
	si = start_info;
	scan_type(false);
	scan_type(true);
}
