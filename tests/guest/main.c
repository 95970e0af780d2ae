/*
 * The Tortuga test guest kernel. It boots at CPL3 in kernel mode, checks
 * its start of day, installs its trap table and callbacks, runs user-mode
 * code through iret, takes and handles faults in both modes, and shuts down
 * with poweroff when every check passed, crash otherwise.
 *
 * The command line selects what to run:
 *   (nothing)            the self test
 *   scenario=NAME        one misbehaviour the VMM must kill (see scenarios[])
 *   bench=KIND n=N       N operations of KIND (hypercall, syscall, exception,
 *                        mm.c's map-unbatched, map-batched, mmu-entries,
 *                        mmu-single, and events.c's timer (hz=H, default
 *                        1000), block and event-pingpong (2 vCPUs), and
 *                        blkfront.c's vbd-{seq,rand}-{read,write} (qd=1..32),
 *                        netfront.c's net-tx and net-rx)
 *   vbd=fill-flush-hold  write the disk (vbdseed=S), flush, say so, sleep
 *   vbd=seq every=MS     write sequence numbers to successive sectors, say
 *                        each acknowledged batch (save and restore tests)
 *   console=echo         echo console input lines until "quit"
 *   counter=1            count at 10 Hz forever, checking state each tick (counter.c);
 *                        dirty=N also rewrites N free pages per tick (migration)
 *   net=ping n=N         exchange frames with the host over vif 0 (every=MS
 *                        pauses between them)
 *   net=udp peer=MAC     a UDP exchange with a host stack behind a bridge
 *   agent=1 hz=N         live on store watches: hot-plugged devices,
 *                        control/shutdown, memory/target (agent.c)
 */
#include "guest.h"

_Static_assert(TG_HC_iret == 5, "HC_IRET in entry.S");
_Static_assert(TG_HYPERCALL_SLOT_SIZE == 32, "SLOT_SIZE in entry.S");
_Static_assert(sizeof(struct trap_regs) == 22 * 8, "trap_common in entry.S");

#define KERNEL_GS_MAGIC 0x6b65726e656c4753ULL
#define USER_GS_MAGIC 0x7573657247530000ULL

struct tg_shared_info *shared_info;
static const struct tg_start_info *start_info;
static unsigned passed, failed;

static uint8_t kernel_stack[16384] __attribute__((aligned(16)));
static uint8_t user_stack[16384] __attribute__((aligned(16)));
static uint64_t kernel_gs_area[2] = {KERNEL_GS_MAGIC};
static uint64_t user_gs_area[2] = {USER_GS_MAGIC};
static struct jump_buf user_return, failsafe_return;
static uint64_t failsafe_reason;
static bool bench_fixups;

static struct {
	bool armed;
	uint64_t vector, cr2, error;
	unsigned seen;
} expected;

void check(bool ok, const char *what)
{
	put_str(ok ? "ok - " : "not ok - ");
	put_line(what);
	if (ok)
		passed++;
	else
		failed++;
}

bool check_rc(long got, long want, const char *what)
{
	check(got == want, what);
	if (got != want) {
		put_str("#   expected ");
		put_sdec(want);
		put_str(", got ");
		put_sdec(got);
		put_str("\n");
	}
	return got == want;
}

static void arm(uint64_t vector, uint64_t cr2, uint64_t error)
{
	expected.armed = true;
	expected.vector = vector;
	expected.cr2 = cr2;
	expected.error = error;
}

void expect_fault(uint64_t vector, uint64_t cr2, uint64_t error)
{
	arm(vector, cr2, error);
}

unsigned expected_faults_seen(void)
{
	return expected.seen;
}

bool (*page_fault_hook)(struct trap_regs *r);

static __attribute__((noreturn)) void unexpected_trap(const struct trap_regs *r, const char *why)
{
	put_str("test guest: unexpected trap (");
	put_str(why);
	put_str("): vector ");
	put_dec(r->vector);
	put_str(" error ");
	put_hex(r->error_code);
	put_str(" rip ");
	put_hex(r->rip);
	put_str(" cs ");
	put_hex(r->cs);
	put_str(" cr2 ");
	put_hex(shared_info->vcpu_info[0].cr2);
	put_str("\n");
	shutdown(TG_SHUTDOWN_crash);
}

/* A deliberate fault: check it is the one armed, then resume at r12. */
static void handle_expected_fault(struct trap_regs *r)
{
	bool user = (r->cs & 3) == 3;
	if (!expected.armed || r->vector != expected.vector)
		unexpected_trap(r, "not the fault armed");
	if (user ? (r->cs != TG_USER_CS || r->ss != TG_USER_DS) : (r->cs != TG_KERNEL_CS || r->ss != TG_KERNEL_DS))
		unexpected_trap(r, "wrong selectors in the bounce frame");
	if (r->error_code != expected.error)
		unexpected_trap(r, "wrong error code");
	if (r->vector == 14 && shared_info->vcpu_info[0].cr2 != expected.cr2)
		unexpected_trap(r, "wrong cr2");
	if (((uint64_t)&r->ss + 8) % 16 != 0)
		unexpected_trap(r, "bounce frame not 16-byte aligned");
	expected.armed = false;
	expected.seen++;
	r->rip = r->r12;
}

static uint64_t read_gs0(void)
{
	uint64_t v;
	__asm__ volatile("mov %%gs:0, %0" : "=r"(v));
	return v;
}

static void handle_syscall(struct trap_regs *r)
{
	switch (r->rax) {
	case SYS_NOP:
		r->rax = 0;
		break;
	case SYS_DOUBLE:
		r->rax = r->rdi * 2;
		break;
	case SYS_WRITE:
		put_str((const char *)r->rdi);
		r->rax = 0;
		break;
	case SYS_CHECK:
		check(r->rdi != 0, (const char *)r->rsi);
		r->rax = 0;
		break;
	case SYS_GS_READ_KERNEL:
		r->rax = read_gs0();
		break;
	case SYS_EXPECT:
		arm(r->rdi, r->rsi, r->rdx);
		r->rax = 0;
		break;
	case SYS_EXIT:
		tg_longjmp(&user_return, 1);
	default:
		r->rax = (uint64_t)-TG_ENOSYS;
	}
	if (r->rcx != r->rip || r->cs != TG_USER_CS)
		unexpected_trap(r, "syscall frame does not match the SYSCALL registers");
}

void trap_dispatch(struct trap_regs *r)
{
	if (r->vector == VECTOR_EVENT) {
		event_upcall(r);
	} else if (r->vector == VECTOR_NMI) {
		nmi_upcall(r);
	} else if (r->vector == VECTOR_SYSCALL) {
		handle_syscall(r);
	} else if (r->vector == VECTOR_FAILSAFE) {
		failsafe_reason = r->error_code;
		tg_longjmp(&failsafe_return, 1);
	} else if (bench_fixups && r->vector == 6) {
		r->rip = r->r12;
	} else if (r->vector == 14 && !expected.armed && page_fault_hook && page_fault_hook(r)) {
		/* demand paging or copy-on-write (mm.c) */
	} else {
		handle_expected_fault(r);
	}
}

const struct tg_trap_info guest_trap_table[] = {
	{.vector = 0, .handler = (uint64_t)trap_entry_0},
	{.vector = 1, .handler = (uint64_t)trap_entry_1},
	{.vector = 3, .handler = (uint64_t)trap_entry_3},
	{.vector = 6, .handler = (uint64_t)trap_entry_6},
	{.vector = 13, .handler = (uint64_t)trap_entry_13},
	{.vector = 14, .flags = TG_TRAPF_MASK_EVENTS, .handler = (uint64_t)trap_entry_14},
	{.handler = 0},
};

static long install_handlers(void)
{
	long rc = hypercall1(TG_HC_set_trap_table, guest_trap_table);
	rc |= hypercall3(TG_HC_set_callbacks, TG_CALLBACK_SYSCALL, syscall_entry, TG_CALLBACKF_MASK_EVENTS);
	rc |= hypercall3(TG_HC_set_callbacks, TG_CALLBACK_FAILSAFE, failsafe_entry, TG_CALLBACKF_MASK_EVENTS);
	rc |= hypercall2(TG_HC_stack_switch, TG_KERNEL_DS, kernel_stack + sizeof(kernel_stack));
	return rc;
}

/* Enters user mode at rip with rsp and rdi = arg; returns at SYS_EXIT. */
void run_user_at(uint64_t rip, uint64_t rsp, uint64_t arg)
{
	static struct trap_regs ctx;
	mem_set(&ctx, 0, sizeof(ctx));
	ctx.rip = rip;
	ctx.rdi = arg;
	ctx.cs = TG_USER_CS;
	ctx.ss = TG_USER_DS;
	ctx.rflags = TG_RFLAGS_IF | 2;
	ctx.rsp = rsp;
	if (tg_setjmp(&user_return) == 0)
		iret_to_regs(&ctx);
}

/* Enters fn in user mode on the kernel page table; returns when it makes SYS_EXIT. */
static void run_user(void (*fn)(void))
{
	run_user_at((uint64_t)fn, (uint64_t)(user_stack + sizeof(user_stack)) - 8 /* as after a call */, 0);
}

static void check_start_info(void)
{
	const struct tg_start_info *si = start_info;
	bool magic = true;
	for (size_t i = 0; i < sizeof(TG_START_INFO_MAGIC); i++)
		magic = magic && si->magic[i] == TG_START_INFO_MAGIC[i];
	check(magic, "start info carries the magic");
	check(si->abi_version == TG_ABI_VERSION, "start info ABI version is 1.0");
	check(si->nr_pages > 0 && si->nr_memmap == 1 && si->memmap[0].size == si->nr_pages * TG_PAGE_SIZE,
	      "memory map describes all guest RAM");
	check(si->first_free_gpa <= si->boot_map_end && si->boot_map_end <= si->nr_pages * TG_PAGE_SIZE,
	      "bootstrap mapping lies inside guest RAM");
	check(si->shared_info_va == si->virt_base + si->shared_info_gpa, "shared info is mapped at virt_base + gpa");
	const uint64_t *l4 = (const uint64_t *)si->pt_base;
	check(si->nr_pt_frames >= 4 && (l4[TG_RESERVED_L4_SLOT] & 1), "bootstrap L4 holds the VMM's reserved slot");
	check(shared_info->vcpu_info[0].upcall_mask == 1, "events are masked at boot");
	put_str("cmdline: ");
	put_line(si->cmdline);
}

static void check_hypercalls(void)
{
	check(hypercall2(TG_HC_version, TG_VERSION_abi, 0) == TG_ABI_VERSION, "version hypercall returns the ABI version");
	struct tg_feature_info f = {.submap_idx = 0};
	check(hypercall2(TG_HC_version, TG_VERSION_features, &f) == 0 && (f.submap & TG_FEAT_CORE_CPU) &&
		      (f.submap & TG_FEAT_CONSOLE_IO),
	      "features word 0 offers the core CPU and console");
	char name[64];
	check(hypercall2(TG_HC_version, TG_VERSION_vmm_name, name) == 0 && name[0] == 't', "the VMM names itself");
	check(hypercall2(TG_HC_sched_op, TG_SCHEDOP_yield, 0) == 0, "sched_op yield");
	check(hypercall0(99) == -TG_ENOSYS, "unknown hypercall number: -ENOSYS");
	check(hypercall2(TG_HC_sched_op, 77, 0) == -TG_ENOSYS, "unknown sched_op: -ENOSYS");
	check(hypercall2(TG_HC_version, 77, 0) == -TG_ENOSYS, "unknown version cmd: -ENOSYS");
	check(hypercall3(TG_HC_console_io, 77, 0, 0) == -TG_ENOSYS, "unknown console_io cmd: -ENOSYS");
	check(hypercall2(TG_HC_sched_op, TG_SCHEDOP_shutdown, 99) == -TG_EINVAL, "unknown shutdown reason: -EINVAL");
	check(hypercall3(TG_HC_set_callbacks, 17, syscall_entry, 0) == -TG_EINVAL, "unknown callback type: -EINVAL");
	static const struct tg_trap_info bad_vector[] = {{.vector = 40, .handler = (uint64_t)trap_entry_0}, {.handler = 0}};
	check(hypercall1(TG_HC_set_trap_table, bad_vector) == -TG_EINVAL, "trap table with vector 40: -EINVAL");
	check(hypercall2(TG_HC_stack_switch, TG_USER_DS, kernel_stack) == -TG_EINVAL, "stack_switch with a user SS: -EINVAL");
	check(hypercall2(TG_HC_set_segment_base, TG_SEGBASE_FS, 0x0000800000000000ULL) == -TG_EINVAL,
	      "non-canonical segment base: -EINVAL");
	check(hypercall3(TG_HC_console_io, TG_CONSOLEIO_WRITE, TG_CONSOLE_IO_MAX + 1, name) == -TG_E2BIG,
	      "oversized console write: -E2BIG");
	char in[16];
	check(hypercall3(TG_HC_console_io, TG_CONSOLEIO_READ, sizeof(in), in) >= 0, "console read does not block");
}

static void check_time(void)
{
	if (start_info->tsc_khz == 0) {
		put_line("skip - the host reports no TSC frequency");
		return;
	}
	uint64_t t0 = system_time_ns();
	hypercall2(TG_HC_sched_op, TG_SCHEDOP_yield, 0);
	uint64_t t1 = system_time_ns();
	check(t0 > 0 && t1 >= t0, "pvclock system time advances");
}

static void check_kernel_fault(void)
{
	arm(14, UNMAPPED_KERNEL_ADDRESS, 0x0); /* kernel-mode read of a non-present page */
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tmovb (%0), %%al\n1:" ::"r"(UNMAPPED_KERNEL_ADDRESS) : "r12", "rax", "memory");
	check(expected.seen == 1 && !expected.armed, "kernel-mode page fault bounced to its handler and fixed up");
	check(shared_info->vcpu_info[0].upcall_mask == 1, "a handler with TG_TRAPF_MASK_EVENTS masks events");
}

/* set_trap_table changes only the vectors it lists and refuses nonzero
 * padding (ABI.md 7.3). The #PF handler must survive a table that names
 * only vector 3, and a refused table must change nothing. */
static void check_trap_table_merges(void)
{
	static const struct tg_trap_info only_int3[] = {{.vector = 3, .handler = (uint64_t)trap_entry_3}, {.handler = 0}};
	static const struct tg_trap_info padded[] = {{.vector = 0, ._pad0 = 1, .handler = (uint64_t)trap_entry_0},
						     {.handler = 0}};
	static const struct tg_trap_info padded1[] = {{.vector = 0, ._pad1 = 1, .handler = (uint64_t)trap_entry_0},
						      {.handler = 0}};
	check_rc(hypercall1(TG_HC_set_trap_table, padded), -TG_EINVAL, "trap table entry with nonzero _pad0: -EINVAL");
	check_rc(hypercall1(TG_HC_set_trap_table, padded1), -TG_EINVAL, "trap table entry with nonzero _pad1: -EINVAL");
	check_rc(hypercall1(TG_HC_set_trap_table, only_int3), 0, "trap table naming only vector 3");
	unsigned before = expected.seen;
	arm(14, UNMAPPED_KERNEL_ADDRESS, 0x0);
	__asm__ volatile("lea 1f(%%rip), %%r12\n\tmovb (%0), %%al\n1:" ::"r"(UNMAPPED_KERNEL_ADDRESS) : "r12", "rax", "memory");
	check(expected.seen == before + 1 && !expected.armed, "vectors a trap table does not list keep their handlers");
	check_rc(hypercall1(TG_HC_set_trap_table, guest_trap_table), 0, "the full trap table again");
}

/* stack_switch takes TG_KERNEL_DS or 0 as ss (ABI.md 7.6) and refuses a
 * non-canonical stack, which no restore could take back. */
static void check_stack_switch(void)
{
	uint64_t top = (uint64_t)(kernel_stack + sizeof(kernel_stack));
	check_rc(hypercall2(TG_HC_stack_switch, TG_KERNEL_DS, 0x0000800000000000ULL), -TG_EINVAL,
		 "stack_switch to a non-canonical stack: -EINVAL");
	check_rc(hypercall2(TG_HC_stack_switch, 0, top), 0, "stack_switch with ss 0");
}

static void check_failsafe(void)
{
	/*
	 * iret_to_regs() runs on the frame itself, and the failsafe callback
	 * comes on that stack: keep the frame at the top of a stack of its own,
	 * so that what is pushed below it lands in that stack, not in .bss.
	 */
	static uint8_t failsafe_stack[4096] __attribute__((aligned(16)));
	if (tg_setjmp(&failsafe_return) == 0) {
		struct trap_regs *bad = (struct trap_regs *)(failsafe_stack + sizeof(failsafe_stack) - sizeof(*bad));
		mem_set(bad, 0, sizeof(*bad));
		bad->rip = (uint64_t)check_failsafe;
		bad->cs = 0x99;
		bad->ss = TG_KERNEL_DS;
		bad->rsp = (uint64_t)(kernel_stack + sizeof(kernel_stack));
		iret_to_regs(bad);
	}
	check(failsafe_reason == TG_FAILSAFE_BAD_SELECTOR, "iret with a bad selector enters the failsafe callback");
}

uint64_t iret_flags;

/* Irets to a kernel context that fails or returns at once; the failsafe reason, or 0. */
static uint64_t iret_with_flags(uint64_t flags)
{
	static uint8_t stack[4096] __attribute__((aligned(16)));
	static struct jump_buf back;
	failsafe_reason = 0;
	if (tg_setjmp(&failsafe_return) == 0 && tg_setjmp(&back) == 0) {
		struct trap_regs *r = (struct trap_regs *)(stack + sizeof(stack) - sizeof(*r));
		mem_set(r, 0, sizeof(*r));
		r->rip = (uint64_t)tg_longjmp;
		r->rdi = (uint64_t)&back;
		r->rsi = 1;
		r->cs = TG_KERNEL_CS;
		r->ss = TG_KERNEL_DS;
		r->rsp = (uint64_t)(stack + 2048);
		iret_flags = flags;
		iret_to_regs(r);
	}
	iret_flags = 0;
	return failsafe_reason;
}

/* ABI 2.11: what a malformed or failing carried batch gets. */
static void check_carried_batch_errors(void)
{
	static struct tg_mmu_update into_vmm_frame;
	static struct tg_multicall_entry entries[2];
	static struct tg_iret_batch batch;
	into_vmm_frame.ptr = start_info->shared_info_gpa;
	into_vmm_frame.val = 0;
	mem_set(entries, 0, sizeof(entries));
	entries[0].op = TG_HC_version;
	entries[0].args[0] = TG_VERSION_abi;
	entries[1].op = TG_HC_mmu_update;
	entries[1].args[0] = (uint64_t)&into_vmm_frame;
	entries[1].args[1] = 1;
	batch.calls = (uint64_t)entries;
	batch.count = 1;
	check(iret_with_flags((uint64_t)&batch | TG_IRET_BATCH) == 0 && batch.count == 0 &&
		      entries[0].result == TG_ABI_VERSION,
	      "an iret carries a batch: it runs, and its count is set to 0");
	batch.count = 2;
	check(iret_with_flags((uint64_t)&batch | TG_IRET_BATCH) == TG_FAILSAFE_BATCH && entries[1].result == -TG_EPERM,
	      "a carried batch with a failing entry enters the failsafe callback (TG_FAILSAFE_BATCH), result kept");
	batch.count = TG_MULTICALL_MAX + 1;
	check(iret_with_flags((uint64_t)&batch | TG_IRET_BATCH) == TG_FAILSAFE_BATCH,
	      "a carried batch of 513 calls: failsafe, nothing run");
	batch.count = 1;
	batch._pad = 1;
	check(iret_with_flags((uint64_t)&batch | TG_IRET_BATCH) == TG_FAILSAFE_BATCH && batch.count == 1,
	      "a carried batch with nonzero padding: failsafe, nothing run");
	batch._pad = 0;
	check(iret_with_flags((uint64_t)&batch) == TG_FAILSAFE_BAD_FLAGS,
	      "iret flags that are not 0 and lack TG_IRET_BATCH: failsafe (bad flags)");
	batch.count = 0;
	check(iret_with_flags((uint64_t)&batch | TG_IRET_BATCH) == 0, "an empty carried batch is no batch");
}

static void check_console_ring(void);

static void selftest(void)
{
	check_start_info();
	check_hypercalls();
	check_time();
	check(install_handlers() == 0, "trap table, syscall and failsafe callbacks and kernel stack installed");
	check_kernel_fault();
	check_trap_table_merges();
	check_stack_switch();
	check(hypercall2(TG_HC_set_segment_base, TG_SEGBASE_GS_KERNEL, kernel_gs_area) == 0 &&
		      hypercall2(TG_HC_set_segment_base, TG_SEGBASE_GS_USER, user_gs_area) == 0 &&
		      read_gs0() == KERNEL_GS_MAGIC,
	      "set_segment_base sets the kernel GS base");
	unsigned before = expected.seen;
	run_user(user_selftest);
	check(expected.seen - before == 6, "six user-mode faults were bounced to the kernel");
	check(read_gs0() == KERNEL_GS_MAGIC, "back in kernel mode on the kernel GS base");
	check_failsafe();
	check_carried_batch_errors();
	mm_selftest(start_info);
	events_selftest(start_info);
	check_console_ring();
	grants_selftest(start_info);
	blk_selftest(start_info);
	store_selftest(start_info);
}

/* Writes text to the console ring and rings the doorbell of its port, then
 * waits until the VMM has consumed it (ABI.md 9.6, 20). The doorbell page
 * is mapped for the moment over a page of our own .bss. */
static uint8_t doorbell_window[4096] __attribute__((aligned(4096)));

static void ring_console(struct tg_console_ring *ring, const char *text, volatile uint64_t *slot)
{
	uint32_t prod = ring->out_prod;
	for (size_t i = 0; text[i]; i++)
		ring->out[TG_CONSOLE_IDX(prod++, TG_CONSOLE_OUT_SIZE)] = text[i];
	__atomic_store_n(&ring->out_prod, prod, __ATOMIC_RELEASE);
	if (slot)
		*slot = 1;
}

static bool wait_consumed(struct tg_console_ring *ring)
{
	uint64_t deadline = system_time_ns() + 5000000000ULL;
	while (__atomic_load_n(&ring->out_cons, __ATOMIC_ACQUIRE) != ring->out_prod)
		if (system_time_ns() > deadline)
			return false;
	return true;
}

static void check_console_ring(void)
{
	const struct tg_start_info *si = start_info;
	if (si->console_evtchn == 0 || si->doorbell_gpa == 0) {
		put_line("# console ring skipped: no console backend");
		return;
	}
	check(si->nr_doorbell_pages == 8 && si->doorbell_gpa >= si->nr_pages * TG_PAGE_SIZE,
	      "start info: 8 doorbell pages above RAM");
	struct tg_evtchn_status st = {.port = si->console_evtchn};
	check(hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_status, &st) == 0 && st.status == TG_EVTCHNSTAT_backend &&
		      st.remote_dom == TG_DOMID_VMM,
	      "console_evtchn is bound to the VMM's console backend");
	struct tg_console_ring *ring = (struct tg_console_ring *)(si->virt_base + si->console_ring_gfn * TG_PAGE_SIZE);
	uint64_t va = (uint64_t)doorbell_window;
	uint64_t own = (va - si->virt_base) | TG_PTE_P | TG_PTE_RW;
	uint64_t page = TG_DOORBELL_GPA(si->doorbell_gpa, si->console_evtchn) & ~(TG_PAGE_SIZE - 1);
	check(hypercall3(TG_HC_update_va_mapping, va, page | TG_PTE_P | TG_PTE_RW | TG_PTE_PCD | TG_PTE_PWT | TG_PTE_NX,
			 TG_UVMF_INVLPG) == 0,
	      "a doorbell page can be mapped writable");
	volatile uint64_t *slot = (volatile uint64_t *)(va + (TG_DOORBELL_GPA(si->doorbell_gpa, si->console_evtchn) & (TG_PAGE_SIZE - 1)));
	ring_console(ring, "console ring: hello through the doorbell\n", slot);
	check(wait_consumed(ring), "the console backend drained the ring after the doorbell");
	volatile uint64_t loaded = *slot;
	check(loaded == 0, "a load from a doorbell slot reads 0");
	check(hypercall3(TG_HC_update_va_mapping, va, own, TG_UVMF_INVLPG) == 0, "the window is ours again");
	ring_console(ring, "console ring: hello through event_channel_op send\n", NULL);
	struct tg_evtchn_port_op send = {.port = si->console_evtchn};
	check(hypercall2(TG_HC_event_channel_op, TG_EVTCHNOP_send, &send) == 0 && wait_consumed(ring),
	      "a send on the console port drains the ring too");
}

/* Misbehaviours the VMM must stop with one clear line. */
static void scenario(const char *name)
{
	if (!str_eq(name, "wild-jump") && !str_eq(name, "bad-handler"))
		install_handlers();
	put_str("scenario ");
	put_line(name);
	if (str_eq(name, "priv-cli"))
		__asm__ volatile("cli");
	else if (str_eq(name, "priv-hlt"))
		__asm__ volatile("hlt");
	else if (str_eq(name, "priv-cr3"))
		__asm__ volatile("mov %0, %%cr3" ::"r"(0UL));
	else if (str_eq(name, "priv-out"))
		__asm__ volatile("outb %%al, $0x80" ::"a"(0));
	else if (str_eq(name, "wild-jump"))
		((void (*)(void))UNMAPPED_KERNEL_ADDRESS)();
	else if (str_eq(name, "bad-pointer"))
		hypercall3(TG_HC_console_io, TG_CONSOLEIO_WRITE, 16, 0xdead0000UL);
	else if (str_eq(name, "bad-handler")) {
		static const struct tg_trap_info outside[] = {{.vector = 14, .handler = 0x1000}, {.handler = 0}};
		hypercall1(TG_HC_set_trap_table, outside);
	} else if (str_eq(name, "bad-kernel-stack")) {
		hypercall2(TG_HC_stack_switch, TG_KERNEL_DS, UNMAPPED_KERNEL_ADDRESS);
		run_user(user_selftest);
	} else if (str_eq(name, "crash"))
		shutdown(TG_SHUTDOWN_crash);
	else if (str_eq(name, "reboot"))
		shutdown(TG_SHUTDOWN_reboot);
	else if (str_eq(name, "suspend"))
		shutdown(TG_SHUTDOWN_suspend);
	else if (str_eq(name, "spin"))
		for (;;)
			__asm__ volatile("pause");
	else if (str_eq(name, "shutdown-while-running"))
		ev_scenario_shutdown_while_running(start_info);
	else
		blk_scenario(start_info, name);
	put_line("scenario: the VMM let the guest carry on");
	shutdown(TG_SHUTDOWN_poweroff);
}

static void bench(const char *kind, uint64_t n)
{
	install_handlers();
	bool mm = mm_bench_kind(kind), ev = ev_bench_kind(kind), blk = blk_bench_kind(kind), net = net_bench_kind(kind);
	if (mm && !mm_bench_prepare(start_info, kind)) {
		put_str("bench ");
		put_str(kind);
		put_line(": setting up the memory failed");
		shutdown(TG_SHUTDOWN_crash);
	}
	if (ev && !ev_bench_prepare(start_info, kind)) {
		put_str("bench ");
		put_str(kind);
		put_line(": setting up events, the timer or vCPU 1 failed");
		shutdown(TG_SHUTDOWN_crash);
	}
	if (blk && !blk_bench_prepare(start_info, kind)) {
		put_str("bench ");
		put_str(kind);
		put_line(": no writable disk, or qd not in 1..32");
		shutdown(TG_SHUTDOWN_crash);
	}
	if (net && !net_bench_prepare(start_info, kind)) {
		put_str("bench ");
		put_str(kind);
		put_line(": no network interface");
		shutdown(TG_SHUTDOWN_crash);
	}
	uint64_t t0 = system_time_ns();
	if (str_eq(kind, "hypercall")) {
		for (uint64_t i = 0; i < n; i++)
			hypercall2(TG_HC_version, TG_VERSION_abi, 0);
	} else if (str_eq(kind, "syscall")) {
		user_bench_iterations = n;
		run_user(user_bench_syscall);
	} else if (str_eq(kind, "exception")) {
		user_bench_iterations = n;
		bench_fixups = true;
		run_user(user_bench_exception);
	} else if (mm) {
		mm_bench_run(kind, n);
	} else if (ev) {
		ev_bench_run(kind, n);
	} else if (blk) {
		blk_bench_run(n);
	} else if (net) {
		net_bench_run(kind, n);
	}
	uint64_t t1 = system_time_ns();
	put_str("bench ");
	put_str(kind);
	put_str(" ops=");
	put_dec(n);
	put_str(" ns=");
	put_dec(t1 - t0);
	put_str("\n");
	if (ev)
		ev_bench_report(kind);
}

void guest_main(const struct tg_start_info *si)
{
	start_info = si;
	shared_info = (struct tg_shared_info *)si->shared_info_va;
	put_line("tortuga test guest: hello from CPL3");
	char value[64];
	if (cmdline_value(si->cmdline, "scenario", value, sizeof(value)))
		scenario(value);
	if (cmdline_value(si->cmdline, "net", value, sizeof(value)) && (str_eq(value, "ping") || str_eq(value, "udp")))
		net_ping(si);
	if (cmdline_value(si->cmdline, "console", value, sizeof(value)) && str_eq(value, "echo"))
		console_echo(si);
	if (cmdline_value(si->cmdline, "agent", value, sizeof(value)) && str_eq(value, "1"))
		agent_run(si);
	if (cmdline_value(si->cmdline, "vbd", value, sizeof(value)) && str_eq(value, "fill-flush-hold"))
		blk_fill_flush_hold(si);
	if (cmdline_value(si->cmdline, "vbd", value, sizeof(value)) && str_eq(value, "seq"))
		blk_sequence(si);
	if (cmdline_value(si->cmdline, "counter", value, sizeof(value))) {
		install_handlers();
		counter_run(si);
	}
	if (cmdline_value(si->cmdline, "bench", value, sizeof(value))) {
		char n[24] = "0";
		cmdline_value(si->cmdline, "n", n, sizeof(n));
		bench(value, parse_dec(n));
		shutdown(TG_SHUTDOWN_poweroff);
	}
	selftest();
	put_str("tortuga test guest: ");
	put_dec(passed);
	put_str(" passed, ");
	put_dec(failed);
	put_str(" failed\n");
	shutdown(failed == 0 ? TG_SHUTDOWN_poweroff : TG_SHUTDOWN_crash);
}
