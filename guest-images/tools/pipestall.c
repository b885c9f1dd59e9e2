/*
 * pipestall: a console reader that stops reading, for the lab's
 * console-stall scenario (run on the lab host, not in the guest).
 *
 *   pipestall FIFO OUT STOPFILE
 *
 * Opens FIFO for reading, shrinks its buffer to one page (F_SETPIPE_SZ), and
 * copies what comes to OUT until STOPFILE exists; from then on it reads
 * nothing more but keeps FIFO open, so its writer finds it full, not broken.
 * It ends on SIGTERM/SIGKILL. Exit status 2 if the set-up fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	char buf[4096];
	int in, out;

	if (argc != 4) {
		fprintf(stderr, "usage: pipestall FIFO OUT STOPFILE\n");
		return 2;
	}
	in = open(argv[1], O_RDONLY);
	out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0) {
		fprintf(stderr, "pipestall: open: %s\n", strerror(errno));
		return 2;
	}
	if (fcntl(in, F_SETPIPE_SZ, 4096) < 0)
		fprintf(stderr, "pipestall: F_SETPIPE_SZ: %s (the pipe keeps its size)\n", strerror(errno));
	while (access(argv[3], F_OK) != 0) {
		struct pollfd p = { .fd = in, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(in, buf, sizeof(buf));
		if (n == 0)
			return 0;	/* the writer is gone */
		if (n < 0 || write(out, buf, (size_t)n) != n)
			return 1;
	}
	fprintf(stderr, "pipestall: stopped reading\n");
	for (;;)
		pause();
}
