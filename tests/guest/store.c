/*
 * The test guest's store client and suite (ABI.md 16): messages streamed
 * through the byte rings of the store page, the doorbell of store_evtchn
 * to notify, sched_op poll on the (masked) port to wait. The suite reads
 * the domain's home, writes where it may and is refused where it may not,
 * lists, removes, watches, runs transactions (commit, conflict, abort),
 * reads and sets permissions, streams values larger than the ring, and
 * sends malformed messages that must be answered without breaking the
 * connection.
 */
#include "guest.h"

#define WAIT_NS 5000000000ULL
#define REPLY_MAX 4096

extern struct tg_shared_info *shared_info;

static struct tg_store_ring *ring;
static volatile uint64_t *doorbell;
static uint32_t port;
static uint32_t next_req = 1;
static uint8_t doorbell_window[4096] __attribute__((aligned(4096)));
static char reply[REPLY_MAX + 1];
static uint32_t reply_len, reply_type;
static unsigned events_seen;
static char event_path[256], event_token[64];

static void port_bit(uint64_t *words, unsigned nr, bool set)
{
	if (set)
		__atomic_fetch_or(&words[nr / 64], 1ULL << (nr % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&words[nr / 64], ~(1ULL << (nr % 64)), __ATOMIC_SEQ_CST);
}

static bool sleep_on_port(uint64_t deadline)
{
	uint32_t ports[1] = {port};
	struct tg_sched_poll sp = {.ports = (uint64_t)ports, .nr_ports = 1, .timeout_ns = deadline};
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &sp) != -TG_ETIMEDOUT;
}

static void copy_bytes(char *dst, const char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

/* Streams n bytes into req, waiting for room as the VMM consumes. */
static bool ring_write(const char *p, size_t n)
{
	uint64_t deadline = system_time_ns() + WAIT_NS;
	while (n) {
		port_bit(shared_info->evtchn_pending, port, false);
		uint32_t prod = ring->req_prod;
		uint32_t space = TG_STORE_RING_SIZE - (prod - __atomic_load_n(&ring->req_cons, __ATOMIC_ACQUIRE));
		if (space == 0) {
			if (!sleep_on_port(deadline))
				return false;
			continue;
		}
		uint32_t k = n < space ? (uint32_t)n : space;
		for (uint32_t i = 0; i < k; i++)
			ring->req[TG_STORE_RING_IDX(prod + i)] = p[i];
		__atomic_store_n(&ring->req_prod, prod + k, __ATOMIC_RELEASE);
		*doorbell = 1;
		p += k;
		n -= k;
	}
	return true;
}

/* Reads exactly n bytes from rsp (into p, or dropped when p is NULL). */
static bool ring_read(char *p, size_t n)
{
	uint64_t deadline = system_time_ns() + WAIT_NS;
	while (n) {
		port_bit(shared_info->evtchn_pending, port, false);
		uint32_t cons = ring->rsp_cons;
		uint32_t avail = __atomic_load_n(&ring->rsp_prod, __ATOMIC_ACQUIRE) - cons;
		if (avail == 0) {
			if (!sleep_on_port(deadline))
				return false;
			continue;
		}
		uint32_t k = n < avail ? (uint32_t)n : avail;
		for (uint32_t i = 0; i < k; i++) {
			char c = ring->rsp[TG_STORE_RING_IDX(cons + i)];
			if (p)
				p[i] = c;
		}
		__atomic_store_n(&ring->rsp_cons, cons + k, __ATOMIC_RELEASE);
		*doorbell = 1; /* room again */
		if (p)
			p += k;
		n -= k;
	}
	return true;
}

/* Reads one message into reply; a watch event is noted. */
static bool read_message(struct tg_store_msg *m)
{
	if (!ring_read((char *)m, sizeof *m))
		return false;
	uint32_t keep = m->len < REPLY_MAX ? m->len : REPLY_MAX;
	if (!ring_read(reply, keep) || !ring_read(NULL, m->len - keep))
		return false;
	reply[keep] = 0;
	reply_len = m->len;
	reply_type = m->type;
	if (m->type == TG_STORE_WATCH_EVENT) {
		size_t plen = str_len(reply);
		if (plen < sizeof event_path && keep > plen + 1) {
			copy_bytes(event_path, reply, plen + 1);
			size_t tlen = str_len(reply + plen + 1);
			if (tlen < sizeof event_token)
				copy_bytes(event_token, reply + plen + 1, tlen + 1);
		}
		events_seen++;
	}
	return true;
}

/* Reads up to the reply to req_id; watch events on the way are noted. */
static bool read_reply(uint32_t req_id)
{
	struct tg_store_msg m;
	do {
		if (!read_message(&m))
			return false;
	} while (m.type == TG_STORE_WATCH_EVENT);
	return m.req_id == req_id;
}

/* One request; reply/reply_len/reply_type hold the answer. */
static bool call(uint32_t type, uint32_t tx, const char *payload, uint32_t len)
{
	struct tg_store_msg m = {.type = type, .req_id = next_req++, .tx_id = tx, .len = len};
	return ring_write((const char *)&m, sizeof m) && ring_write(payload, len) && read_reply(m.req_id);
}

/* Builds "a\0b\0..." payloads. */
static char msg[TG_STORE_PAYLOAD_MAX + 64];
static uint32_t msg_len;
static void msg_start(void)
{
	msg_len = 0;
}
static void msg_add(const char *s, bool nul)
{
	size_t n = str_len(s);
	copy_bytes(msg + msg_len, s, n);
	msg_len += (uint32_t)n;
	if (nul)
		msg[msg_len++] = 0;
}

static bool is_error(const char *name)
{
	return reply_type == TG_STORE_ERROR && str_eq(reply, name);
}

static bool is_ok(uint32_t type)
{
	return reply_type == type && reply_len == 3 && str_eq(reply, "OK");
}

static bool xs_read(uint32_t tx, const char *path)
{
	msg_start();
	msg_add(path, true);
	return call(TG_STORE_READ, tx, msg, msg_len);
}

static bool xs_write(uint32_t tx, const char *path, const char *value)
{
	msg_start();
	msg_add(path, true);
	msg_add(value, false);
	return call(TG_STORE_WRITE, tx, msg, msg_len) && is_ok(TG_STORE_WRITE);
}

static bool xs_path_op(uint32_t type, const char *path)
{
	msg_start();
	msg_add(path, true);
	return call(type, 0, msg, msg_len);
}

static bool xs_pair_op(uint32_t type, const char *path, const char *token)
{
	msg_start();
	msg_add(path, true);
	msg_add(token, true);
	return call(type, 0, msg, msg_len);
}

static bool reads(uint32_t tx, const char *path, const char *want)
{
	return xs_read(tx, path) && reply_type == TG_STORE_READ && reply_len == str_len(want) && str_eq(reply, want);
}

static bool bytes_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

static bool connected;

static bool connect(const struct tg_start_info *si)
{
	if (connected)
		return true;
	port = si->store_evtchn;
	if (port == 0 || si->doorbell_gpa == 0)
		return false;
	ring = (struct tg_store_ring *)(si->virt_base + si->store_ring_gfn * TG_PAGE_SIZE);
	uint64_t gpa = TG_DOORBELL_GPA(si->doorbell_gpa, port);
	uint64_t pte = (gpa & ~(TG_PAGE_SIZE - 1)) | TG_PTE_P | TG_PTE_RW | TG_PTE_PCD | TG_PTE_PWT | TG_PTE_NX;
	if (hypercall3(TG_HC_update_va_mapping, (uint64_t)doorbell_window, pte, TG_UVMF_INVLPG) != 0)
		return false;
	doorbell = (volatile uint64_t *)(doorbell_window + (gpa & (TG_PAGE_SIZE - 1)));
	port_bit(shared_info->evtchn_mask, port, true);
	connected = true;
	return true;
}

/* ---- the client for frontends (guest.h) ---------------------------------- */

bool xs_init(const struct tg_start_info *si)
{
	return connect(si);
}

bool xs_read_str(uint32_t tx, const char *path, char *buf, size_t cap)
{
	if (!xs_read(tx, path) || reply_type != TG_STORE_READ || reply_len >= cap)
		return false;
	copy_bytes(buf, reply, reply_len);
	buf[reply_len] = 0;
	return true;
}

bool xs_write_str(uint32_t tx, const char *path, const char *value)
{
	return xs_write(tx, path, value);
}

bool xs_watch(const char *path, const char *token)
{
	return xs_pair_op(TG_STORE_WATCH, path, token) && is_ok(TG_STORE_WATCH);
}

bool xs_unwatch(const char *path, const char *token)
{
	return xs_pair_op(TG_STORE_UNWATCH, path, token) && is_ok(TG_STORE_UNWATCH);
}

/* Waits for the next watch event (nothing else may be outstanding). */
bool xs_wait_event(void)
{
	struct tg_store_msg m;
	return read_message(&m) && m.type == TG_STORE_WATCH_EVENT;
}

uint32_t xs_tx_start(void);
int xs_tx_end(uint32_t tx, bool commit);

/* The children of path as "a\0b\0...", their bytes in *len; false if absent. */
bool xs_directory(const char *path, char *buf, size_t cap, size_t *len)
{
	if (!xs_path_op(TG_STORE_DIRECTORY, path) || reply_type != TG_STORE_DIRECTORY || reply_len > cap)
		return false;
	copy_bytes(buf, reply, reply_len);
	*len = reply_len;
	return true;
}

/* For a client that sleeps on several ports: the store's, and whether a message waits. */
uint32_t xs_port(void)
{
	return port;
}

bool xs_message_waiting(void)
{
	return connected && __atomic_load_n(&ring->rsp_prod, __ATOMIC_ACQUIRE) != ring->rsp_cons;
}

/* Watch events seen so far, also those that came between replies. */
unsigned xs_events_seen(void)
{
	return events_seen;
}

/* ---- the frontend's half of ABI.md 17.3 ----------------------------------- */

static void path_join(char *out, size_t cap, const char *dir, const char *key)
{
	size_t n = 0;
	for (; *dir && n + 1 < cap; dir++)
		out[n++] = *dir;
	if (n + 1 < cap)
		out[n++] = '/';
	for (; *key && n + 1 < cap; key++)
		out[n++] = *key;
	out[n] = 0;
}

static void dec_str(char *out, uint64_t v)
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

uint64_t xs_backend_key(const char *bdir, const char *key, uint64_t otherwise)
{
	char path[192], value[32];
	path_join(path, sizeof path, bdir, key);
	return xs_read_str(0, path, value, sizeof value) && value[0] ? parse_dec(value) : otherwise;
}

bool xs_watch_backend_state(const char *bdir)
{
	char path[192];
	path_join(path, sizeof path, bdir, TG_STORE_KEY_STATE);
	return xs_watch(path, "frontend");
}

bool xs_unwatch_backend_state(const char *bdir)
{
	char path[192];
	path_join(path, sizeof path, bdir, TG_STORE_KEY_STATE);
	return xs_unwatch(path, "frontend");
}

/* Waits on the watch of the backend's state until it is `want`. */
static bool wait_backend_state(const char *bdir, uint64_t want)
{
	for (int events = 0; events < 16; events++) {
		uint64_t st = xs_backend_key(bdir, TG_STORE_KEY_STATE, TG_STATE_UNKNOWN);
		if (st == want)
			return true;
		if (st == TG_STATE_CLOSING || st == TG_STATE_CLOSED || !xs_wait_event())
			return false;
	}
	return false;
}

bool xs_frontend_wait_backend(const char *fdir, char *bdir, size_t cap)
{
	char path[192];
	path_join(path, sizeof path, fdir, TG_STORE_KEY_BACKEND);
	return xs_read_str(0, path, bdir, cap) && xs_watch_backend_state(bdir) && wait_backend_state(bdir, TG_STATE_INIT_WAIT);
}

bool xs_frontend_publish(const char *fdir, const char *bdir, const char *const *keys, const uint64_t *values, unsigned n)
{
	char path[192], value[24];
	int rc;
	do {
		uint32_t tx = xs_tx_start();
		bool ok = tx != 0;
		for (unsigned i = 0; ok && i < n; i++) {
			path_join(path, sizeof path, fdir, keys[i]);
			dec_str(value, values[i]);
			ok = xs_write_str(tx, path, value);
		}
		path_join(path, sizeof path, fdir, TG_STORE_KEY_STATE);
		dec_str(value, TG_STATE_INITIALISED);
		ok = ok && xs_write_str(tx, path, value);
		rc = ok ? xs_tx_end(tx, true) : -1;
	} while (rc == 1);
	if (rc != 0 || !wait_backend_state(bdir, TG_STATE_CONNECTED))
		return false;
	dec_str(value, TG_STATE_CONNECTED);
	path_join(path, sizeof path, fdir, TG_STORE_KEY_STATE);
	bool ok = xs_write_str(0, path, value);
	/* Connected: the watch goes until there is something to watch for again. */
	path_join(path, sizeof path, bdir, TG_STORE_KEY_STATE);
	return xs_unwatch(path, "frontend") && ok;
}

static void check_basics(void)
{
	check(reads(0, "domid", "1"), "store: domid reads 1 (relative to home)");
	check(reads(0, "/local/domain/1/domid", "1"), "store: the same by its absolute path");
	check(xs_read(0, "name") && reply_type == TG_STORE_READ && reply_len > 0, "store: name is set");
	check(xs_read(0, "memory/target") && reply_type == TG_STORE_READ, "store: memory/target is set");
	static const char listing[] = "control\0data\0device\0domid\0memory\0name\0";
	check(xs_path_op(TG_STORE_DIRECTORY, "/local/domain/1") && reply_type == TG_STORE_DIRECTORY &&
		      reply_len == sizeof listing - 1 && bytes_eq(reply, listing, sizeof listing - 1),
	      "store: the home directory lists its children in byte order");
	check(xs_write(0, "data/greeting", "hello") && reads(0, "data/greeting", "hello"), "store: write and read back");
	check(xs_read(0, "data/nothing") && is_error("ENOENT"), "store: a missing node is ENOENT");
	check(!xs_write(0, "domid", "7") && is_error("EACCES") && reads(0, "domid", "1"),
	      "store: the guest may not write its domid (EACCES)");
	check(!xs_write(0, "/local/domain/0/backend/x", "1") && is_error("EACCES"),
	      "store: nor anything in the backend directories");
	check(!xs_write(0, "/local/domain/2/data/x", "1") && is_error("EACCES"), "store: nor another domain's home");
	check(xs_read(0, "/local/domain/0/backend") && reply_type == TG_STORE_READ,
	      "store: the backend directory is readable");
	check(xs_path_op(TG_STORE_MKDIR, "data/dir") && is_ok(TG_STORE_MKDIR) && xs_write(0, "data/dir/b", "2") &&
		      xs_write(0, "data/dir/a", "1"),
	      "store: mkdir and two children");
	check(xs_path_op(TG_STORE_DIRECTORY, "data/dir") && reply_len == 4 && bytes_eq(reply, "a\0b\0", 4),
	      "store: directory lists them");
	check(xs_path_op(TG_STORE_RM, "data/dir") && is_ok(TG_STORE_RM) && xs_read(0, "data/dir/a") &&
		      is_error("ENOENT"),
	      "store: rm removes the subtree");
	check(xs_path_op(TG_STORE_RM, "data/dir") && is_error("ENOENT"), "store: rm of a missing node is ENOENT");
	check(xs_write(0, "device/vbd/51712/x", "1") && reads(0, "device/vbd/51712/x", "1"),
	      "store: writes create missing parents under device/");
}

static void check_watches(void)
{
	unsigned before = events_seen;
	check(xs_pair_op(TG_STORE_WATCH, "data/w", "tok1") && is_ok(TG_STORE_WATCH), "store: watch data/w");
	xs_read(0, "domid"); /* events arrive in order before later replies */
	check(events_seen == before + 1 && str_eq(event_path, "data/w") && str_eq(event_token, "tok1"),
	      "store: a watch fires once when registered");
	check(xs_write(0, "data/w/x", "1"), "store: write below the watch");
	xs_read(0, "domid");
	check(events_seen == before + 2 && str_eq(event_path, "data/w/x") && str_eq(event_token, "tok1"),
	      "store: ... fires it with the changed node's path");
	check(xs_pair_op(TG_STORE_WATCH, "data/w", "tok1") && is_error("EEXIST"), "store: the same watch twice is EEXIST");
	check(xs_path_op(TG_STORE_RM, "data/w") && is_ok(TG_STORE_RM), "store: rm of the watched node");
	xs_read(0, "domid");
	check(events_seen == before + 3 && str_eq(event_path, "data/w"), "store: ... fires it too");
	check(xs_pair_op(TG_STORE_UNWATCH, "data/w", "tok1") && is_ok(TG_STORE_UNWATCH), "store: unwatch");
	xs_write(0, "data/w", "again");
	xs_read(0, "domid");
	check(events_seen == before + 3, "store: an unwatched path fires nothing");
	check(xs_pair_op(TG_STORE_UNWATCH, "data/w", "tok1") && is_error("ENOENT"), "store: unwatch twice is ENOENT");
}

static uint32_t tx_start(void)
{
	if (!call(TG_STORE_TRANSACTION_START, 0, "", 1) || reply_type != TG_STORE_TRANSACTION_START)
		return 0;
	return (uint32_t)parse_dec(reply);
}

static bool tx_end(uint32_t tx, bool commit)
{
	return call(TG_STORE_TRANSACTION_END, tx, commit ? "T" : "F", 2);
}

uint32_t xs_tx_start(void)
{
	return tx_start();
}

/* 0 committed (or aborted), 1 conflict: redo, -1 error. */
int xs_tx_end(uint32_t tx, bool commit)
{
	if (!tx_end(tx, commit))
		return -1;
	if (is_ok(TG_STORE_TRANSACTION_END))
		return 0;
	return is_error("EAGAIN") ? 1 : -1;
}

static void check_transactions(void)
{
	uint32_t tx = tx_start();
	check(tx != 0, "store: transaction start");
	check(xs_write(tx, "data/tx", "1") && reads(tx, "data/tx", "1"), "store: a write inside it is seen inside");
	check(xs_read(0, "data/tx") && is_error("ENOENT"), "store: ... and not outside");
	check(tx_end(tx, true) && is_ok(TG_STORE_TRANSACTION_END) && reads(0, "data/tx", "1"), "store: commit applies it");
	tx = tx_start();
	check(reads(tx, "data/tx", "1") && xs_write(0, "data/tx", "2") && xs_write(tx, "data/tx", "3"),
	      "store: a transaction reads a node that then changes outside it");
	check(tx_end(tx, true) && is_error("EAGAIN") && reads(0, "data/tx", "2"),
	      "store: its commit is refused with EAGAIN and applies nothing");
	tx = tx_start();
	check(xs_write(tx, "data/aborted", "1") && tx_end(tx, false) && is_ok(TG_STORE_TRANSACTION_END) &&
		      xs_read(0, "data/aborted") && is_error("ENOENT"),
	      "store: an aborted transaction applies nothing");
	check(tx_end(tx, true) && is_error("ENOENT"), "store: ending it again is ENOENT");
	check(xs_read(12345, "domid") && is_error("ENOENT"), "store: an unknown transaction id is ENOENT");
}

static void check_permissions(void)
{
	static const char home_perms[] = "n0\0r1\0";
	check(xs_path_op(TG_STORE_GET_PERMS, "/local/domain/1") && reply_len == sizeof home_perms - 1 &&
		      bytes_eq(reply, home_perms, sizeof home_perms - 1),
	      "store: the home is the VMM's, readable by the guest (n0 r1)");
	check(xs_path_op(TG_STORE_GET_PERMS, "data/greeting") && reply_len == 3 && str_eq(reply, "n1"),
	      "store: a node the guest created is the guest's (n1)");
	msg_start();
	msg_add("data/greeting", true);
	msg_add("n1", true);
	msg_add("r0", true);
	check(call(TG_STORE_SET_PERMS, 0, msg, msg_len) && is_ok(TG_STORE_SET_PERMS), "store: the owner sets perms");
	msg_start();
	msg_add("data/greeting", true);
	msg_add("n5", true);
	check(call(TG_STORE_SET_PERMS, 0, msg, msg_len) && is_error("EACCES"), "store: but may not give the node away");
	msg_start();
	msg_add("domid", true);
	msg_add("b1", true);
	check(call(TG_STORE_SET_PERMS, 0, msg, msg_len) && is_error("EACCES"), "store: nor change the VMM's nodes");
	msg_start();
	msg_add("data/greeting", true);
	msg_add("x1", true);
	check(call(TG_STORE_SET_PERMS, 0, msg, msg_len) && is_error("EINVAL"), "store: a bad perm string is EINVAL");
}

static char big[TG_STORE_VALUE_MAX + 2];

static void check_limits_and_bad_messages(void)
{
	for (unsigned i = 0; i < sizeof big - 1; i++)
		big[i] = (char)('a' + i % 26);
	big[TG_STORE_VALUE_MAX] = 0;
	check(xs_write(0, "data/big", big), "store: a 2048-byte value, streamed through the 1024-byte ring");
	check(xs_read(0, "data/big") && reply_len == TG_STORE_VALUE_MAX && bytes_eq(reply, big, TG_STORE_VALUE_MAX),
	      "store: ... read back whole");
	big[TG_STORE_VALUE_MAX] = 'x';
	big[TG_STORE_VALUE_MAX + 1] = 0;
	check(!xs_write(0, "data/big", big) && is_error("E2BIG"), "store: a 2049-byte value is E2BIG");
	check(call(99, 0, "x", 2) && is_error("ENOSYS"), "store: an unknown message type is ENOSYS");
	check(xs_read(0, "data//x") && is_error("EINVAL"), "store: an empty path component is EINVAL");
	check(xs_read(0, "data/x/") && is_error("EINVAL"), "store: a trailing slash is EINVAL");
	check(call(TG_STORE_READ, 0, "data/greeting", 13) && is_error("EINVAL"), "store: a path without its NUL is EINVAL");
	/* A header claiming more than the limit: skipped, answered, and the stream survives. */
	struct tg_store_msg m = {.type = TG_STORE_WRITE, .req_id = next_req++, .len = TG_STORE_PAYLOAD_MAX + 100};
	bool sent = ring_write((const char *)&m, sizeof m);
	for (unsigned i = 0; sent && i < m.len; i += 512)
		sent = ring_write(big, m.len - i < 512 ? m.len - i : 512);
	check(sent && read_reply(m.req_id) && is_error("EINVAL"), "store: a message over 4096 bytes is EINVAL");
	check(reads(0, "domid", "1"), "store: ... and the connection carries on");
}

void store_selftest(const struct tg_start_info *si)
{
	if (!connect(si)) {
		check(false, "store: store_evtchn and doorbells present");
		return;
	}
	struct tg_evtchn_status st = {.port = port};
	check(hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_status, &st) == 0 && st.status == TG_EVTCHNSTAT_backend,
	      "store: store_evtchn is bound to the VMM's store");
	check_basics();
	check_watches();
	check_transactions();
	check_permissions();
	check_limits_and_bad_messages();
}
