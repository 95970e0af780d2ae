/*
 * agent=1 [hz=N]: the test guest as a long-running domain the toolstack
 * steers through the store (ABI.md 13, 16.1, 17). It says what it acts on
 * (control/feature-shutdown, control/feature-balloon), watches device/vbd,
 * device/vif, control/shutdown and memory/target, and sleeps in sched_op
 * poll on the store's port and its timer's, ticking at hz (default 100)
 * so that the domain keeps making exits like a real one. A watch means
 * "look again": after any event it looks at everything (devices,
 * control/shutdown, memory/target) and acts on what changed.
 */
#include "guest.h"

#define NS_PER_S 1000000000ULL

extern struct tg_shared_info *shared_info;

static const struct tg_start_info *si;
static uint64_t last_target_kib;

static void port_clear(uint32_t port)
{
	__atomic_fetch_and(&shared_info->evtchn_pending[port / 64], ~(1ULL << (port % 64)), __ATOMIC_SEQ_CST);
}

static bool port_pending(uint32_t port)
{
	return (__atomic_load_n(&shared_info->evtchn_pending[port / 64], __ATOMIC_ACQUIRE) >> (port % 64)) & 1;
}

/* VIRQ_TIMER on a masked port of its own: the loop polls it with the store's. */
static uint32_t bind_timer(void)
{
	struct tg_evtchn_bind_virq b = {.virq = TG_VIRQ_TIMER, .vcpu = 0};
	if (hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_bind_virq, &b) != 0)
		return 0;
	__atomic_fetch_or(&shared_info->evtchn_mask[b.port / 64], 1ULL << (b.port % 64), __ATOMIC_SEQ_CST);
	return b.port;
}

/* control/shutdown: "poweroff" or "reboot" ends the domain that way. */
static void look_at_shutdown(void)
{
	char what[16];
	if (!xs_read_str(0, TG_STORE_KEY_CONTROL_SHUTDOWN, what, sizeof what))
		return;
	unsigned reason;
	if (str_eq(what, TG_STORE_SHUTDOWN_POWEROFF))
		reason = TG_SHUTDOWN_poweroff;
	else if (str_eq(what, TG_STORE_SHUTDOWN_REBOOT))
		reason = TG_SHUTDOWN_reboot;
	else
		return;
	xs_write_str(0, TG_STORE_KEY_CONTROL_SHUTDOWN, ""); /* taken (ABI.md 16.1) */
	put_str("agent: shutdown ");
	put_line(what);
	shutdown(reason);
}

static void look_at_target(void)
{
	char value[24];
	if (!xs_read_str(0, TG_STORE_KEY_MEMORY_TARGET, value, sizeof value) || value[0] < '0' || value[0] > '9')
		return;
	uint64_t kib = parse_dec(value);
	if (kib == last_target_kib)
		return;
	last_target_kib = kib;
	balloon_toward(si, kib);
}

static void look_again(void)
{
	agent_devices_scan(si);
	look_at_shutdown();
	look_at_target();
}

static bool announce(void)
{
	static const char *const watched[] = {"device/vbd", "device/vif", TG_STORE_KEY_CONTROL_SHUTDOWN,
					      TG_STORE_KEY_MEMORY_TARGET};
	bool ok = xs_write_str(0, TG_STORE_KEY_FEATURE_SHUTDOWN, "1") && xs_write_str(0, TG_STORE_KEY_FEATURE_BALLOON, "1");
	for (unsigned i = 0; ok && i < sizeof watched / sizeof watched[0]; i++)
		ok = xs_watch(watched[i], "agent-home");
	return ok;
}

__attribute__((noreturn)) void agent_run(const struct tg_start_info *start_info)
{
	si = start_info;
	char v[16] = "100";
	cmdline_value(si->cmdline, "hz", v, sizeof v);
	uint64_t hz = parse_dec(v);
	uint64_t period = NS_PER_S / (hz ? hz : 1);
	uint32_t timer = bind_timer();
	if (!xs_init(si) || timer == 0 || !announce()) {
		put_line("agent: cannot start (store, timer or watches)");
		shutdown(TG_SHUTDOWN_crash);
	}
	{
		tg_domid_t self = TG_DOMID_SELF;
		last_target_kib = (uint64_t)hypercall2(TG_HC_memory_op, TG_MEMOP_current_reservation, &self) * 4;
	}
	put_line("agent: ready");
	uint32_t store = xs_port();
	uint64_t next_tick = system_time_ns() + period, ticks = 0;
	hypercall1(TG_HC_set_timer_op, next_tick);
	unsigned seen = xs_events_seen() - 1; /* look once at the start */
	for (;;) {
		port_clear(store);
		if (xs_message_waiting()) {
			xs_wait_event();
			continue;
		}
		if (xs_events_seen() != seen) {
			seen = xs_events_seen();
			look_again();
			continue;
		}
		if (port_pending(timer)) {
			port_clear(timer);
			ticks++;
			next_tick += period;
			uint64_t now = system_time_ns();
			if (next_tick < now)
				next_tick = now + period; /* we slept through some: no burst */
			hypercall1(TG_HC_set_timer_op, next_tick);
			continue;
		}
		uint32_t ports[2] = {store, timer};
		struct tg_sched_poll sp = {.ports = (uint64_t)ports, .nr_ports = 2, .timeout_ns = 0};
		hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &sp);
	}
}
