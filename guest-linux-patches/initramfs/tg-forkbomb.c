// A fork bomb held by RLIMIT_NPROC: as an unprivileged user with a limit
// of N processes, fork until the kernel refuses, then kill the children.
// Prints how far it got; exits 0 if the limit stopped it.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long limit = argc > 1 ? atol(argv[1]) : 64;
	struct rlimit rl = { .rlim_cur = limit, .rlim_max = limit };
	long forked = 0;
	int err = 0;

	if (setgid(65534) || setuid(65534) || setrlimit(RLIMIT_NPROC, &rl)) {
		perror("tg-forkbomb: cannot drop privileges");
		return 2;
	}
	for (;;) {
		pid_t pid = fork();

		if (pid == 0) {
			pause();
			_exit(0);
		}
		if (pid < 0) {
			err = errno;
			break;
		}
		if (++forked > 10 * limit)
			break;
	}
	/* The children were forked with the default action; only we ignore it. */
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	while (wait(NULL) > 0 || errno == EINTR)
		;
	printf("tg-forkbomb: stopped after %ld processes (%s)\n", forked,
	       err == EAGAIN ? "EAGAIN from fork" : "no limit");
	return err == EAGAIN ? 0 : 1;
}
