/*
 * The Tortuga test guest: a freestanding kernel that runs at CPL3 under
 * tortuga-vmm and drives the ABI. Shared declarations.
 */
#ifndef TEST_GUEST_H
#define TEST_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tortuga/tortuga.h>

#define VECTOR_SYSCALL 0x100
#define VECTOR_FAILSAFE 0x101
#define VECTOR_EVENT 0x102
#define VECTOR_NMI 0x103

/* Test syscalls made by the guest's user-mode code. */
#define SYS_NOP 0
#define SYS_DOUBLE 1
#define SYS_WRITE 2
#define SYS_EXIT 3
#define SYS_CHECK 4
#define SYS_GS_READ_KERNEL 5
#define SYS_EXPECT 6

/* All registers at a trap, as trap_common in entry.S pushes them. */
struct trap_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rdi, rsi, rbp, rdx, rcx, rbx, rax;
	uint64_t vector, error_code;
	uint64_t rip, cs, rflags, rsp, ss;
};

struct jump_buf {
	uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip;
};

extern uint8_t hypercall_page[4096];
int tg_setjmp(struct jump_buf *jb);
__attribute__((noreturn)) void tg_longjmp(struct jump_buf *jb, int value);
__attribute__((noreturn)) void iret_to_regs(struct trap_regs *regs);
/* The flags word every iret of the guest pushes: 0, or a struct tg_iret_batch VA | TG_IRET_BATCH. */
extern uint64_t iret_flags;
void trap_entry_0(void), trap_entry_1(void), trap_entry_3(void), trap_entry_6(void);
void trap_entry_13(void), trap_entry_14(void);
void syscall_entry(void), failsafe_entry(void), event_entry(void), nmi_entry(void);

/* The kernel's trap table (main.c), also given to vCPUs brought up later. */
extern const struct tg_trap_info guest_trap_table[];

/* Hypercalls through the hypercall page. */
static inline long hypercall5(unsigned nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	register uint64_t r10 __asm__("r10") = a3;
	register uint64_t r8 __asm__("r8") = a4;
	long ret;
	__asm__ volatile("call *%[slot]"
			 : "=a"(ret), "+D"(a0), "+S"(a1), "+d"(a2), "+r"(r10), "+r"(r8)
			 : [slot] "r"(hypercall_page + nr * TG_HYPERCALL_SLOT_SIZE)
			 : "rcx", "r11", "memory");
	return ret;
}
#define hypercall0(nr) hypercall5(nr, 0, 0, 0, 0, 0)
#define hypercall1(nr, a) hypercall5(nr, (uint64_t)(a), 0, 0, 0, 0)
#define hypercall2(nr, a, b) hypercall5(nr, (uint64_t)(a), (uint64_t)(b), 0, 0, 0)
#define hypercall3(nr, a, b, c) hypercall5(nr, (uint64_t)(a), (uint64_t)(b), (uint64_t)(c), 0, 0)

__attribute__((noreturn)) void shutdown(unsigned reason);

/* Console output (lib.c). */
void put_str(const char *s);
void put_dec(uint64_t v);
void put_sdec(long v);
void put_hex(uint64_t v);
void put_line(const char *s);
size_t str_len(const char *s);
bool str_eq(const char *a, const char *b);
const char *cmdline_value(const char *cmdline, const char *key, char *buf, size_t len);
uint64_t parse_dec(const char *s);
void mem_set(void *p, int c, size_t n);

/* Time from the pvclock record of vCPU 0 (lib.c). */
uint64_t system_time_ns(void);

/* Results (main.c). */
void check(bool ok, const char *what);
/* check() that a hypercall returned want; on a mismatch says what came back. */
bool check_rc(long got, long want, const char *what);

/* Deliberate faults (main.c): arm one, then count those seen. */
void expect_fault(uint64_t vector, uint64_t cr2, uint64_t error);
unsigned expected_faults_seen(void);

/*
 * Called for a #PF that no expect_fault() armed, before it counts as an
 * unexpected trap; returns true when it handled the fault.
 */
extern bool (*page_fault_hook)(struct trap_regs *r);

/* Enters user mode at rip with rsp and rdi = arg; returns at SYS_EXIT. */
void run_user_at(uint64_t rip, uint64_t rsp, uint64_t arg);

/* The memory suite (mm.c): self test, and the bench=map-*, mmu-* kinds. */
void mm_selftest(const struct tg_start_info *si);
bool mm_bench_kind(const char *kind);
bool mm_bench_prepare(const struct tg_start_info *si, const char *kind);
void mm_bench_run(const char *kind, uint64_t n);

/*
 * The event, timer and vCPU suites (events.c): the self test, the
 * bench=timer, block and event-pingpong kinds, the shutdown-while-running
 * scenario, and the C halves of the event and NMI callbacks.
 */
void events_selftest(const struct tg_start_info *si);
bool ev_bench_kind(const char *kind);
bool ev_bench_prepare(const struct tg_start_info *si, const char *kind);
void ev_bench_run(const char *kind, uint64_t n);
void ev_bench_report(const char *kind);
__attribute__((noreturn)) void ev_scenario_shutdown_while_running(const struct tg_start_info *si);
/* Runs a hz timer forever; fn runs (events masked) after each tick. */
__attribute__((noreturn)) void ev_run_ticks(const struct tg_start_info *si, uint64_t hz, void (*fn)(uint64_t tick));
void event_upcall(struct trap_regs *r);
void nmi_upcall(struct trap_regs *r);

/*
 * The grant table (grants.c): its suite, and the helpers frontends use:
 * gnt_init sets up a 4-frame table (2048 references), gnt_grant grants a
 * frame to the VMM's backends, gnt_revoke ends a grant unless in use.
 */
void grants_selftest(const struct tg_start_info *si);
/* counter=1: grants a page to the VMM, has it copied into through the
 * grant (the VMM writes the guest's page), checks and revokes it. */
bool gnt_counter_tick(uint64_t n);
bool gnt_init(const struct tg_start_info *si);
void gnt_grant(uint32_t ref, uint64_t gfn, bool readonly);
bool gnt_revoke(uint32_t ref);
struct tg_grant_entry_v1 *gnt_entry(uint32_t ref);
uint64_t gfn_of(const void *p);

/*
 * The block frontend (blkfront.c): its suite, vbd=fill-flush-hold, the
 * vbd-* scenarios and the vbd-{seq,rand}-{read,write} bench kinds (qd=N).
 */
void blk_selftest(const struct tg_start_info *si);
__attribute__((noreturn)) void blk_fill_flush_hold(const struct tg_start_info *si);
void blk_sequence(const struct tg_start_info *si);
bool blk_scenario(const struct tg_start_info *si, const char *name);
bool blk_bench_kind(const char *kind);
bool blk_bench_prepare(const struct tg_start_info *si, const char *kind);
void blk_bench_run(uint64_t n);

/*
 * The store (store.c): its suite, and a client for frontends. Calls are
 * synchronous; watch events that arrive meanwhile are counted, and
 * xs_wait_event waits for the next one. tx 0 = no transaction.
 */
void store_selftest(const struct tg_start_info *si);
bool xs_init(const struct tg_start_info *si);
bool xs_read_str(uint32_t tx, const char *path, char *buf, size_t cap);
bool xs_write_str(uint32_t tx, const char *path, const char *value);
bool xs_watch(const char *path, const char *token);
bool xs_unwatch(const char *path, const char *token);
bool xs_wait_event(void);
uint32_t xs_tx_start(void);
int xs_tx_end(uint32_t tx, bool commit);
bool xs_directory(const char *path, char *buf, size_t cap, size_t *len);
uint32_t xs_port(void);
bool xs_message_waiting(void);
unsigned xs_events_seen(void);
/*
 * The frontend's half of the handshake (ABI.md 17.3): read the backend's
 * directory and wait for InitWait; then publish keys (decimal) and
 * Initialised in one transaction, wait for Connected, say Connected.
 */
bool xs_frontend_wait_backend(const char *fdir, char *bdir, size_t cap);
bool xs_frontend_publish(const char *fdir, const char *bdir, const char *const *keys, const uint64_t *values, unsigned n);
uint64_t xs_backend_key(const char *bdir, const char *key, uint64_t otherwise);
bool xs_watch_backend_state(const char *bdir);
bool xs_unwatch_backend_state(const char *bdir);

/* net=ping (netfront.c): frames to and from the host over vif 0. */
__attribute__((noreturn)) void net_ping(const struct tg_start_info *si);
bool net_bench_kind(const char *kind);
bool net_bench_prepare(const struct tg_start_info *si, const char *kind);
void net_bench_run(const char *kind, uint64_t n);

/*
 * agent=1 (agent.c): a guest that lives on watch events and a timer tick:
 * it connects hot-plugged disks and NICs (agent_devices.c), lets them go
 * when asked, shuts down or reboots on control/shutdown and balloons
 * toward memory/target (balloon.c).
 */
__attribute__((noreturn)) void agent_run(const struct tg_start_info *si);
void agent_devices_scan(const struct tg_start_info *si);
void balloon_toward(const struct tg_start_info *si, uint64_t target_kib);

/*
 * counter=1 (counter.c): a 10 Hz timer that prints "count N t=NS" at every
 * tick and checks a memory pattern, a remapped page, a grant copy and a
 * store key each time: the guest that save and restore tests run.
 */
__attribute__((noreturn)) void counter_run(const struct tg_start_info *si);

/* console=echo (console_in.c): echo lines of console input until "quit". */
__attribute__((noreturn)) void console_echo(const struct tg_start_info *si);

/*
 * User programs of the memory suite (mm_user.c), in the pages
 * [user_text_start, user_text_end) that user page tables map read-only at
 * the same VAs. Their data pages are at MM_USER_DATA_VA, their stack below
 * MM_USER_STACK_TOP.
 */
extern char user_text_start[], user_text_end[];
void user_mm_basic(uint64_t kernel_va);
void user_fork_touch(void);
void user_cow_parent(void);
void user_cow_child(void);
#define MM_USER_DATA_VA 0x400000ULL
#define MM_USER_STACK_TOP 0x600000ULL
#define MM_USER_NDATA 4
#define MM_PATTERN_A(page, word) (0xa5a5000000000000ULL ^ ((uint64_t)(page) << 32) ^ (uint64_t)(word))
#define MM_PATTERN_B(page, word) (0x5b5b000000000000ULL ^ ((uint64_t)(page) << 32) ^ (uint64_t)(word))

/* User-mode programs (user.c), entered with iret. */
void user_selftest(void);
void user_bench_syscall(void);
void user_bench_exception(void);
extern uint64_t user_bench_iterations;

#define UNMAPPED_USER_ADDRESS 0x0000100000000000ULL
#define UNMAPPED_KERNEL_ADDRESS 0xffffffffc0000000ULL

#endif
