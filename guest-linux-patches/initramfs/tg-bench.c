// Micro-benchmarks for `make bench`, inside the Linux guest and (the same
// source, built by tests/bench/CMakeLists.txt) natively on the host: runs N
// of one operation and prints "tg-bench KIND n=N ns=TOTAL ops=OPS", OPS
// being what the operation counts (N, or for "switch" the context switches
// getrusage saw). The host side subtracts a run with N=0.
//   syscall  N getppid calls          fork   N fork + _exit + waitpid
//   exec     N fork + exec /bin/true + waitpid
//   switch   two processes on CPU 0 calling sched_yield N times each
//   fault    N first touches of anonymous pages
//   pipe     N one-byte round trips between two processes
//   shell    /bin/sh runs /bin/true N times in a loop
//   idle     sleeps N seconds (prints "tg-bench idle begin" first)
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void wait_ok(pid_t pid)
{
	int status;

	if (pid < 0)
		die("tg-bench: fork");
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "tg-bench: child %d failed\n", (int)pid);
		exit(1);
	}
}

static long null_syscalls(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return n;
}

static long fork_exit(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		wait_ok(pid);
	}
	return n;
}

static long fork_exec(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		wait_ok(pid);
	}
	return n;
}

static long switches_so_far(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_nvcsw + ru.ru_nivcsw;
}

static void yield_n(long n)
{
	for (long i = 0; i < n; i++)
		sched_yield();
}

/* Both processes on one CPU, so each sched_yield hands it to the other. */
static long context_switches(long n)
{
	cpu_set_t one;
	long before = switches_so_far(RUSAGE_SELF);
	pid_t pid;

	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		die("tg-bench: sched_setaffinity");
	pid = fork();
	if (pid == 0) {
		yield_n(n);
		_exit(0);
	}
	yield_n(n);
	wait_ok(pid);
	return switches_so_far(RUSAGE_SELF) - before + switches_so_far(RUSAGE_CHILDREN);
}

static long page_faults(long n)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = n ? mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : NULL;

	if (p == MAP_FAILED)
		die("tg-bench: mmap");
	for (long i = 0; i < n; i++)
		p[i * page] = 1;
	if (n)
		munmap(p, n * page);
	return n;
}

static long pipe_round_trips(long n)
{
	int to_child[2], to_parent[2];
	char c = 0;
	pid_t pid;

	if (pipe(to_child) || pipe(to_parent))
		die("tg-bench: pipe");
	pid = fork();
	if (pid == 0) {
		/* Only the parent may keep a write end open: its close is our EOF. */
		close(to_child[1]);
		close(to_parent[0]);
		while (read(to_child[0], &c, 1) == 1 && write(to_parent[1], &c, 1) == 1)
			;
		_exit(0);
	}
	close(to_child[0]);
	close(to_parent[1]);
	for (long i = 0; i < n; i++) {
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1)
			die("tg-bench: pipe round trip");
	}
	close(to_child[1]);
	wait_ok(pid);
	return n;
}

static long shell_loop(long n)
{
	char script[160];
	pid_t pid;

	snprintf(script, sizeof(script), "i=0; while [ $i -lt %ld ]; do /bin/true; i=$((i+1)); done", n);
	pid = fork();
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	wait_ok(pid);
	return n;
}

static long idle(long seconds)
{
	struct timespec ts = { .tv_sec = seconds };

	printf("tg-bench idle begin\n");
	fflush(stdout);
	while (nanosleep(&ts, &ts))
		;
	return seconds;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *kind;
		long (*run)(long n);
	} kinds[] = {
		{ "syscall", null_syscalls }, { "fork", fork_exit }, { "exec", fork_exec },
		{ "switch", context_switches }, { "fault", page_faults }, { "pipe", pipe_round_trips },
		{ "shell", shell_loop }, { "idle", idle },
	};
	long n = argc > 2 ? atol(argv[2]) : 1000;

	for (size_t k = 0; argc > 1 && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (strcmp(argv[1], kinds[k].kind))
			continue;
		long long t0 = now_ns();
		long ops = kinds[k].run(n);

		printf("tg-bench %s n=%ld ns=%lld ops=%ld\n", kinds[k].kind, n, now_ns() - t0, ops);
		return 0;
	}
	fprintf(stderr, "usage: tg-bench syscall|fork|exec|switch|fault|pipe|shell|idle N\n");
	return 2;
}
