// Micro-benchmarks inside the Linux guest for `make bench`: runs N of one
// operation and prints "tg-bench KIND n=N ns=TOTAL". The host side subtracts
// a run with N=0 to get the exits per operation.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static void null_syscalls(long n)
{
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
}

static void fork_exit(long n)
{
	for (long i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		waitpid(pid, NULL, 0);
	}
}

static void page_faults(long n)
{
	long page = sysconf(_SC_PAGESIZE);
	char *p = n ? mmap(NULL, n * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) : NULL;

	if (p == MAP_FAILED) {
		perror("tg-bench: mmap");
		exit(1);
	}
	for (long i = 0; i < n; i++)
		p[i * page] = 1;
	if (n)
		munmap(p, n * page);
}

static void pipe_round_trips(long n)
{
	int to_child[2], to_parent[2];
	char c = 0;
	pid_t pid;

	if (pipe(to_child) || pipe(to_parent)) {
		perror("tg-bench: pipe");
		exit(1);
	}
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
		if (write(to_child[1], &c, 1) != 1 || read(to_parent[0], &c, 1) != 1) {
			perror("tg-bench: pipe round trip");
			exit(1);
		}
	}
	close(to_child[1]);
	waitpid(pid, NULL, 0);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *kind;
		void (*run)(long n);
	} kinds[] = {
		{ "syscall", null_syscalls },
		{ "fork", fork_exit },
		{ "fault", page_faults },
		{ "pipe", pipe_round_trips },
	};
	long n = argc > 2 ? atol(argv[2]) : 1000;

	for (size_t k = 0; argc > 1 && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (strcmp(argv[1], kinds[k].kind))
			continue;
		long long t0 = now_ns();

		kinds[k].run(n);
		printf("tg-bench %s n=%ld ns=%lld\n", kinds[k].kind, n, now_ns() - t0);
		return 0;
	}
	fprintf(stderr, "usage: tg-bench syscall|fork|fault|pipe N\n");
	return 2;
}
