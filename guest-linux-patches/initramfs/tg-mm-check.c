// Memory-management check for the linux tests (tortuga.run=/bin/tg-mm-check):
// exercises the page-table updates a PV MMU may batch and checks that no data
// is lost or leaked: copy-on-write across many forks, mprotect in pieces
// (with the faults it must cause), mremap grow/shrink/move, partial munmap,
// and a fork+exec shell loop whose output is summed. Prints one line,
// "tg-mm-check: ok ..." or "tg-mm-check: FAIL <check>: <what>", and exits
// 0 or 1.
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define WORDS (PAGE / 8)

static const char *check = "setup";
static uint64_t rng_state = 0x2545f4914f6cdd1dULL;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("tg-mm-check: FAIL %s: ", check);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	exit(1);
}

static uint64_t rnd(uint64_t below)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state % below;
}

/* The word a page holds at index j when it was filled with `tag`. */
static uint64_t pattern(uint64_t tag, long j)
{
	return (tag * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)j << 32) ^ (uint64_t)j;
}

static void fill_page(char *page, uint64_t tag)
{
	uint64_t *w = (uint64_t *)page;

	for (long j = 0; j < WORDS; j++)
		w[j] = pattern(tag, j);
}

static int page_holds(const char *page, uint64_t tag)
{
	const uint64_t *w = (const uint64_t *)page;

	for (long j = 0; j < WORDS; j++) {
		if (w[j] != pattern(tag, j))
			return 0;
	}
	return 1;
}

static uint64_t checksum(const char *p, long len)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t sum = 0;

	for (long j = 0; j < len / 8; j++)
		sum = (sum ^ w[j]) * 0x100000001b3ULL;
	return sum;
}

static char *map_rw(long pages)
{
	char *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fail("mmap of %ld pages failed", pages);
	return p;
}

/* Probing an access that may fault: SIGSEGV jumps back here. */
static sigjmp_buf probe_env;
static volatile sig_atomic_t probing;

static void on_segv(int sig)
{
	if (probing)
		siglongjmp(probe_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int read_faults(const volatile char *p)
{
	probing = 1;
	if (sigsetjmp(probe_env, 1)) {
		probing = 0;
		return 1;
	}
	(void)*p;
	probing = 0;
	return 0;
}

static int write_faults(volatile char *p)
{
	probing = 1;
	if (sigsetjmp(probe_env, 1)) {
		probing = 0;
		return 1;
	}
	*p = *p;
	probing = 0;
	return 0;
}

/*
 * (a) Copy-on-write: each child checks it sees the parent's buffer, then
 * overwrites part of it and checks its own writes; the parent checks after
 * each child that its buffer did not change, then changes one page itself.
 */
#define COW_PAGES 256
#define COW_CHILDREN 100

static void cow_child(char *buf, uint64_t expected, int round)
{
	if (checksum(buf, COW_PAGES * PAGE) != expected)
		_exit(2);
	for (long i = round % 3; i < COW_PAGES; i += 3)
		fill_page(buf + i * PAGE, 1000000 + round);
	for (long i = round % 3; i < COW_PAGES; i += 3) {
		if (!page_holds(buf + i * PAGE, 1000000 + round))
			_exit(3);
	}
	_exit(0);
}

static void check_cow(void)
{
	char *buf = map_rw(COW_PAGES);
	uint64_t tags[COW_PAGES];

	check = "fork copy-on-write";
	for (long i = 0; i < COW_PAGES; i++)
		fill_page(buf + i * PAGE, tags[i] = i);
	for (int round = 0; round < COW_CHILDREN; round++) {
		uint64_t sum = checksum(buf, COW_PAGES * PAGE);
		int status;
		pid_t pid = fork();

		if (pid < 0)
			fail("fork %d failed", round);
		if (pid == 0)
			cow_child(buf, sum, round);
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
			fail("child %d: %s", round, WIFEXITED(status) && WEXITSTATUS(status) == 2 ?
				"parent data differs in the child" : "child's own writes lost (or it died)");
		for (long i = 0; i < COW_PAGES; i++) {
			if (!page_holds(buf + i * PAGE, tags[i]))
				fail("child %d's writes showed in the parent's page %ld", round, i);
		}
		long mine = rnd(COW_PAGES);

		fill_page(buf + mine * PAGE, tags[mine] = 2000000 + round);
	}
	munmap(buf, COW_PAGES * PAGE);
}

/*
 * (b) mprotect in pieces: random ranges become read-only, inaccessible or
 * writable again; reads of readable pages see their data, writes to
 * read-only pages and reads of PROT_NONE pages fault, writable pages take
 * new data.
 */
#define MP_PAGES 512
#define MP_ROUNDS 300

static void mprotect_range(char *base, int *prot, long first, long count, int to)
{
	if (mprotect(base + first * PAGE, count * PAGE, to))
		fail("mprotect of pages %ld+%ld failed", first, count);
	for (long i = first; i < first + count; i++)
		prot[i] = to;
}

static void probe_page(char *base, const int *prot, uint64_t *tags, long i)
{
	char *page = base + i * PAGE;

	if (prot[i] == PROT_NONE) {
		if (!read_faults(page))
			fail("page %ld is PROT_NONE but reads", i);
		return;
	}
	if (!page_holds(page, tags[i]))
		fail("page %ld lost its data", i);
	if (prot[i] == PROT_READ) {
		if (!write_faults(page + rnd(PAGE)))
			fail("page %ld is PROT_READ but takes writes", i);
		return;
	}
	fill_page(page, tags[i] = tags[i] + MP_PAGES);
}

static void check_mprotect(void)
{
	static const int prots[] = { PROT_READ, PROT_NONE, PROT_READ | PROT_WRITE };
	char *base = map_rw(MP_PAGES);
	int prot[MP_PAGES];
	uint64_t tags[MP_PAGES];

	check = "mprotect";
	for (long i = 0; i < MP_PAGES; i++) {
		fill_page(base + i * PAGE, tags[i] = i);
		prot[i] = PROT_READ | PROT_WRITE;
	}
	for (int round = 0; round < MP_ROUNDS; round++) {
		for (int k = 0; k < 3; k++) {
			long first = rnd(MP_PAGES), count = 1 + rnd(MP_PAGES / 8);

			if (first + count > MP_PAGES)
				count = MP_PAGES - first;
			mprotect_range(base, prot, first, count, prots[rnd(3)]);
		}
		for (int k = 0; k < 6; k++)
			probe_page(base, prot, tags, rnd(MP_PAGES));
	}
	mprotect_range(base, prot, 0, MP_PAGES, PROT_READ | PROT_WRITE);
	for (long i = 0; i < MP_PAGES; i++)
		probe_page(base, prot, tags, i);
	munmap(base, MP_PAGES * PAGE);
}

/*
 * (c) mremap: a region grows (maybe moving), shrinks, and is moved to a
 * fixed address, many times; its surviving pages keep their data.
 */
#define MR_MAX 512
#define MR_ROUNDS 200

static void check_pages(const char *base, long pages, const uint64_t *tags, const char *after)
{
	for (long i = 0; i < pages; i++) {
		if (!page_holds(base + i * PAGE, tags[i]))
			fail("page %ld lost its data after %s", i, after);
	}
}

static char *remap(char *old, long old_pages, long new_pages, int flags, char *to)
{
	char *p = mremap(old, old_pages * PAGE, new_pages * PAGE, flags, to);

	if (p == MAP_FAILED)
		fail("mremap %ld -> %ld pages failed", old_pages, new_pages);
	return p;
}

/* Moves the region to a fresh address of our choosing (MREMAP_FIXED). */
static char *move_fixed(char *p, long pages)
{
	char *window = mmap(NULL, MR_MAX * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (window == MAP_FAILED)
		fail("mmap of a window to move into failed");
	p = remap(p, pages, pages, MREMAP_MAYMOVE | MREMAP_FIXED, window);
	if (p != window)
		fail("MREMAP_FIXED moved the region to %p, not %p", (void *)p, (void *)window);
	if (pages < MR_MAX)
		munmap(window + pages * PAGE, (MR_MAX - pages) * PAGE);
	return p;
}

static void check_mremap(void)
{
	long pages = 16;
	char *p = map_rw(pages);
	uint64_t tags[MR_MAX];

	check = "mremap";
	for (long i = 0; i < pages; i++)
		fill_page(p + i * PAGE, tags[i] = 5000 + i);
	for (int round = 0; round < MR_ROUNDS; round++) {
		long to = 1 + rnd(MR_MAX);

		if (round % 5 == 4) {
			p = move_fixed(p, pages);
			check_pages(p, pages, tags, "a fixed move");
			continue;
		}
		p = remap(p, pages, to, MREMAP_MAYMOVE, NULL);
		check_pages(p, to < pages ? to : pages, tags, to > pages ? "growing" : "shrinking");
		for (long i = pages; i < to; i++)
			fill_page(p + i * PAGE, tags[i] = 7000 + round * MR_MAX + i);
		pages = to;
	}
	munmap(p, pages * PAGE);
}

/*
 * (d) munmap of partial ranges: holes punched in a region fault on access,
 * the rest keeps its data, and a hole mapped again reads zeros.
 */
#define MU_PAGES 256
#define MU_ROUNDS 60

static void punch_and_refill(char *base, uint64_t *tags)
{
	long first = rnd(MU_PAGES), count = 1 + rnd(16);
	static const char zero[PAGE];

	if (first + count > MU_PAGES)
		count = MU_PAGES - first;
	if (munmap(base + first * PAGE, count * PAGE))
		fail("munmap of pages %ld+%ld failed", first, count);
	for (long i = 0; i < MU_PAGES; i++) {
		if (i >= first && i < first + count) {
			if (!read_faults(base + i * PAGE))
				fail("page %ld reads after its munmap", i);
		} else if (!page_holds(base + i * PAGE, tags[i])) {
			fail("page %ld lost its data when pages %ld+%ld went", i, first, count);
		}
	}
	if (mmap(base + first * PAGE, count * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) == MAP_FAILED)
		fail("mmap over the hole %ld+%ld failed", first, count);
	for (long i = first; i < first + count; i++) {
		if (memcmp(base + i * PAGE, zero, PAGE))
			fail("page %ld mapped again is not zero", i);
		fill_page(base + i * PAGE, tags[i] = tags[i] + MU_PAGES);
	}
}

static void check_munmap(void)
{
	char *base = map_rw(MU_PAGES);
	uint64_t tags[MU_PAGES];

	check = "partial munmap";
	for (long i = 0; i < MU_PAGES; i++)
		fill_page(base + i * PAGE, tags[i] = 9000 + i);
	for (int round = 0; round < MU_ROUNDS; round++)
		punch_and_refill(base, tags);
	check_pages(base, MU_PAGES, tags, "the last round");
	munmap(base, MU_PAGES * PAGE);
}

/*
 * (e) A shell loop that forks and execs /bin/echo for every number,
 * appending to a file in /tmp; the numbers must all be there.
 */
#define SH_COUNT 200

static void check_shell_loop(void)
{
	static const char path[] = "/tmp/tg-mm-check.numbers";
	char script[200];
	long sum = 0, lines = 0, v;
	int status;
	FILE *f;

	check = "fork+exec shell loop";
	unlink(path);
	snprintf(script, sizeof(script), "i=1; while [ $i -le %d ]; do /bin/echo $i >> %s; i=$((i+1)); done",
		 SH_COUNT, path);
	pid_t pid = fork();

	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		fail("the shell loop did not exit 0");
	f = fopen(path, "r");
	if (!f)
		fail("no %s", path);
	while (fscanf(f, "%ld", &v) == 1) {
		sum += v;
		lines++;
	}
	fclose(f);
	unlink(path);
	if (lines != SH_COUNT || sum != (long)SH_COUNT * (SH_COUNT + 1) / 2)
		fail("%ld numbers summing to %ld, not %d summing to %d", lines, sum, SH_COUNT,
		     SH_COUNT * (SH_COUNT + 1) / 2);
}

static double seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Runs one check and returns how long it took, in seconds. */
static double timed(void (*run)(void))
{
	double t0 = seconds();

	run();
	return seconds() - t0;
}

int main(void)
{
	struct sigaction sa;
	double t[5];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigaction(SIGSEGV, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t[0] = timed(check_cow);
	t[1] = timed(check_mprotect);
	t[2] = timed(check_mremap);
	t[3] = timed(check_munmap);
	t[4] = timed(check_shell_loop);
	printf("tg-mm-check: ok cow=%d forks (%.1f s) mprotect=%d rounds (%.1f s) mremap=%d rounds (%.1f s) "
	       "munmap=%d rounds (%.1f s) shell=%d fork+exec (%.1f s)\n",
	       COW_CHILDREN, t[0], MP_ROUNDS, t[1], MR_ROUNDS, t[2], MU_ROUNDS, t[3], SH_COUNT, t[4]);
	return 0;
}
