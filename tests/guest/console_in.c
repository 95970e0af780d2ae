/*
 * console=echo: the input half of the console ring (ABI.md 20). The guest
 * reads lines from in[], answers each with "echo: LINE" on the console,
 * and powers off at the line "quit" (crashes after echowait=S seconds,
 * default 30, without input). It waits for input with sched_op poll
 * on the (masked) console port, which the VMM raises when input arrives,
 * and tells the VMM it made room by ringing the port's doorbell.
 */
#include "guest.h"

extern struct tg_shared_info *shared_info;

static uint8_t doorbell_window[4096] __attribute__((aligned(4096)));

static void port_bit(uint64_t *words, unsigned nr, bool set)
{
	if (set)
		__atomic_fetch_or(&words[nr / 64], 1ULL << (nr % 64), __ATOMIC_SEQ_CST);
	else
		__atomic_fetch_and(&words[nr / 64], ~(1ULL << (nr % 64)), __ATOMIC_SEQ_CST);
}

static long poll_port(uint32_t port, uint64_t deadline)
{
	uint32_t ports[1] = {port};
	struct tg_sched_poll sp = {.ports = (uint64_t)ports, .nr_ports = 1, .timeout_ns = deadline};
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &sp);
}

static volatile uint64_t *map_doorbell(const struct tg_start_info *si, uint32_t port)
{
	uint64_t gpa = TG_DOORBELL_GPA(si->doorbell_gpa, port);
	uint64_t pte = (gpa & ~(TG_PAGE_SIZE - 1)) | TG_PTE_P | TG_PTE_RW | TG_PTE_PCD | TG_PTE_PWT | TG_PTE_NX;
	if (hypercall3(TG_HC_update_va_mapping, (uint64_t)doorbell_window, pte, TG_UVMF_INVLPG) != 0)
		return NULL;
	return (volatile uint64_t *)(doorbell_window + (gpa & (TG_PAGE_SIZE - 1)));
}

void console_echo(const struct tg_start_info *si)
{
	struct tg_console_ring *ring = (struct tg_console_ring *)(si->virt_base + si->console_ring_gfn * TG_PAGE_SIZE);
	uint32_t port = si->console_evtchn;
	volatile uint64_t *doorbell = port ? map_doorbell(si, port) : NULL;
	if (!doorbell) {
		put_line("echo: no console ring");
		shutdown(TG_SHUTDOWN_crash);
	}
	port_bit(shared_info->evtchn_mask, port, true);
	char v[24] = "30";
	cmdline_value(si->cmdline, "echowait", v, sizeof v); /* seconds without input before giving up */
	uint64_t wait_ns = parse_dec(v) * 1000000000ULL;
	put_line("echo: ready");
	char line[256];
	size_t len = 0;
	uint64_t lines = 0;
	for (;;) {
		port_bit(shared_info->evtchn_pending, port, false);
		uint32_t prod = __atomic_load_n(&ring->in_prod, __ATOMIC_ACQUIRE);
		uint32_t cons = ring->in_cons;
		if (prod == cons) {
			if (poll_port(port, system_time_ns() + wait_ns) == -TG_ETIMEDOUT) {
				put_line("echo: no more input");
				shutdown(TG_SHUTDOWN_crash);
			}
			continue;
		}
		for (; cons != prod; cons++) {
			char c = ring->in[TG_CONSOLE_IDX(cons, TG_CONSOLE_IN_SIZE)];
			if (c != '\n') {
				if (len < sizeof line - 1)
					line[len++] = c;
				continue;
			}
			line[len] = 0;
			len = 0;
			lines++;
			if (str_eq(line, "quit")) {
				put_str("echo: bye after ");
				put_dec(lines);
				put_str(" lines\n");
				shutdown(TG_SHUTDOWN_poweroff);
			}
			put_str("echo: ");
			put_line(line);
		}
		__atomic_store_n(&ring->in_cons, cons, __ATOMIC_RELEASE);
		*doorbell = 1; /* room again */
	}
}
