/*
 * net=ping: the test guest's network frontend (ABI.md 19). It connects to
 * vif 0 through the store, posts receive buffers, and for i = 1..n sends a
 * frame "ping i" (ethertype 0x88b5, split over two tx slots: header and
 * payload) to the broadcast address and waits for a frame "pong i" from
 * the host. Then it sends an IPv4/UDP datagram with a blank checksum
 * (CSUM_BLANK) for the backend to fill in, waits for "done", and powers
 * off. Frames of other types (the host's own IPv6 chatter) are skipped.
 * every=MS pauses between pings: with a large n, a steady stream for the
 * save and restore tests.
 */
#include "guest.h"

#define FRONTEND_DIR "device/vif/0"
#define TX_RING_REF 2
#define RX_RING_REF 3
#define TX_REF0 1900
#define RX_REF0 1950
#define RX_BUFS 32
#define TX_PAGES 2
#define ETHERTYPE_TEST 0x88b5
#define WAIT_NS 10000000000ULL

extern struct tg_shared_info *shared_info;

static const struct tg_start_info *si;
static union {
	struct tg_netif_tx_sring s;
	uint8_t page[4096];
} tx_page __attribute__((aligned(4096)));
static union {
	struct tg_netif_rx_sring s;
	uint8_t page[4096];
} rx_page __attribute__((aligned(4096)));
static struct tg_netif_tx_front_ring tx;
static struct tg_netif_rx_front_ring rx;
static uint8_t tx_data[TX_PAGES][4096] __attribute__((aligned(4096)));
static uint8_t rx_data[RX_BUFS][4096] __attribute__((aligned(4096)));
static uint8_t doorbell_window[4096] __attribute__((aligned(4096)));
static volatile uint64_t *doorbell;
static uint32_t port;
static uint8_t mac[6];
static char backend_dir[128];

static void port_bit(uint64_t *words, unsigned nr, bool set)
{
	if (set)
		__atomic_fetch_or(&words[nr / 64], 1ULL << (nr % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&words[nr / 64], ~(1ULL << (nr % 64)), __ATOMIC_SEQ_CST);
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static bool parse_mac(const char *s)
{
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static void post_rx(uint16_t id)
{
	struct tg_netif_rx_request *r = TG_RING_GET_REQUEST(&rx, rx.req_prod_pvt);
	r->id = id;
	r->_pad0 = 0;
	r->gref = RX_REF0 + id;
	rx.req_prod_pvt++;
}

static void notify_if_asked(int notify)
{
	if (notify)
		*doorbell = 1;
}

static bool connect(void)
{
	char value[32];
	if (!xs_init(si) || !xs_frontend_wait_backend(FRONTEND_DIR, backend_dir, sizeof backend_dir) ||
	    !xs_read_str(0, FRONTEND_DIR "/" TG_NETIF_KEY_MAC, value, sizeof value) || !parse_mac(value) ||
	    xs_backend_key(backend_dir, TG_NETIF_KEY_FEATURE_SG, 0) != 1 ||
	    xs_backend_key(backend_dir, TG_NETIF_KEY_FEATURE_CSUM, 0) != 1 || !gnt_init(si))
		return false;
	TG_RING_SHARED_INIT(&tx_page.s);
	TG_RING_FRONT_INIT(&tx, &tx_page.s);
	TG_RING_SHARED_INIT(&rx_page.s);
	TG_RING_FRONT_INIT(&rx, &rx_page.s);
	gnt_grant(TX_RING_REF, gfn_of(&tx_page), false);
	gnt_grant(RX_RING_REF, gfn_of(&rx_page), false);
	for (unsigned i = 0; i < TX_PAGES; i++)
		gnt_grant(TX_REF0 + i, gfn_of(tx_data[i]), true);
	for (unsigned i = 0; i < RX_BUFS; i++)
		gnt_grant(RX_REF0 + i, gfn_of(rx_data[i]), false);
	for (uint16_t i = 0; i < RX_BUFS; i++)
		post_rx(i);
	TG_RING_PUSH_REQUESTS(&rx);
	struct tg_evtchn_alloc_unbound au = {.remote_dom = TG_DOMID_VMM};
	if (hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_alloc_unbound, &au) != 0)
		return false;
	port = au.port;
	port_bit(shared_info->evtchn_mask, port, true);
	uint64_t gpa = TG_DOORBELL_GPA(si->doorbell_gpa, port);
	uint64_t pte = (gpa & ~(TG_PAGE_SIZE - 1)) | TG_PTE_P | TG_PTE_RW | TG_PTE_PCD | TG_PTE_PWT | TG_PTE_NX;
	if (hypercall3(TG_HC_update_va_mapping, (uint64_t)doorbell_window, pte, TG_UVMF_INVLPG) != 0)
		return false;
	doorbell = (volatile uint64_t *)(doorbell_window + (gpa & (TG_PAGE_SIZE - 1)));
	const char *keys[] = {TG_NETIF_KEY_TX_RING_REF, TG_NETIF_KEY_RX_RING_REF, TG_NETIF_KEY_EVENT_CHANNEL};
	uint64_t values[] = {TX_RING_REF, RX_RING_REF, port};
	return xs_frontend_publish(FRONTEND_DIR, backend_dir, keys, values, 3);
}

static long poll_port(uint64_t deadline)
{
	uint32_t ports[1] = {port};
	struct tg_sched_poll sp = {.ports = (uint64_t)ports, .nr_ports = 1, .timeout_ns = deadline};
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &sp);
}

/* Sends header (page 0) and payload (page 1) as one packet of two slots. */
static int16_t send_frame(const uint8_t *hdr, uint16_t hlen, const uint8_t *payload, uint16_t plen, uint16_t flags)
{
	for (uint16_t i = 0; i < hlen; i++)
		tx_data[0][i] = hdr[i];
	for (uint16_t i = 0; i < plen; i++)
		tx_data[1][i] = payload[i];
	struct tg_netif_tx_request *a = TG_RING_GET_REQUEST(&tx, tx.req_prod_pvt);
	*a = (struct tg_netif_tx_request){.gref = TX_REF0, .offset = 0, .flags = (uint16_t)(flags | TG_NETTXF_MORE_DATA),
					  .id = 1, .size = (uint16_t)(hlen + plen)};
	struct tg_netif_tx_request *b = TG_RING_GET_REQUEST(&tx, tx.req_prod_pvt + 1);
	*b = (struct tg_netif_tx_request){.gref = TX_REF0 + 1, .offset = 0, .flags = 0, .id = 2, .size = plen};
	tx.req_prod_pvt += 2;
	int notify;
	TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx, notify);
	notify_if_asked(notify);
	/* Both slots are answered with the packet's status. */
	int16_t status = 1;
	unsigned seen = 0;
	uint64_t deadline = system_time_ns() + WAIT_NS;
	while (seen < 2) {
		port_bit(shared_info->evtchn_pending, port, false);
		while (tx.rsp_cons != TG_RING_READ_IDX(tx.sring->rsp_prod)) {
			TG_RING_RMB();
			struct tg_netif_tx_response r = *TG_RING_GET_RESPONSE(&tx, tx.rsp_cons);
			tx.rsp_cons++;
			status = seen == 0 ? r.status : (r.status != status ? -100 : status);
			seen++;
		}
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(&tx, more);
		if (seen < 2 && !more && poll_port(deadline) == -TG_ETIMEDOUT)
			return -99;
	}
	return status;
}

/* Waits up to wait_ns for a received frame of our test type carrying `want`. */
static bool receive_text(const char *want, uint64_t wait_ns)
{
	uint64_t deadline = system_time_ns() + wait_ns;
	for (;;) {
		port_bit(shared_info->evtchn_pending, port, false);
		while (rx.rsp_cons != TG_RING_READ_IDX(rx.sring->rsp_prod)) {
			TG_RING_RMB();
			struct tg_netif_rx_response r = *TG_RING_GET_RESPONSE(&rx, rx.rsp_cons);
			rx.rsp_cons++;
			bool match = false;
			if (r.status > 14 && r.id < RX_BUFS) {
				const uint8_t *f = rx_data[r.id] + r.offset;
				size_t n = str_len(want);
				match = f[12] == (ETHERTYPE_TEST >> 8) && f[13] == (ETHERTYPE_TEST & 0xff) &&
					(size_t)r.status >= 14 + n;
				for (size_t i = 0; match && i < n; i++)
					match = f[14 + i] == (uint8_t)want[i];
			}
			if (r.id < RX_BUFS)
				post_rx(r.id); /* the buffer goes back */
			int notify;
			TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx, notify);
			notify_if_asked(notify);
			if (match)
				return true;
		}
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(&rx, more);
		if (!more && poll_port(deadline) == -TG_ETIMEDOUT)
			return false;
	}
}

static void test_header(uint8_t *h, uint16_t type)
{
	for (int i = 0; i < 6; i++) {
		h[i] = 0xff;
		h[6 + i] = mac[i];
	}
	h[12] = (uint8_t)(type >> 8);
	h[13] = (uint8_t)type;
}

/* An IPv4/UDP datagram 10.77.0.2:4000 -> 10.77.0.1:4001 with its checksum left blank. */
static uint16_t udp_datagram(uint8_t *p, const char *text)
{
	uint16_t n = (uint16_t)str_len(text), udp_len = (uint16_t)(8 + n), ip_len = (uint16_t)(20 + udp_len);
	static const uint8_t ip[20] = {0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1};
	for (int i = 0; i < 20; i++)
		p[i] = ip[i];
	p[2] = (uint8_t)(ip_len >> 8);
	p[3] = (uint8_t)ip_len;
	uint32_t sum = 0;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	p[10] = (uint8_t)(~sum >> 8);
	p[11] = (uint8_t)~sum;
	uint8_t *u = p + 20;
	u[0] = 4000 >> 8, u[1] = 4000 & 0xff, u[2] = 4001 >> 8, u[3] = 4001 & 0xff;
	u[4] = (uint8_t)(udp_len >> 8), u[5] = (uint8_t)udp_len, u[6] = 0, u[7] = 0;
	for (uint16_t i = 0; i < n; i++)
		u[8 + i] = (uint8_t)text[i];
	return ip_len;
}

/* A received IPv4/UDP datagram to port 4000 whose payload starts with want. */
static bool receive_udp(const char *want, uint64_t wait_ns)
{
	uint64_t deadline = system_time_ns() + wait_ns;
	size_t n = str_len(want);
	for (;;) {
		port_bit(shared_info->evtchn_pending, port, false);
		while (rx.rsp_cons != TG_RING_READ_IDX(rx.sring->rsp_prod)) {
			TG_RING_RMB();
			struct tg_netif_rx_response r = *TG_RING_GET_RESPONSE(&rx, rx.rsp_cons);
			rx.rsp_cons++;
			bool match = false;
			if (r.id < RX_BUFS && r.status >= (int16_t)(14 + 28 + n)) {
				const uint8_t *f = rx_data[r.id] + r.offset;
				match = f[12] == 0x08 && f[13] == 0x00 && f[14 + 9] == 17 && f[14] == 0x45 && f[14 + 22] == (4000 >> 8) &&
					f[14 + 23] == (4000 & 0xff);
				for (size_t i = 0; match && i < n; i++)
					match = f[14 + 28 + i] == (uint8_t)want[i];
			}
			if (r.id < RX_BUFS)
				post_rx(r.id);
			int notify;
			TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx, notify);
			notify_if_asked(notify);
			if (match)
				return true;
		}
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(&rx, more);
		if (!more && poll_port(deadline) == -TG_ETIMEDOUT)
			return false;
	}
}

/*
 * net=udp peer=MAC: a UDP exchange with a host stack behind a bridge:
 * "tortuga udp" from 10.77.0.2:4000 to 10.77.0.1:4001 at MAC, its checksum
 * left for the backend, resent until "reply" comes back to port 4000.
 */
__attribute__((noreturn)) static void net_udp(void)
{
	char peer[32];
	uint8_t hdr[14];
	if (!cmdline_value(si->cmdline, "peer", peer, sizeof peer) || !parse_mac(peer)) {
		put_line("net: udp needs peer=MAC");
		shutdown(TG_SHUTDOWN_crash);
	}
	for (int i = 0; i < 6; i++)
		hdr[i] = mac[i];
	char value[32];
	xs_read_str(0, FRONTEND_DIR "/" TG_NETIF_KEY_MAC, value, sizeof value);
	parse_mac(value);
	for (int i = 0; i < 6; i++)
		hdr[6 + i] = mac[i];
	hdr[12] = 0x08;
	hdr[13] = 0x00;
	uint8_t datagram[64];
	uint16_t len = udp_datagram(datagram, "tortuga udp");
	for (int attempt = 0; attempt < 40; attempt++) {
		if (send_frame(hdr, 14, datagram, len, TG_NETTXF_CSUM_BLANK) == TG_NETIF_RSP_OKAY &&
		    receive_udp("reply", WAIT_NS / 20)) {
			put_line("net: udp reply through the bridge");
			shutdown(TG_SHUTDOWN_poweroff);
		}
	}
	put_line("net: no udp reply");
	shutdown(TG_SHUTDOWN_crash);
}

/* every=MS: a pause between pings (frames that arrive meanwhile wait in the ring). */
static void pause_ms(uint64_t ms)
{
	uint64_t until = system_time_ns() + ms * 1000000ULL;
	while (system_time_ns() < until) {
		port_bit(shared_info->evtchn_pending, port, false);
		poll_port(until);
	}
}

__attribute__((noreturn)) void net_ping(const struct tg_start_info *start_info)
{
	si = start_info;
	char v[16] = "3";
	cmdline_value(si->cmdline, "n", v, sizeof v);
	uint64_t n = parse_dec(v);
	char e[16] = "0";
	cmdline_value(si->cmdline, "every", e, sizeof e);
	uint64_t every_ms = parse_dec(e);
	if (!connect()) {
		put_line("net: connecting to vif 0 failed");
		shutdown(TG_SHUTDOWN_crash);
	}
	put_line("net: connected");
	char mode[8];
	if (cmdline_value(si->cmdline, "net", mode, sizeof mode) && str_eq(mode, "udp"))
		net_udp();
	uint8_t hdr[14];
	test_header(hdr, ETHERTYPE_TEST);
	for (uint64_t i = 1; i <= n; i++) {
		char text[32] = "ping ", want[32] = "pong ";
		char num[24];
		int k = 0;
		uint64_t x = i;
		do
			num[k++] = (char)('0' + x % 10);
		while ((x /= 10) != 0);
		int t = 5;
		while (k) {
			text[t] = want[t] = num[--k];
			t++;
		}
		text[t] = want[t] = 0;
		/* The host's peer may start listening after our first frames: resend. */
		int16_t st = TG_NETIF_RSP_ERROR;
		bool answered = false;
		for (int attempt = 0; attempt < 40 && !answered; attempt++) {
			st = send_frame(hdr, 14, (const uint8_t *)text, (uint16_t)(t + 1), 0);
			answered = st == TG_NETIF_RSP_OKAY && receive_text(want, WAIT_NS / 20);
		}
		if (!answered) {
			put_str("net: no answer to ");
			put_str(text);
			put_str(", transmit status ");
			put_sdec(st);
			put_str("\n");
			shutdown(TG_SHUTDOWN_crash);
		}
		put_str("net: got ");
		put_line(want);
		pause_ms(every_ms);
	}
	test_header(hdr, 0x0800);
	uint8_t datagram[64];
	uint16_t len = udp_datagram(datagram, "tortuga udp");
	int16_t st = send_frame(hdr, 14, datagram, len, TG_NETTXF_CSUM_BLANK);
	put_line(st == TG_NETIF_RSP_OKAY ? "net: udp sent with a blank checksum" : "net: udp refused");
	if (!receive_text("done", WAIT_NS))
		shutdown(TG_SHUTDOWN_crash);
	put_line("net: done");
	shutdown(TG_SHUTDOWN_poweroff);
}

/* ---- bench kinds: net-tx (frames to the host), net-rx (frames from it) ---- */

#define BENCH_FRAME 1514

bool net_bench_kind(const char *kind)
{
	return str_eq(kind, "net-tx") || str_eq(kind, "net-rx");
}

bool net_bench_prepare(const struct tg_start_info *start_info, const char *kind)
{
	(void)kind;
	si = start_info;
	if (!connect())
		return false;
	for (uint16_t i = 0; i < BENCH_FRAME; i++)
		tx_data[0][i] = (uint8_t)i;
	test_header(tx_data[0], ETHERTYPE_TEST);
	return true;
}

/* n frames of 1514 bytes, the ring kept full, responses reaped in batches. */
static uint64_t bench_tx(uint64_t n)
{
	uint64_t sent = 0, done = 0, errors = 0;
	uint64_t deadline = system_time_ns() + 60 * WAIT_NS;
	while (done < n && system_time_ns() < deadline) {
		while (sent < n && sent - done < TG_RING_SLOTS_OF(struct tg_netif_tx_sring)) {
			*TG_RING_GET_REQUEST(&tx, tx.req_prod_pvt) =
				(struct tg_netif_tx_request){.gref = TX_REF0, .offset = 0, .flags = 0, .id = 0, .size = BENCH_FRAME};
			tx.req_prod_pvt++;
			sent++;
		}
		int notify;
		TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&tx, notify);
		notify_if_asked(notify);
		port_bit(shared_info->evtchn_pending, port, false);
		while (tx.rsp_cons != TG_RING_READ_IDX(tx.sring->rsp_prod)) {
			TG_RING_RMB();
			errors += TG_RING_GET_RESPONSE(&tx, tx.rsp_cons)->status != TG_NETIF_RSP_OKAY;
			tx.rsp_cons++;
			done++;
		}
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(&tx, more);
		if (!more && done < n && sent - done == TG_RING_SLOTS_OF(struct tg_netif_tx_sring))
			poll_port(deadline);
	}
	return errors + (n - done);
}

/* Counts n frames of the test type from the host, giving buffers back. */
static uint64_t bench_rx(uint64_t n)
{
	uint64_t got = 0;
	uint64_t deadline = system_time_ns() + 60 * WAIT_NS;
	put_line("net: bench rx ready");
	while (got < n) {
		port_bit(shared_info->evtchn_pending, port, false);
		while (rx.rsp_cons != TG_RING_READ_IDX(rx.sring->rsp_prod)) {
			TG_RING_RMB();
			struct tg_netif_rx_response r = *TG_RING_GET_RESPONSE(&rx, rx.rsp_cons);
			rx.rsp_cons++;
			if (r.status > 14 && r.id < RX_BUFS && rx_data[r.id][12] == (ETHERTYPE_TEST >> 8))
				got++;
			if (r.id < RX_BUFS)
				post_rx(r.id);
		}
		int notify;
		TG_RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&rx, notify);
		notify_if_asked(notify);
		int more;
		TG_RING_FINAL_CHECK_FOR_RESPONSES(&rx, more);
		if (!more && got < n && poll_port(deadline) == -TG_ETIMEDOUT)
			break;
	}
	return got >= n ? 0 : n - got;
}

void net_bench_run(const char *kind, uint64_t n)
{
	uint64_t lost = str_eq(kind, "net-tx") ? bench_tx(n) : bench_rx(n);
	put_str("# net bench frame_bytes=");
	put_dec(BENCH_FRAME);
	put_str(" lost=");
	put_dec(lost);
	put_str("\n");
}
