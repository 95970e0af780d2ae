/*
 * The event, timer and vCPU suites of the test guest: event channels
 * (ABI.md 9), upcalls (2.9), system time and the one-shot timer (6, 10),
 * sched_op block and poll (7.1), and vCPUs (11). Also the bench kinds
 * timer, block and event-pingpong, and the scenario shutdown-while-running.
 *
 * The event callback (event_entry in entry.S) saves every register and calls
 * event_upcall(), which scans the 2-level bitmaps as ABI.md 9.4 describes and
 * runs the handler attached to each port it finds; the entry returns with the
 * iret hypercall, whose frame IF gives upcall_mask back its interrupted value.
 *
 * A vCPU tells which one it is from its stack pointer: vCPU 1 runs only on
 * ap_stack (this_cpu()), so nothing depends on GS bases or TSC_AUX. vCPU 1
 * does its work in handlers of the IPI port delivered to it, commanded by
 * vCPU 0 through ap.cmd, and answers with an IPI to vCPU 0; only vCPU 0
 * prints and calls check().
 *
 * Events are masked (upcall_mask = 1) between the checks; a check that needs
 * them unmasked unmasks them itself.
 */
#include "user_syscall.h"

#define NR_CPUS 2 /* the suites use vCPUs 0 and 1 */
#define NR_PORTS TG_NR_EVENT_CHANNELS
#define NR_WORDS (NR_PORTS / 64)
#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
/* A wait for something that takes microseconds gives up after this. */
#define WAIT_LIMIT_NS (5 * NS_PER_S)
#define AP_STACK_SIZE 16384
/* 2020-01-01T00:00:00Z: a wall clock before it is not plausible. */
#define WALL_CLOCK_2020 1577836800ULL

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))
#define barrier() __asm__ volatile("" ::: "memory")

extern struct tg_shared_info *shared_info;

static const struct tg_start_info *si;
static unsigned nr_vcpus;

static uint8_t ap_stack[AP_STACK_SIZE] __attribute__((aligned(16)));

static inline unsigned this_cpu(void)
{
	uint64_t sp;
	__asm__ volatile("mov %%rsp, %0" : "=r"(sp));
	return sp - (uint64_t)ap_stack < sizeof(ap_stack) ? 1 : 0;
}

static inline struct tg_vcpu_info *my_info(void)
{
	return &shared_info->vcpu_info[this_cpu()];
}

/* IA32_TSC_AUX, which ABI.md 2.4 says holds the vCPU number. */
static inline uint32_t rdtscp_aux(void)
{
	uint32_t lo, hi, aux;
	__asm__ volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
	return aux;
}

static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}

/* ---- printing ---------------------------------------------------------- */

/* Nanoseconds as microseconds with three decimals. */
static void put_us(uint64_t ns)
{
	uint64_t frac = ns % 1000;
	put_dec(ns / 1000);
	put_str(".");
	put_str(frac < 100 ? (frac < 10 ? "00" : "0") : "");
	put_dec(frac);
}

/* ---- time -------------------------------------------------------------- */

static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	__asm__ volatile("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

/* System time (ABI.md 6.1) from this vCPU's pvclock record. */
static uint64_t now_ns(void)
{
	const struct tg_vcpu_time_info *t = &my_info()->time;
	uint32_t version;
	uint64_t ns;
	do {
		version = READ_ONCE(t->version);
		barrier();
		uint64_t stamp = READ_ONCE(t->tsc_timestamp);
		uint64_t base = READ_ONCE(t->system_time);
		uint32_t mul = READ_ONCE(t->tsc_to_system_mul);
		int8_t shift = READ_ONCE(t->tsc_shift);
		uint64_t tsc = rdtsc_ordered();
		uint64_t delta = tsc > stamp ? tsc - stamp : 0;
		delta = shift >= 0 ? delta << shift : delta >> -shift;
		ns = base + (uint64_t)(((unsigned __int128)delta * mul) >> 32);
		barrier();
	} while ((version & 1) || version != READ_ONCE(t->version));
	return ns;
}

/* ---- hypercalls -------------------------------------------------------- */

static long null_hypercall(void)
{
	return hypercall2(TG_HC_version, TG_VERSION_abi, 0);
}

static long evtchn_op(unsigned cmd, void *arg)
{
	return hypercall2(TG_HC_event_channel_op, cmd, arg);
}

static long port_op(unsigned cmd, uint32_t port)
{
	struct tg_evtchn_port_op op = {.port = port};
	return evtchn_op(cmd, &op);
}

static long evtchn_send(uint32_t port)
{
	return port_op(TG_EVTCHNOP_send, port);
}

static long evtchn_close(uint32_t port)
{
	return port_op(TG_EVTCHNOP_close, port);
}

static long bind_virq(uint32_t virq, uint32_t vcpu, uint32_t *port)
{
	struct tg_evtchn_bind_virq b = {.virq = virq, .vcpu = vcpu};
	long rc = evtchn_op(TG_EVTCHNOP_bind_virq, &b);
	if (rc == 0 && port)
		*port = b.port;
	return rc;
}

static long bind_ipi(uint32_t vcpu, uint32_t *port)
{
	struct tg_evtchn_bind_ipi b = {.vcpu = vcpu};
	long rc = evtchn_op(TG_EVTCHNOP_bind_ipi, &b);
	if (rc == 0 && port)
		*port = b.port;
	return rc;
}

static long alloc_unbound(uint16_t remote, uint32_t *port)
{
	struct tg_evtchn_alloc_unbound a = {.remote_dom = remote};
	long rc = evtchn_op(TG_EVTCHNOP_alloc_unbound, &a);
	if (rc == 0 && port)
		*port = a.port;
	return rc;
}

static long bind_vcpu(uint32_t port, uint32_t vcpu)
{
	struct tg_evtchn_bind_vcpu b = {.port = port, .vcpu = vcpu};
	return evtchn_op(TG_EVTCHNOP_bind_vcpu, &b);
}

static long evtchn_status(uint32_t port, struct tg_evtchn_status *st)
{
	mem_set(st, 0, sizeof(*st));
	st->port = port;
	return evtchn_op(TG_EVTCHNOP_status, st);
}

static long set_timer(uint64_t deadline)
{
	return hypercall1(TG_HC_set_timer_op, deadline);
}

static long sched_block(void)
{
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_block, 0);
}

static long sched_poll(const uint32_t *ports, uint32_t nr, uint64_t timeout)
{
	struct tg_sched_poll p = {.ports = (uint64_t)ports, .nr_ports = nr, .timeout_ns = timeout};
	return hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &p);
}

static long vcpu_op(unsigned cmd, uint32_t vcpu, void *arg)
{
	return hypercall3(TG_HC_vcpu_op, cmd, vcpu, arg);
}

/* ---- bits and masks ---------------------------------------------------- */

static inline bool bit_test(const uint64_t *words, unsigned nr)
{
	return (READ_ONCE(words[nr / 64]) >> (nr % 64)) & 1;
}

static inline void bit_set(uint64_t *words, unsigned nr)
{
	__atomic_fetch_or(&words[nr / 64], 1ULL << (nr % 64), __ATOMIC_SEQ_CST);
}

static inline void bit_clear(uint64_t *words, unsigned nr)
{
	__atomic_fetch_and(&words[nr / 64], ~(1ULL << (nr % 64)), __ATOMIC_SEQ_CST);
}

static inline bool port_pending(unsigned port)
{
	return bit_test(shared_info->evtchn_pending, port);
}

static inline bool port_masked(unsigned port)
{
	return bit_test(shared_info->evtchn_mask, port);
}

static inline void port_mask(unsigned port)
{
	bit_set(shared_info->evtchn_mask, port);
}

/* The guest's own unmask (ABI.md 9.5): no exit unless the port is pending. */
static void port_unmask_local(unsigned port)
{
	struct tg_vcpu_info *vi = my_info();
	bit_clear(shared_info->evtchn_mask, port);
	if (port_pending(port)) {
		__atomic_fetch_or(&vi->pending_sel, 1ULL << (port / 64), __ATOMIC_SEQ_CST);
		WRITE_ONCE(vi->upcall_pending, 1);
		if (!READ_ONCE(vi->upcall_mask))
			null_hypercall();
	}
}

/* cli */
static inline void irq_disable(void)
{
	WRITE_ONCE(my_info()->upcall_mask, 1);
	barrier();
}

/*
 * sti (ABI.md 9.5). The store and the load of upcall_pending are ordered
 * with a full fence: the VMM sets upcall_pending and then reads upcall_mask
 * from another thread, so a store still in this CPU's store buffer must not
 * let both sides miss the event.
 */
static inline void irq_enable(void)
{
	struct tg_vcpu_info *vi = my_info();
	barrier();
	__atomic_store_n(&vi->upcall_mask, 0, __ATOMIC_SEQ_CST);
	if (READ_ONCE(vi->upcall_pending))
		null_hypercall();
}

/* ---- ports, handlers and the upcall ------------------------------------ */

typedef void (*port_fn)(unsigned port);

static port_fn port_handler[NR_PORTS];
static volatile uint32_t hits[NR_PORTS];         /* deliveries per port */
static uint64_t cpu_ports[NR_CPUS][NR_WORDS];    /* ports each vCPU handles */

static struct cpu_events {
	volatile uint64_t upcalls;  /* event callback entries */
	volatile uint64_t from_user; /* of which interrupted user mode */
	volatile uint64_t odd;      /* entries without upcall_pending, mask, or a frame with IF */
	volatile uint64_t empty;    /* entries that found no port */
	volatile uint64_t nmis;     /* NMI callback entries */
	volatile uint64_t odd_nmis; /* NMI entries that were not a kernel frame */
	uint64_t sel_seen;          /* every pending_sel taken, OR-ed */
	uint64_t rip, rax, rflags;  /* the last upcall frame */
	uint64_t nmi_mask;          /* upcall_mask inside the last NMI callback */
} cpu_ev[NR_CPUS];

/* Port handled by vCPU cpu with fn (which may be NULL: only counted). */
static void attach(unsigned port, unsigned cpu, port_fn fn)
{
	for (unsigned c = 0; c < NR_CPUS; c++)
		bit_clear(cpu_ports[c], port);
	port_handler[port] = fn;
	hits[port] = 0;
	bit_set(cpu_ports[cpu], port);
}

static void detach(unsigned port)
{
	for (unsigned c = 0; c < NR_CPUS; c++)
		bit_clear(cpu_ports[c], port);
	port_handler[port] = NULL;
}

/* The event callback's C half (ABI.md 9.4), on either vCPU. */
void event_upcall(struct trap_regs *r)
{
	unsigned cpu = this_cpu();
	struct tg_vcpu_info *vi = &shared_info->vcpu_info[cpu];
	struct cpu_events *ce = &cpu_ev[cpu];
	bool any = false;

	bool user = r->cs == TG_USER_CS && r->ss == TG_USER_DS;
	bool kernel = r->cs == TG_KERNEL_CS && r->ss == TG_KERNEL_DS;
	ce->upcalls++;
	ce->from_user += user;
	if (!READ_ONCE(vi->upcall_pending) || READ_ONCE(vi->upcall_mask) != 1 || !(user || kernel) ||
	    !(r->rflags & TG_RFLAGS_IF))
		ce->odd++;
	ce->rip = r->rip;
	ce->rax = r->rax;
	ce->rflags = r->rflags;
	do {
		WRITE_ONCE(vi->upcall_pending, 0);
		uint64_t sel = __atomic_exchange_n(&vi->pending_sel, 0, __ATOMIC_SEQ_CST);
		ce->sel_seen |= sel;
		while (sel) {
			unsigned i = (unsigned)__builtin_ctzll(sel);
			sel &= sel - 1;
			uint64_t bits = READ_ONCE(shared_info->evtchn_pending[i]) & ~READ_ONCE(shared_info->evtchn_mask[i]) &
					cpu_ports[cpu][i];
			while (bits) {
				unsigned port = 64 * i + (unsigned)__builtin_ctzll(bits);
				bits &= bits - 1;
				bit_clear(shared_info->evtchn_pending, port);
				any = true;
				hits[port]++;
				if (port_handler[port])
					port_handler[port](port);
			}
		}
	} while (READ_ONCE(vi->upcall_pending));
	if (!any)
		ce->empty++;
}

/* The NMI callback's C half: counts, and notes the mask it ran with. */
void nmi_upcall(struct trap_regs *r)
{
	unsigned cpu = this_cpu();
	struct cpu_events *ce = &cpu_ev[cpu];
	ce->nmis++;
	ce->nmi_mask = READ_ONCE(shared_info->vcpu_info[cpu].upcall_mask);
	if (r->cs != TG_KERNEL_CS || r->ss != TG_KERNEL_DS)
		ce->odd_nmis++;
}

/* ---- the one-shot timer ------------------------------------------------ */

static struct timer_state {
	uint64_t deadline;          /* what the handler re-arms from (periodic mode) */
	volatile uint64_t fired;    /* VIRQ_TIMER deliveries */
	volatile uint64_t fired_at; /* system time in the handler, last delivery */
	volatile bool periodic;
	bool skip_missed; /* a deadline a whole period past restarts from now (counter=1) */
	uint64_t period, ticks, target;
	uint64_t dev_sum, dev_max, early;
} timers[NR_CPUS];

static uint32_t timer_port[NR_CPUS];

static void timer_handler(unsigned port)
{
	struct timer_state *t = &timers[this_cpu()];
	uint64_t now = now_ns();
	(void)port;
	t->fired_at = now;
	t->fired++;
	if (!t->periodic)
		return;
	if (now < t->deadline) {
		t->early++;
	} else {
		uint64_t dev = now - t->deadline;
		t->dev_sum += dev;
		if (dev > t->dev_max)
			t->dev_max = dev;
	}
	if (++t->ticks < t->target) {
		t->deadline += t->period;
		/* After a gap (a save and restore) tick on from now, as Linux's
		 * periodic tick does, rather than firing once per missed period. */
		if (t->skip_missed && now > t->deadline)
			t->deadline = now + t->period;
		set_timer(t->deadline);
	} else {
		t->periodic = false;
	}
}

/* Disarms this vCPU's timer and takes any expiry still pending. */
static void timer_quiesce(void)
{
	set_timer(0);
	irq_enable();
	irq_disable();
}

/*
 * Runs the timer at hz from its handler for ticks ticks, blocking in
 * between; returns with events masked.
 */
static void timer_periodic(uint64_t hz, uint64_t ticks)
{
	struct timer_state *t = &timers[this_cpu()];
	t->period = NS_PER_S / (hz ? hz : 1);
	t->ticks = 0;
	t->target = ticks;
	t->dev_sum = t->dev_max = t->early = 0;
	if (!ticks)
		return;
	irq_disable();
	t->deadline = now_ns() + t->period;
	t->periodic = true;
	set_timer(t->deadline);
	for (;;) {
		irq_disable();
		if (t->ticks >= t->target)
			break;
		sched_block();
	}
}

/* Arms the timer as a watchdog for a wait; its expiry ends any block. */
static uint64_t watchdog(void)
{
	uint64_t limit = now_ns() + WAIT_LIMIT_NS;
	set_timer(limit);
	return limit;
}

/*
 * Blocks with events unmasked until *counter reaches target, or until
 * limit (a watchdog armed by the caller). Returns with events masked.
 */
static bool wait_until(volatile uint32_t *counter, uint32_t target, uint64_t limit)
{
	for (;;) {
		irq_disable();
		if (*counter >= target)
			return true;
		if (limit && now_ns() >= limit)
			return false;
		sched_block();
	}
}

static bool wait_for(volatile uint32_t *counter, uint32_t target)
{
	bool ok = wait_until(counter, target, watchdog());
	set_timer(0);
	return ok;
}

/* ---- vCPU 1 ------------------------------------------------------------- */

enum ap_cmd {
	CMD_PING,       /* answer */
	CMD_INCREMENT,  /* counter + 1 with a plain read-modify-write, answer */
	CMD_ADD,        /* ADD_ROUNDS atomic increments, answer */
	CMD_TIMER,      /* arm vCPU 1's own timer 1 ms ahead; its handler answers */
	CMD_WAIT_NMI,   /* spin with events masked until an NMI arrives, answer */
	CMD_UP_CPU0,    /* wait until vCPU 0 is down, bring it up */
	CMD_REFUSED,    /* singleshot timer calls naming vCPU 0: record the results, answer */
};

#define ADD_ROUNDS 100000

static uint32_t ipi_port[NR_CPUS]; /* IPI port delivered to each vCPU */
static volatile uint32_t pongs;    /* IPIs vCPU 0 received from vCPU 1 */

static struct {
	volatile uint32_t cmd;
	volatile uint32_t started;   /* entries into ap_main */
	volatile uint64_t generation; /* rdi of the context it started from */
	volatile uint32_t spinning;  /* ap_spin runs */
	volatile uint32_t waiting_nmi;
	volatile long rc, rc2;
	volatile uint64_t counter;   /* incremented under the IPI handshake */
	volatile uint64_t atomic_counter;
	volatile uint64_t timer_deadline, timer_fired_at;
	volatile uint32_t timer_cpu;
	volatile uint32_t tsc_aux;   /* RDTSCP's ecx on vCPU 1 */
} ap;

static void cpu0_ipi(unsigned port)
{
	(void)port;
	pongs++;
}

static void answer(void)
{
	ap.rc2 = evtchn_send(ipi_port[0]);
}

static void ap_ipi(unsigned port)
{
	(void)port;
	switch (ap.cmd) {
	case CMD_PING:
		break;
	case CMD_INCREMENT:
		ap.counter = ap.counter + 1;
		break;
	case CMD_ADD:
		for (unsigned i = 0; i < ADD_ROUNDS; i++)
			__atomic_fetch_add(&ap.atomic_counter, 1, __ATOMIC_RELAXED);
		break;
	case CMD_TIMER:
		ap.timer_deadline = now_ns() + NS_PER_MS;
		ap.rc = set_timer(ap.timer_deadline);
		return; /* ap_timer answers */
	case CMD_WAIT_NMI: {
		uint64_t before = cpu_ev[1].nmis, limit = now_ns() + WAIT_LIMIT_NS;
		ap.waiting_nmi = 1;
		while (cpu_ev[1].nmis == before && now_ns() < limit)
			cpu_relax();
		ap.waiting_nmi = 0;
		break;
	}
	case CMD_UP_CPU0: {
		uint64_t limit = now_ns() + WAIT_LIMIT_NS;
		while (vcpu_op(TG_VCPUOP_is_up, 0, NULL) == 1 && now_ns() < limit)
			cpu_relax();
		ap.rc = vcpu_op(TG_VCPUOP_up, 0, NULL);
		return; /* vCPU 0 carries on from its down */
	}
	case CMD_REFUSED: {
		struct tg_vcpu_singleshot_timer t = {.deadline_ns = now_ns() + NS_PER_S};
		ap.rc = vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &t);
		ap.rc2 = vcpu_op(TG_VCPUOP_stop_singleshot_timer, 0, NULL);
		evtchn_send(ipi_port[0]);
		return;
	}
	}
	answer();
}

static void ap_timer(unsigned port)
{
	(void)port;
	ap.timer_fired_at = now_ns();
	ap.timer_cpu = this_cpu();
	answer();
}

/* vCPU 1 starts here (rdi = generation) and sleeps in block between events. */
static __attribute__((noreturn, used)) void ap_main(uint64_t generation)
{
	ap.generation = generation;
	ap.tsc_aux = rdtscp_aux();
	ap.started++;
	evtchn_send(ipi_port[0]);
	for (;;)
		sched_block();
}

/* vCPU 1 for shutdown-while-running: spins in guest code for ever. */
static __attribute__((noreturn, used)) void ap_spin(uint64_t generation)
{
	ap.generation = generation;
	ap.spinning = 1;
	for (;;)
		cpu_relax();
}

static struct tg_vcpu_guest_context ap_context;

/* The context vCPU 1 starts from: ap_stack, the kernel's tables and callbacks. */
static struct tg_vcpu_guest_context *ap_context_for(void (*entry)(uint64_t), uint64_t generation)
{
	struct tg_vcpu_guest_context *c = &ap_context;
	uint64_t top = (uint64_t)(ap_stack + sizeof(ap_stack));
	mem_set(c, 0, sizeof(*c));
	c->rip = (uint64_t)entry;
	c->rsp = top - 8; /* as after a call */
	c->rdi = generation;
	c->rflags = 0x2; /* events masked until it blocks */
	c->kernel_l4_gfn = (si->pt_base - si->virt_base) >> TG_PAGE_SHIFT;
	c->kernel_sp = top;
	c->trap_table = (uint64_t)guest_trap_table;
	c->callbacks[TG_CALLBACK_EVENT].address = (uint64_t)event_entry;
	c->callbacks[TG_CALLBACK_EVENT].flags = TG_CALLBACKF_MASK_EVENTS;
	c->callbacks[TG_CALLBACK_FAILSAFE].address = (uint64_t)failsafe_entry;
	c->callbacks[TG_CALLBACK_FAILSAFE].flags = TG_CALLBACKF_MASK_EVENTS;
	c->callbacks[TG_CALLBACK_SYSCALL].address = (uint64_t)syscall_entry;
	c->callbacks[TG_CALLBACK_SYSCALL].flags = TG_CALLBACKF_MASK_EVENTS;
	c->callbacks[TG_CALLBACK_NMI].address = (uint64_t)nmi_entry;
	c->callbacks[TG_CALLBACK_NMI].flags = TG_CALLBACKF_MASK_EVENTS;
	return c;
}

/* Sends cmd to vCPU 1 and waits for its answer (watchdog armed by the caller). */
static bool ap_call(uint32_t cmd, uint64_t limit)
{
	uint32_t want = pongs + 1;
	ap.cmd = cmd;
	if (evtchn_send(ipi_port[1]) != 0)
		return false;
	return wait_until(&pongs, want, limit);
}

/* ---- setup ------------------------------------------------------------- */

static bool offered(uint32_t need)
{
	struct tg_feature_info f = {.submap_idx = 0};
	return hypercall2(TG_HC_version, TG_VERSION_features, &f) == 0 && (f.submap & need) == need;
}

static long register_callbacks(void)
{
	long rc = hypercall3(TG_HC_set_callbacks, TG_CALLBACK_EVENT, event_entry, TG_CALLBACKF_MASK_EVENTS);
	rc |= hypercall3(TG_HC_set_callbacks, TG_CALLBACK_NMI, nmi_entry, TG_CALLBACKF_MASK_EVENTS);
	return rc;
}

static void events_init(const struct tg_start_info *start_info)
{
	si = start_info;
	nr_vcpus = si->nr_vcpus;
}

/* The lowest port whose status is closed, by asking; 0 if none. */
static unsigned lowest_closed_port(void)
{
	for (unsigned p = 1; p < NR_PORTS; p++) {
		struct tg_evtchn_status st;
		if (evtchn_status(p, &st) != 0)
			return 0;
		if (st.status == TG_EVTCHNSTAT_closed)
			return p;
	}
	return 0;
}

/* ---- suite 1: event channels on one vCPU ------------------------------- */

static void check_boot_state(void)
{
	bool clean = true;
	for (unsigned i = 0; i < NR_WORDS; i++)
		clean = clean && READ_ONCE(shared_info->evtchn_mask[i]) == 0 &&
			READ_ONCE(shared_info->evtchn_pending[i]) == 0;
	check(clean, "shared info at boot: no port masked, none pending");
	struct tg_vcpu_info *vi = &shared_info->vcpu_info[0];
	check(vi->upcall_mask == 1 && vi->upcall_pending == 0 && vi->pending_sel == 0,
	      "vCPU 0 starts with events masked and nothing pending");
}

static void check_binding(void)
{
	struct tg_evtchn_status st;
	unsigned want = lowest_closed_port();
	uint32_t t = 0, i = 0;

	check_rc(bind_virq(TG_VIRQ_TIMER, 0, &t), 0, "bind_virq VIRQ_TIMER on vCPU 0");
	check(want >= 1 && t == want, "its port is the lowest free one, never 0");
	check(evtchn_status(t, &st) == 0 && st.status == TG_EVTCHNSTAT_virq && st.vcpu == 0 &&
		      st.virq == TG_VIRQ_TIMER && st.remote_dom == 0,
	      "status of the timer port: virq, VIRQ_TIMER, vCPU 0");
	timer_port[0] = t;
	attach(t, 0, timer_handler);

	want = lowest_closed_port();
	check_rc(bind_ipi(0, &i), 0, "bind_ipi to vCPU 0 (ourselves)");
	check(i == want && i != t, "the IPI port is the next lowest free one");
	check(evtchn_status(i, &st) == 0 && st.status == TG_EVTCHNSTAT_ipi && st.vcpu == 0 && st.virq == 0,
	      "status of the IPI port: ipi, vCPU 0");
	ipi_port[0] = i;
	attach(i, 0, NULL);
	check(!port_pending(t) && !port_pending(i) && !port_masked(t) && !port_masked(i),
	      "new ports are neither pending nor masked");
}

static void check_delivery(void)
{
	struct tg_vcpu_info *vi = &shared_info->vcpu_info[0];
	struct cpu_events *ce = &cpu_ev[0];
	unsigned p = ipi_port[0];
	uint64_t slot = (uint64_t)hypercall_page + TG_HC_event_channel_op * TG_HYPERCALL_SLOT_SIZE;

	/* Unmasked: the upcall comes on the return of the send. */
	irq_enable();
	uint64_t up0 = ce->upcalls, odd0 = ce->odd;
	ce->sel_seen = 0;
	long rc = evtchn_send(p);
	uint32_t seen = hits[p];
	irq_disable();
	check_rc(rc, 0, "send on the IPI port");
	check(seen == 1 && ce->upcalls == up0 + 1, "with events unmasked the upcall runs the handler on the send's return");
	check(ce->rip >= slot && ce->rip < slot + TG_HYPERCALL_SLOT_SIZE && ce->rax == 0,
	      "the upcall frame: rip at the hypercall's return, rax its result");
	check(ce->odd == odd0 && ce->from_user == 0, "the upcall came with upcall_pending set, events masked, a kernel frame with IF");
	check(ce->sel_seen == 1ULL << (p / 64), "pending_sel named the port's word");
	check(!port_pending(p) && vi->upcall_pending == 0 && vi->pending_sel == 0,
	      "after the scan: pending bit, upcall_pending and pending_sel clear");

	/* A masked port: pending, nothing else. */
	port_mask(p);
	irq_enable();
	up0 = ce->upcalls;
	rc = evtchn_send(p);
	bool quiet = hits[p] == 1 && ce->upcalls == up0;
	irq_disable();
	check_rc(rc, 0, "send on the port masked in evtchn_mask");
	check(quiet && port_pending(p), "a masked port: pending bit set, no upcall");
	check(vi->upcall_pending == 0 && !(vi->pending_sel & (1ULL << (p / 64))),
	      "a masked port sets neither pending_sel nor upcall_pending");
	irq_enable();
	rc = port_op(TG_EVTCHNOP_unmask, p);
	seen = hits[p];
	irq_disable();
	check_rc(rc, 0, "TG_EVTCHNOP_unmask");
	check(seen == 2 && !port_masked(p) && !port_pending(p), "unmask delivers the pending port at once");

	/* All events masked: upcall_pending waits for the unmask. */
	up0 = ce->upcalls;
	rc = evtchn_send(p);
	check(rc == 0 && hits[p] == 2 && ce->upcalls == up0 && port_pending(p) && vi->upcall_pending == 1,
	      "with upcall_mask = 1 a send sets upcall_pending and makes no upcall");
	__atomic_store_n(&vi->upcall_mask, 0, __ATOMIC_SEQ_CST);
	seen = hits[p];
	bool pending = READ_ONCE(vi->upcall_pending);
	if (pending)
		null_hypercall();
	uint32_t after = hits[p];
	irq_disable();
	check(seen == 2 && pending && after == 3, "storing 0 to upcall_mask, then the null hypercall delivers it");

	/* The guest's own unmask of a port (9.5), no exit when nothing is pending. */
	port_mask(p);
	evtchn_send(p);
	irq_enable();
	seen = hits[p];
	port_unmask_local(p);
	after = hits[p];
	irq_disable();
	check(seen == 3 && after == 4 && !port_pending(p), "a port unmasked by the guest itself is delivered too");
}

static void check_close_and_errors(void)
{
	struct tg_evtchn_status st;
	unsigned p = ipi_port[0], t = timer_port[0];
	uint32_t port = 0;

	/* close leaves the bits; the next allocation clears pending, keeps mask. */
	port_mask(p);
	evtchn_send(p);
	check_rc(evtchn_close(p), 0, "close of the IPI port");
	detach(p);
	check(port_pending(p) && port_masked(p), "close leaves the pending and mask bits as they were");
	check_rc(evtchn_close(p), -TG_ENOENT, "close of a closed port: -ENOENT");
	check_rc(evtchn_send(p), -TG_ENOENT, "send to a closed port: -ENOENT");
	check_rc(port_op(TG_EVTCHNOP_unmask, p), -TG_ENOENT, "unmask of a closed port: -ENOENT");
	check_rc(bind_vcpu(p, 0), -TG_ENOENT, "bind_vcpu of a closed port: -ENOENT");
	check(evtchn_status(p, &st) == 0 && st.status == TG_EVTCHNSTAT_closed, "status of a closed port: closed");
	check_rc(bind_ipi(0, &port), 0, "bind_ipi again");
	check(port == p, "it gets the port just closed (lowest free first)");
	check(!port_pending(p) && port_masked(p), "allocation clears the pending bit and keeps the guest's mask bit");
	bit_clear(shared_info->evtchn_mask, p);
	attach(p, 0, NULL);

	check_rc(evtchn_send(0), -TG_EINVAL, "send to port 0: -EINVAL");
	check_rc(evtchn_send(NR_PORTS), -TG_EINVAL, "send to port 4096: -EINVAL");
	check_rc(evtchn_close(0), -TG_EINVAL, "close of port 0: -EINVAL");
	check_rc(port_op(TG_EVTCHNOP_unmask, NR_PORTS + 7), -TG_EINVAL, "unmask of port 4103: -EINVAL");
	check_rc(evtchn_status(0, &st), -TG_EINVAL, "status of port 0: -EINVAL");
	check_rc(evtchn_status(NR_PORTS, &st), -TG_EINVAL, "status of port 4096: -EINVAL");
	check_rc(bind_vcpu(0, 0), -TG_EINVAL, "bind_vcpu of port 0: -EINVAL");

	struct tg_evtchn_bind_virq bv = {.virq = TG_VIRQ_TIMER, .vcpu = 0, .port = 0x5eed};
	check_rc(evtchn_op(TG_EVTCHNOP_bind_virq, &bv), -TG_EEXIST, "bind_virq of VIRQ_TIMER on vCPU 0 again: -EEXIST");
	check(bv.port == 0x5eed, "a refused call leaves its out field alone");
	check_rc(bind_virq(5, 0, NULL), -TG_EINVAL, "bind_virq of VIRQ 5 (reserved): -EINVAL");
	check_rc(bind_virq(TG_NR_VIRQS, 0, NULL), -TG_EINVAL, "bind_virq of VIRQ 32: -EINVAL");
	if (nr_vcpus <= 7)
		check_rc(bind_virq(TG_VIRQ_DEBUG, 7, NULL), -TG_ESRCH, "bind_virq on vCPU 7: -ESRCH");
	check_rc(bind_virq(TG_VIRQ_DEBUG, nr_vcpus, NULL), -TG_ESRCH, "bind_virq on vCPU nr_vcpus: -ESRCH");
	check_rc(bind_ipi(nr_vcpus, NULL), -TG_ESRCH, "bind_ipi to vCPU nr_vcpus: -ESRCH");
	check_rc(evtchn_send(t), -TG_EINVAL, "send on a VIRQ port: -EINVAL");
	check_rc(bind_vcpu(t, 0), -TG_EINVAL, "bind_vcpu of a per-vCPU VIRQ port: -EINVAL");
	check_rc(bind_vcpu(p, 0), -TG_EINVAL, "bind_vcpu of an IPI port: -EINVAL");

	struct tg_evtchn_bind_virq pad_virq = {.virq = TG_VIRQ_DEBUG, .vcpu = 0, ._pad0 = 1};
	check_rc(evtchn_op(TG_EVTCHNOP_bind_virq, &pad_virq), -TG_EINVAL, "bind_virq with nonzero padding: -EINVAL");
	struct tg_evtchn_port_op pad_port = {.port = p, ._pad0 = 1};
	check_rc(evtchn_op(TG_EVTCHNOP_send, &pad_port), -TG_EINVAL, "send with nonzero padding: -EINVAL");
	check(!port_pending(p), "and raised nothing");
	struct tg_evtchn_alloc_unbound pad_unbound = {.remote_dom = TG_DOMID_VMM, ._pad0 = 1};
	check_rc(evtchn_op(TG_EVTCHNOP_alloc_unbound, &pad_unbound), -TG_EINVAL,
		  "alloc_unbound with nonzero padding: -EINVAL");
	struct tg_evtchn_port_op any = {.port = p};
	check_rc(evtchn_op(99, &any), -TG_ENOSYS, "unknown event_channel_op: -ENOSYS");

	/* Global and per-vCPU VIRQs other than the timer. */
	uint32_t c = 0, d = 0;
	check_rc(bind_virq(TG_VIRQ_CONSOLE, 0, &c), 0, "bind_virq VIRQ_CONSOLE (global) on vCPU 0");
	check_rc(bind_virq(TG_VIRQ_CONSOLE, 0, NULL), -TG_EEXIST, "a global VIRQ bound twice: -EEXIST");
	check_rc(bind_vcpu(c, 0), 0, "bind_vcpu of a global VIRQ port");
	check(evtchn_status(c, &st) == 0 && st.status == TG_EVTCHNSTAT_virq && st.virq == TG_VIRQ_CONSOLE,
	      "status of the console VIRQ port");
	check_rc(bind_virq(TG_VIRQ_DEBUG, 0, &d), 0, "bind_virq VIRQ_DEBUG on vCPU 0");
	check_rc(evtchn_close(c) | evtchn_close(d), 0, "close of both VIRQ ports");
	check_rc(bind_virq(TG_VIRQ_CONSOLE, 0, &c), 0, "a closed VIRQ can be bound again");
	evtchn_close(c);
}

static void check_unbound(void)
{
	static uint16_t taken[NR_PORTS];
	struct tg_evtchn_status st;
	uint32_t u = 0;

	check_rc(alloc_unbound(TG_DOMID_VMM, &u), 0, "alloc_unbound with remote TG_DOMID_VMM");
	check(evtchn_status(u, &st) == 0 && st.status == TG_EVTCHNSTAT_unbound && st.vcpu == 0 &&
		      st.remote_dom == TG_DOMID_VMM,
	      "status of the unbound port: unbound, vCPU 0, remote the VMM");
	check_rc(evtchn_send(u), 0, "send to an unbound port is accepted and does nothing");
	check_rc(bind_vcpu(u, 0), 0, "bind_vcpu of an unbound port");
	check_rc(bind_vcpu(u, nr_vcpus), -TG_ESRCH, "bind_vcpu to vCPU nr_vcpus: -ESRCH");
	check_rc(alloc_unbound(TG_DOMID_SELF, NULL), -TG_ESRCH, "alloc_unbound with remote TG_DOMID_SELF: -ESRCH");
	check_rc(alloc_unbound(5, NULL), -TG_ESRCH, "alloc_unbound with remote domain 5: -ESRCH");
	check_rc(evtchn_close(u), 0, "close of the unbound port");

	/* Fill the table: every port the suite does not hold, then -ENOSPC. */
	unsigned held = 2 + (si->console_evtchn != 0) + (si->store_evtchn != 0);
	unsigned n = 0, prev = 0;
	bool ascending = true;
	long rc = 0;
	while (n < NR_PORTS && (rc = alloc_unbound(TG_DOMID_VMM, &u)) == 0) {
		ascending = ascending && u > prev;
		prev = u;
		taken[n++] = (uint16_t)u;
	}
	check_rc(rc, -TG_ENOSPC, "alloc_unbound with every port taken: -ENOSPC");
	check(n == NR_PORTS - 1 - held && ascending, "4095 ports in all, handed out lowest first");
	rc = 0;
	for (unsigned k = 0; k < n; k++)
		rc |= evtchn_close(taken[k]);
	check_rc(rc, 0, "all of them closed again");
}

/* ---- suite 2: time and the timer --------------------------------------- */

static void check_clock(void)
{
	uint64_t t0 = now_ns(), t1 = t0;
	for (unsigned i = 0; i < 100000000 && t1 == t0; i++)
		t1 = now_ns();
	check(t0 > 0 && t1 > t0, "system time from the pvclock record advances");

	const struct tg_wall_clock *wc = &shared_info->wc;
	uint32_t v;
	uint64_t sec;
	uint32_t nsec;
	do {
		v = READ_ONCE(wc->version);
		barrier();
		sec = READ_ONCE(wc->sec);
		nsec = READ_ONCE(wc->nsec);
		barrier();
	} while ((v & 1) || v != READ_ONCE(wc->version));
	put_str("# wall clock at system time 0: ");
	put_dec(sec);
	put_str(" s since 1970, pvclock flags ");
	put_hex(my_info()->time.flags);
	put_str("\n");
	check(sec > WALL_CLOCK_2020 && nsec < NS_PER_S, "the wall clock is after 2020");
}

static void check_timer(void)
{
	struct timer_state *tm = &timers[0];
	unsigned t = timer_port[0];
	uint32_t ports[1] = {t};

	timer_quiesce();

	/* Arm 2 ms ahead and block: woken by VIRQ_TIMER, not before the deadline. */
	uint64_t fired = tm->fired, deadline = now_ns() + 2 * NS_PER_MS;
	long rc = set_timer(deadline);
	unsigned blocks = 0;
	while (tm->fired == fired && blocks < 1000) {
		sched_block();
		irq_disable();
		blocks++;
	}
	check_rc(rc, 0, "set_timer_op 2 ms ahead");
	check(tm->fired == fired + 1, "sched_op block is ended by VIRQ_TIMER");
	check(tm->fired_at >= deadline, "the timer fired at or after its deadline");
	if (tm->fired_at < deadline) {
		put_str("#   fired ");
		put_dec(deadline - tm->fired_at);
		put_str(" ns early\n");
	}

	/* A deadline in the past: pending before the hypercall returns. */
	fired = tm->fired;
	rc = set_timer(1);
	bool pending = port_pending(t);
	check(rc == 0 && pending && tm->fired == fired, "a deadline in the past: VIRQ_TIMER pending when the call returns");
	irq_enable();
	irq_disable();
	check(tm->fired == fired + 1 && !port_pending(t), "and delivered once events are unmasked");

	/* set_timer_op(0) disarms. The deadline is far enough ahead that it
	 * cannot pass before the disarm even on a loaded host. */
	fired = tm->fired;
	set_timer(now_ns() + NS_PER_S);
	rc = set_timer(0);
	uint64_t timeout = now_ns() + 5 * NS_PER_MS;
	long prc = sched_poll(ports, 1, timeout);
	uint64_t back = now_ns();
	check_rc(rc, 0, "set_timer_op(0)");
	check_rc(prc, -TG_ETIMEDOUT, "a disarmed timer never fires: poll on its port times out");
	check(back >= timeout && !port_pending(t) && tm->fired == fired, "poll returned at its timeout, the port never pending");

	/* Too far ahead. */
	uint64_t now = now_ns();
	check_rc(set_timer(now + TG_TIMER_MAX_AHEAD_NS + NS_PER_S), -TG_EINVAL, "a deadline 365 days and 1 s ahead: -EINVAL");
	check_rc(set_timer(now + TG_TIMER_MAX_AHEAD_NS - NS_PER_S), 0, "a deadline 1 s short of 365 days is taken");
	set_timer(0);

	/* The vcpu_op names of the same timer. */
	struct tg_vcpu_singleshot_timer st = {.deadline_ns = 0};
	fired = tm->fired;
	rc = vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &st);
	check(rc == 0 && port_pending(t), "set_singleshot_timer with deadline 0 fires at once");
	timer_quiesce();
	set_timer(now_ns() + 3600 * NS_PER_S);
	st.deadline_ns = now_ns() + NS_PER_MS;
	rc = vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &st);
	prc = sched_poll(ports, 1, now_ns() + NS_PER_S);
	check(rc == 0 && prc == 0 && port_pending(t), "set_singleshot_timer replaces the set_timer_op deadline");
	timer_quiesce();
	st.deadline_ns = now_ns() + NS_PER_S;  /* cannot pass before the stop */
	vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &st);
	rc = vcpu_op(TG_VCPUOP_stop_singleshot_timer, 0, NULL);
	prc = sched_poll(ports, 1, now_ns() + 5 * NS_PER_MS);
	check(rc == 0 && prc == -TG_ETIMEDOUT, "stop_singleshot_timer disarms it");
	st.flags = 1;
	check_rc(vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &st), -TG_EINVAL, "set_singleshot_timer with flags: -EINVAL");
	st.flags = 0;
	st._pad0 = 1;
	check_rc(vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &st), -TG_EINVAL,
		  "set_singleshot_timer with nonzero padding: -EINVAL");
	st._pad0 = 0;
	st.deadline_ns = now_ns() + TG_TIMER_MAX_AHEAD_NS + NS_PER_S;
	check_rc(vcpu_op(TG_VCPUOP_set_singleshot_timer, 0, &st), -TG_EINVAL,
		  "set_singleshot_timer more than 365 days ahead: -EINVAL");
	timer_quiesce();

	/* A periodic tick re-armed from the handler. */
	timer_periodic(1000, 50);
	put_str("# timer 1000 Hz: ");
	put_dec(tm->ticks);
	put_str(" ticks, deviation mean ");
	put_us(tm->ticks > tm->early ? tm->dev_sum / (tm->ticks - tm->early) : 0);
	put_str(" us, max ");
	put_us(tm->dev_max);
	put_str(" us\n");
	check(tm->ticks == 50 && tm->early == 0, "a 1000 Hz tick re-armed from the handler: 50 ticks, none early");
	timer_quiesce();
}

/*
 * A user program that spins until the timer fires: the upcall interrupts
 * user mode, goes to the kernel stack, and its iret returns to user mode.
 */
static uint8_t user_wait_stack[4096] __attribute__((aligned(16)));
static uint64_t user_wait_before, user_wait_limit;

static void user_wait_timer(void)
{
	while (READ_ONCE(timers[0].fired) == user_wait_before && now_ns() < user_wait_limit)
		cpu_relax();
	usys(SYS_EXIT, 0, 0, 0);
}

static void check_upcall_from_user(void)
{
	struct cpu_events *ce = &cpu_ev[0];
	uint64_t from_user = ce->from_user, odd = ce->odd;
	timer_quiesce();
	user_wait_before = timers[0].fired;
	user_wait_limit = now_ns() + WAIT_LIMIT_NS;
	set_timer(now_ns() + NS_PER_MS);
	run_user_at((uint64_t)user_wait_timer, (uint64_t)(user_wait_stack + sizeof(user_wait_stack)) - 8, 0);
	irq_disable();
	check(timers[0].fired == user_wait_before + 1 && ce->from_user == from_user + 1 && ce->odd == odd,
	      "an upcall interrupting user mode: a user frame on the kernel stack, iret back to user mode");
	timer_quiesce();
}

/* ---- suite 3: block and poll ------------------------------------------- */

static void check_block_and_poll(void)
{
	struct tg_vcpu_info *vi = &shared_info->vcpu_info[0];
	unsigned p = ipi_port[0], t = timer_port[0];
	static uint32_t ports[129];

	/* block with an event already pending returns at once (nothing else could end it). */
	evtchn_send(p);
	uint32_t seen = hits[p];
	long rc = sched_block();
	bool unmasked = READ_ONCE(vi->upcall_mask) == 0;
	irq_disable();
	check(rc == 0 && seen + 1 == hits[p], "block with an event already pending returns at once, the upcall delivered");
	check(unmasked, "block leaves events unmasked");

	/* poll: a pending port, even masked, ends it; nothing is changed. */
	port_mask(p);
	evtchn_send(p);
	ports[0] = t;
	ports[1] = p;
	rc = sched_poll(ports + 1, 1, now_ns() + NS_PER_S);
	check(rc == 0 && port_pending(p) && port_masked(p) && vi->upcall_mask == 1,
	      "poll on a pending port returns 0 even when it is masked, and changes nothing");
	rc = sched_poll(ports, 2, 0);
	check_rc(rc, 0, "poll of two ports, one pending, without timeout");
	port_unmask_local(p);
	irq_enable();
	irq_disable();
	check(!port_pending(p), "the masked event delivered after its unmask");

	/* poll sleeps until a listed port becomes pending. */
	set_timer(now_ns() + NS_PER_MS);
	rc = sched_poll(ports, 1, now_ns() + NS_PER_S);
	check(rc == 0 && port_pending(t) && vi->upcall_mask == 1, "poll wakes when the timer's port becomes pending");
	timer_quiesce();
	check_rc(sched_poll(ports, 1, 1), -TG_ETIMEDOUT, "poll with a timeout in the past and nothing pending: -ETIMEDOUT");

	/* Bad arguments. */
	for (unsigned k = 0; k < 129; k++)
		ports[k] = t;
	check_rc(sched_poll(ports, 0, 1), -TG_EINVAL, "poll of 0 ports: -EINVAL");
	check_rc(sched_poll(ports, 129, 1), -TG_EINVAL, "poll of 129 ports: -EINVAL");
	check_rc(sched_poll(ports, 128, 1), -TG_ETIMEDOUT, "poll of 128 ports is allowed");
	ports[3] = 0;
	check_rc(sched_poll(ports, 4, 1), -TG_EINVAL, "poll naming port 0: -EINVAL");
	ports[3] = NR_PORTS;
	check_rc(sched_poll(ports, 4, 1), -TG_EINVAL, "poll naming port 4096: -EINVAL");
	ports[3] = t;
	struct tg_sched_poll pad = {.ports = (uint64_t)ports, .nr_ports = 1, ._pad = 1, .timeout_ns = 1};
	check_rc(hypercall2(TG_HC_sched_op, TG_SCHEDOP_poll, &pad), -TG_EINVAL, "poll with nonzero padding: -EINVAL");
	check(vi->upcall_mask == 1, "events still masked after every poll");
}

/* ---- suite 4: vCPUs ---------------------------------------------------- */

static bool runstate_sane(uint32_t vcpu, uint32_t want_state, bool any_up_state)
{
	struct tg_vcpu_runstate rs;
	mem_set(&rs, 0xff, sizeof(rs));
	long rc = vcpu_op(TG_VCPUOP_get_info, vcpu, &rs);
	uint64_t now = now_ns(), sum = 0;
	for (unsigned s = 0; s < TG_NR_RUNSTATES; s++)
		sum += rs.time[s];
	bool state_ok = any_up_state ? rs.state < TG_RUNSTATE_offline : rs.state == want_state;
	bool ok = rc == 0 && state_ok && rs._pad0 == 0 && rs.state_entry_time <= now + NS_PER_MS && sum <= now + NS_PER_MS;
	if (!ok) {
		put_str("#   get_info(");
		put_dec(vcpu);
		put_str("): rc ");
		put_sdec(rc);
		put_str(" state ");
		put_dec(rs.state);
		put_str(" entry ");
		put_dec(rs.state_entry_time);
		put_str(" sum ");
		put_dec(sum);
		put_str(" now ");
		put_dec(now);
		put_str("\n");
	}
	return ok;
}

static void check_vcpu_basics(void)
{
	check_rc(vcpu_op(TG_VCPUOP_is_up, 0, NULL), 1, "vcpu_op is_up(0) = 1");
	check(runstate_sane(0, TG_RUNSTATE_running, false), "get_info(0): running, times sane");
	struct tg_vcpu_runstate rs;
	check_rc(vcpu_op(TG_VCPUOP_get_info, nr_vcpus, &rs), -TG_ESRCH, "get_info of vCPU nr_vcpus: -ESRCH");
	check_rc(vcpu_op(TG_VCPUOP_is_up, nr_vcpus, NULL), -TG_ESRCH, "is_up of vCPU nr_vcpus: -ESRCH");
	check_rc(vcpu_op(TG_VCPUOP_up, TG_MAX_VCPUS, NULL), -TG_ESRCH, "up of vCPU 32: -ESRCH");
	check_rc(vcpu_op(TG_VCPUOP_down, 0xffffffffU, NULL), -TG_ESRCH, "down of vCPU 0xffffffff: -ESRCH");
	check_rc(vcpu_op(TG_VCPUOP_send_nmi, nr_vcpus, NULL), -TG_ESRCH, "send_nmi to vCPU nr_vcpus: -ESRCH");
	check_rc(vcpu_op(TG_VCPUOP_initialise, nr_vcpus, ap_context_for(ap_main, 1)), -TG_ESRCH,
		  "initialise of vCPU nr_vcpus: -ESRCH");
	check_rc(vcpu_op(99, 0, NULL), -TG_ENOSYS, "unknown vcpu_op: -ENOSYS");
	if (nr_vcpus == 1)
		check_rc(vcpu_op(TG_VCPUOP_down, 0, NULL), -TG_EBUSY, "down of the only vCPU: -EBUSY");
	check_rc(vcpu_op(TG_VCPUOP_initialise, 0, ap_context_for(ap_main, 1)), -TG_EBUSY,
		  "initialise of vCPU 0, which is up: -EBUSY");

	/* A virtual NMI comes whatever upcall_mask says. */
	struct cpu_events *ce = &cpu_ev[0];
	uint64_t nmis = ce->nmis, limit = now_ns() + WAIT_LIMIT_NS;
	long rc = vcpu_op(TG_VCPUOP_send_nmi, 0, NULL);
	while (ce->nmis == nmis && now_ns() < limit)
		cpu_relax();
	check_rc(rc, 0, "send_nmi to ourselves");
	check(ce->nmis == nmis + 1 && ce->odd_nmis == 0 && ce->nmi_mask == 1,
	      "the NMI callback runs with events masked, on a kernel frame");
	check(shared_info->vcpu_info[0].upcall_mask == 1, "its iret gives back the mask it interrupted");
}

/* vCPU 1 refuses bad contexts; the good one starts ap_main. */
static bool check_bring_up(void)
{
	struct tg_vcpu_guest_context *c;
	check(offered(TG_FEAT_SMP), "features word 0 offers SMP");
	check_rc(vcpu_op(TG_VCPUOP_is_up, 1, NULL), 0, "vcpu_op is_up(1) = 0 at boot");
	check(runstate_sane(1, TG_RUNSTATE_offline, false), "get_info(1): offline before it was ever up");
	check_rc(vcpu_op(TG_VCPUOP_up, 1, NULL), -TG_EINVAL, "up of a vCPU never initialised: -EINVAL");

	c = ap_context_for(ap_main, 1);
	c->flags = 1;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, c), -TG_EINVAL, "initialise with flags: -EINVAL");
	c = ap_context_for(ap_main, 1);
	c->_reserved[100] = 1;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, c), -TG_EINVAL, "initialise with a reserved byte set: -EINVAL");
	c = ap_context_for(ap_main, 1);
	c->rip = 0x0000800000000000ULL;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, c), -TG_EINVAL, "initialise with a non-canonical rip: -EINVAL");
	c = ap_context_for(ap_main, 1);
	c->kernel_l4_gfn = ((uint64_t)ap_stack - si->virt_base) >> TG_PAGE_SHIFT;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, c), -TG_EINVAL, "initialise with a kernel table that is no pinned L4: -EINVAL");
	c = ap_context_for(ap_main, 1);
	c->callbacks[TG_CALLBACK_EVENT].flags = 0x80;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, c), -TG_EINVAL, "initialise with an unknown callback flag: -EINVAL");
	static const struct tg_trap_info bad_traps[] = {{.vector = 40, .handler = (uint64_t)trap_entry_0}, {.handler = 0}};
	c = ap_context_for(ap_main, 1);
	c->trap_table = (uint64_t)bad_traps;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, c), -TG_EINVAL, "initialise with a trap table entry for vector 40: -EINVAL");
	check_rc(vcpu_op(TG_VCPUOP_up, 1, NULL), -TG_EINVAL, "refused contexts leave vCPU 1 uninitialised");

	uint32_t started = ap.started, want = pongs + 1;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, ap_context_for(ap_main, 1)), 0, "initialise vCPU 1: its stack, our tables and callbacks");
	check_rc(vcpu_op(TG_VCPUOP_up, 1, NULL), 0, "up vCPU 1");
	bool ok = wait_for(&pongs, want);
	check(ok && ap.started == started + 1 && ap.generation == 1, "vCPU 1 runs ap_main and sends its first IPI");
	/* Noted, not checked: the VMM sets IA32_TSC_AUX to the vCPU number, but
	 * this host (PVM) does not always keep it (NOTES.md). */
	put_str("# RDTSCP (IA32_TSC_AUX): vCPU 0 reads ");
	put_dec(rdtscp_aux());
	put_str(", vCPU 1 reads ");
	put_dec(ap.tsc_aux);
	put_str("; ABI.md 2.4 says 0 and 1\n");
	check_rc(vcpu_op(TG_VCPUOP_is_up, 1, NULL), 1, "is_up(1) = 1");
	check_rc(vcpu_op(TG_VCPUOP_up, 1, NULL), 0, "up of a vCPU that is up: 0");
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, ap_context_for(ap_main, 1)), -TG_EBUSY, "initialise of vCPU 1 while up: -EBUSY");
	check(runstate_sane(1, 0, true), "get_info(1): up, times sane");
	return ok;
}

static bool check_smp_events(void)
{
	struct tg_evtchn_status st;
	uint64_t limit = watchdog();
	bool ok = true;

	/* Ping-pong. */
	unsigned rounds = 0;
	for (unsigned i = 0; i < 100 && ok; i++) {
		ok = ap_call(CMD_PING, limit);
		rounds += ok;
	}
	put_str("# IPI ping-pong: ");
	put_dec(rounds);
	put_str(" round trips\n");
	check(ok && rounds == 100 && ap.rc2 == 0, "100 IPI round trips between vCPU 0 and vCPU 1");

	/* A plain counter passed back and forth by IPIs. */
	ap.counter = 0;
	for (unsigned i = 0; i < 200 && ok; i++) {
		ap.counter = ap.counter + 1;
		ok = ap_call(CMD_INCREMENT, limit);
	}
	check(ok && ap.counter == 400, "a counter incremented in turn by both vCPUs under an IPI handshake: 400");

	/* Both at once with lock add. */
	ap.atomic_counter = 0;
	uint32_t want = pongs + 1;
	ap.cmd = CMD_ADD;
	evtchn_send(ipi_port[1]);
	for (unsigned i = 0; i < ADD_ROUNDS; i++)
		__atomic_fetch_add(&ap.atomic_counter, 1, __ATOMIC_RELAXED);
	ok = ok && wait_until(&pongs, want, limit);
	check(ok && ap.atomic_counter == 2 * ADD_ROUNDS, "both vCPUs adding 100000 at once with lock add: 200000");

	/* vCPU 1's own timer. */
	uint32_t t1 = 0;
	check_rc(bind_virq(TG_VIRQ_TIMER, 1, &t1), 0, "VIRQ_TIMER binds once on each vCPU: vCPU 1 gets its own port");
	check(evtchn_status(t1, &st) == 0 && st.status == TG_EVTCHNSTAT_virq && st.vcpu == 1, "status: VIRQ_TIMER on vCPU 1");
	check_rc(bind_virq(TG_VIRQ_TIMER, 1, NULL), -TG_EEXIST, "VIRQ_TIMER on vCPU 1 again: -EEXIST");
	timer_port[1] = t1;
	attach(t1, 1, ap_timer);
	ap.timer_cpu = 99;
	ok = ok && ap_call(CMD_TIMER, limit);
	check(ok && ap.rc == 0 && ap.timer_cpu == 1 && hits[t1] == 1 && ap.timer_fired_at >= ap.timer_deadline,
	      "vCPU 1 arms its own timer; it fires on vCPU 1, not before the deadline");
	struct tg_vcpu_singleshot_timer other = {.deadline_ns = now_ns() + NS_PER_S};
	check_rc(vcpu_op(TG_VCPUOP_set_singleshot_timer, 1, &other), -TG_EINVAL,
		  "set_singleshot_timer naming another vCPU: -EINVAL");
	check_rc(vcpu_op(TG_VCPUOP_stop_singleshot_timer, 1, NULL), -TG_EINVAL,
		  "stop_singleshot_timer naming another vCPU: -EINVAL");
	ok = ok && ap_call(CMD_REFUSED, limit);
	check(ok && ap.rc == -TG_EINVAL && ap.rc2 == -TG_EINVAL, "and the same from vCPU 1 naming vCPU 0");

	/* An NMI to vCPU 1 while it runs with events masked. */
	want = pongs + 1;
	uint64_t nmis = cpu_ev[1].nmis;
	ap.cmd = CMD_WAIT_NMI;
	evtchn_send(ipi_port[1]);
	while (!ap.waiting_nmi && now_ns() < limit)
		cpu_relax();
	long rc = vcpu_op(TG_VCPUOP_send_nmi, 1, NULL);
	ok = ok && wait_until(&pongs, want, limit);
	check(ok && rc == 0 && cpu_ev[1].nmis == nmis + 1 && cpu_ev[1].nmi_mask == 1,
	      "send_nmi reaches vCPU 1 running with events masked");
	set_timer(0);
	check(cpu_ev[0].odd == 0 && cpu_ev[1].odd == 0, "every upcall on both vCPUs came as ABI.md 2.9 says");
	return ok;
}

static void check_down_and_up(void)
{
	struct tg_vcpu_runstate rs;
	uint64_t limit;
	uint32_t ports[1] = {ipi_port[0]};

	check_rc(vcpu_op(TG_VCPUOP_down, 1, NULL), 0, "down vCPU 1 from vCPU 0");
	check_rc(vcpu_op(TG_VCPUOP_is_up, 1, NULL), 0, "is_up(1) = 0 after its down");
	check(vcpu_op(TG_VCPUOP_get_info, 1, &rs) == 0 && rs.state == TG_RUNSTATE_offline, "get_info(1): offline");
	check_rc(vcpu_op(TG_VCPUOP_down, 0, NULL), -TG_EBUSY, "down of the last vCPU up: -EBUSY");

	/* An IPI to a vCPU that is down waits for it. */
	uint32_t started = ap.started, want = pongs + 1;
	ap.cmd = CMD_PING;
	check_rc(evtchn_send(ipi_port[1]), 0, "send to an IPI port of a vCPU that is down");
	check_rc(sched_poll(ports, 1, now_ns() + 20 * NS_PER_MS), -TG_ETIMEDOUT, "no answer while it is down");
	check_rc(vcpu_op(TG_VCPUOP_up, 1, NULL), 0, "up vCPU 1 again without a new context");
	bool ok = wait_for(&pongs, want);
	check(ok && ap.started == started, "it resumes where it stopped and takes the IPI sent while it was down");

	/* A new context after a down: up starts it there. */
	check_rc(vcpu_op(TG_VCPUOP_down, 1, NULL), 0, "down vCPU 1 again");
	want = pongs + 1;
	check_rc(vcpu_op(TG_VCPUOP_initialise, 1, ap_context_for(ap_main, 2)), 0, "initialise vCPU 1, which is down, anew");
	check_rc(vcpu_op(TG_VCPUOP_up, 1, NULL), 0, "and up");
	ok = wait_for(&pongs, want);
	check(ok && ap.started == started + 1 && ap.generation == 2, "it starts from the new context");
	if (!ok)
		return;

	/* vCPU 0 takes itself down; vCPU 1 brings it back. */
	ap.rc = 1;
	ap.cmd = CMD_UP_CPU0;
	evtchn_send(ipi_port[1]);
	long rc = vcpu_op(TG_VCPUOP_down, 0, NULL);
	limit = now_ns() + WAIT_LIMIT_NS;
	while (ap.rc == 1 && now_ns() < limit)
		cpu_relax();
	check(rc == 0 && ap.rc == 0, "vCPU 0 takes itself down, vCPU 1 brings it up, and the down returns 0");

	check_rc(vcpu_op(TG_VCPUOP_down, 1, NULL), 0, "down vCPU 1 at the end");
}

static void check_vcpus(void)
{
	check_vcpu_basics();
	if (nr_vcpus < 2) {
		put_line("# vcpu suite skipped: one vCPU");
		return;
	}
	uint32_t p0 = 0, p1 = 0;
	struct tg_evtchn_status st;
	check_rc(bind_ipi(1, &p1), 0, "bind_ipi to vCPU 1");
	check(evtchn_status(p1, &st) == 0 && st.status == TG_EVTCHNSTAT_ipi && st.vcpu == 1, "status: an IPI port of vCPU 1");
	uint32_t u = 0;
	check_rc(alloc_unbound(TG_DOMID_VMM, &u), 0, "alloc_unbound for the move");
	check_rc(bind_vcpu(u, 1), 0, "bind_vcpu moves an unbound port to vCPU 1");
	check(evtchn_status(u, &st) == 0 && st.vcpu == 1, "and its status says vCPU 1");
	evtchn_close(u);
	p0 = ipi_port[0];
	ipi_port[1] = p1;
	attach(p1, 1, ap_ipi);
	attach(p0, 0, cpu0_ipi);
	if (!check_bring_up() || !check_smp_events()) {
		put_line("# vcpu suite stopped: vCPU 1 does not answer");
		return;
	}
	check_down_and_up();
}

/* ---- the self test ----------------------------------------------------- */

void events_selftest(const struct tg_start_info *start_info)
{
	events_init(start_info);
	check_boot_state();
	check(offered(TG_FEAT_EVENTS | TG_FEAT_TIMER), "features word 0 offers events and the timer");
	if (!offered(TG_FEAT_EVENTS | TG_FEAT_TIMER)) {
		put_line("# event suite skipped: the VMM offers no events");
		return;
	}
	check(register_callbacks() == 0, "event and NMI callbacks registered");
	irq_disable();
	check_binding();
	check_delivery();
	check_close_and_errors();
	check_unbound();
	check_clock();
	check_timer();
	check_upcall_from_user();
	check_block_and_poll();
	check_vcpus();
	irq_disable();
	put_str("# event suite: upcalls ");
	put_dec(cpu_ev[0].upcalls);
	put_str(" on vCPU 0, ");
	put_dec(cpu_ev[1].upcalls);
	put_str(" on vCPU 1; empty ");
	put_dec(cpu_ev[0].empty + cpu_ev[1].empty);
	put_str("\n");
	check(cpu_ev[0].odd == 0, "every upcall came with upcall_pending set, events masked, a frame with IF");
}

/* ---- benchmarks and the scenario --------------------------------------- */

static uint64_t bench_hz = 1000;

bool ev_bench_kind(const char *kind)
{
	return str_eq(kind, "timer") || str_eq(kind, "block") || str_eq(kind, "event-pingpong");
}

/* vCPU 1 up in ap_main with IPI ports both ways; false if it does not answer. */
static bool bring_up_ap(void (*entry)(uint64_t))
{
	if (nr_vcpus < 2 || bind_ipi(1, &ipi_port[1]) != 0 || bind_ipi(0, &ipi_port[0]) != 0)
		return false;
	attach(ipi_port[1], 1, ap_ipi);
	attach(ipi_port[0], 0, cpu0_ipi);
	uint32_t want = pongs + 1;
	if (vcpu_op(TG_VCPUOP_initialise, 1, ap_context_for(entry, 1)) != 0 || vcpu_op(TG_VCPUOP_up, 1, NULL) != 0)
		return false;
	return entry != ap_main || wait_for(&pongs, want);
}

bool ev_bench_prepare(const struct tg_start_info *start_info, const char *kind)
{
	char hz[24];
	events_init(start_info);
	if (cmdline_value(si->cmdline, "hz", hz, sizeof(hz)) && parse_dec(hz))
		bench_hz = parse_dec(hz);
	if (register_callbacks() != 0 || bind_virq(TG_VIRQ_TIMER, 0, &timer_port[0]) != 0)
		return false;
	irq_disable();
	attach(timer_port[0], 0, timer_handler);
	if (str_eq(kind, "event-pingpong")) {
		if (nr_vcpus < 2)
			put_line("bench event-pingpong: it needs 2 vCPUs (--vcpus 2)");
		return bring_up_ap(ap_main);
	}
	return true;
}

void ev_bench_run(const char *kind, uint64_t n)
{
	struct timer_state *tm = &timers[0];
	if (str_eq(kind, "timer")) {
		timer_periodic(bench_hz, n);
	} else if (str_eq(kind, "block")) {
		for (uint64_t i = 0; i < n; i++) {
			uint64_t fired = tm->fired;
			irq_disable();
			set_timer(now_ns() + NS_PER_MS);
			while (tm->fired == fired) {
				sched_block();
				irq_disable();
			}
		}
	} else if (str_eq(kind, "event-pingpong")) {
		ap.cmd = CMD_PING;
		for (uint64_t i = 0; i < n; i++) {
			uint32_t want = pongs + 1;
			evtchn_send(ipi_port[1]);
			wait_until(&pongs, want, 0);
		}
	}
	irq_disable();
}

void ev_bench_report(const char *kind)
{
	struct timer_state *tm = &timers[0];
	if (!str_eq(kind, "timer"))
		return;
	uint64_t on_time = tm->ticks - tm->early;
	put_str("# jitter mean_us=");
	put_us(on_time ? tm->dev_sum / on_time : 0);
	put_str(" max_us=");
	put_us(tm->dev_max);
	put_str(" early=");
	put_dec(tm->early);
	put_str("\n");
}

/* vCPU 1 spins in guest code while vCPU 0 powers the domain off. */
void ev_scenario_shutdown_while_running(const struct tg_start_info *start_info)
{
	events_init(start_info);
	if (nr_vcpus < 2) {
		put_line("scenario shutdown-while-running: it needs 2 vCPUs (--vcpus 2)");
		shutdown(TG_SHUTDOWN_crash);
	}
	register_callbacks();
	if (!bring_up_ap(ap_spin)) {
		put_line("scenario shutdown-while-running: vCPU 1 did not come up");
		shutdown(TG_SHUTDOWN_crash);
	}
	uint64_t limit = now_ns() + WAIT_LIMIT_NS;
	while (!ap.spinning && now_ns() < limit)
		cpu_relax();
	if (!ap.spinning) {
		put_line("scenario shutdown-while-running: vCPU 1 never ran");
		shutdown(TG_SHUTDOWN_crash);
	}
	put_line("scenario shutdown-while-running: vCPU 1 spins, vCPU 0 powers off");
	shutdown(TG_SHUTDOWN_poweroff);
}

/* ---- counter=1: a tick that never ends ---------------------------------- */

void ev_run_ticks(const struct tg_start_info *start_info, uint64_t hz, void (*fn)(uint64_t tick))
{
	struct timer_state *t = &timers[0];
	events_init(start_info);
	if (register_callbacks() != 0 || bind_virq(TG_VIRQ_TIMER, 0, &timer_port[0]) != 0) {
		put_line("counter: cannot bind the timer");
		shutdown(TG_SHUTDOWN_crash);
	}
	irq_disable();
	attach(timer_port[0], 0, timer_handler);
	t->period = NS_PER_S / (hz ? hz : 1);
	t->ticks = 0;
	t->target = ~0ULL;
	t->skip_missed = true;
	t->periodic = true;
	t->deadline = now_ns() + t->period;
	set_timer(t->deadline);
	uint64_t seen = 0;
	for (;;) {
		irq_disable();
		if (t->ticks != seen) {
			seen = t->ticks;
			fn(seen);
			continue;
		}
		sched_block();
	}
}
