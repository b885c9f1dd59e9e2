// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "console.h"
#include "log.h"
#include "sandbox.h"

#define CTRL_A 0x01

/*
 * The one piece of process-wide state in tern: a crash handler can reach
 * nothing else, and the terminal must be restored even then.
 */
static struct termios saved_termios;
static volatile sig_atomic_t termios_saved;

static void restore_terminal(void)
{
	if (termios_saved)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_termios);
}

static void crash_handler(int sig)
{
	restore_terminal();	/* tcsetattr is async-signal-safe */
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_crash_handlers(void)
{
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGQUIT };
	struct sigaction sa = { .sa_handler = crash_handler, .sa_flags = SA_RESETHAND };

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

static int enter_raw_mode(void)
{
	struct termios raw;

	if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
		return -errno;
	termios_saved = 1;
	atexit(restore_terminal);
	install_crash_handlers();
	sandbox_at_violation(restore_terminal);

	/* Input goes to the guest byte by byte, Ctrl-C included. Output
	 * processing stays on so tern's own messages keep their line starts. */
	raw = saved_termios;
	raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0)
		return -errno;
	return 0;
}

/* Whole writes to the sink; false once it fails (a reader that went away). */
static bool write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * The console writer thread: the only one that may block on stdout. It ends
 * when the buffer's other end is closed and everything in it was written;
 * a sink that failed (EPIPE...) has the rest read and thrown away, so the
 * UART's side still sees room.
 */
static void *console_writer(void *opaque)
{
	struct console *con = opaque;
	uint8_t buf[4096];
	bool sink_ok = true;

	/* Started after the main thread's filter and Landlock domain, which
	 * it inherits: its own narrows them to what it does. */
	if (sandbox_enter(SANDBOX_CONSOLE) < 0)
		return NULL;
	for (;;) {
		ssize_t n = read(con->out_rd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		if (sink_ok)
			sink_ok = write_all(con->sink_fd, buf, (size_t)n);
	}
}

static int open_output(struct console *con, unsigned int size)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	con->out_rd = fds[0];
	con->out_fd = fds[1];
	con->sink_fd = STDOUT_FILENO;
	/* Only the UART's end is non-blocking: stdout itself is shared with
	 * whoever started tern (a shell's terminal) and keeps its flags. */
	if (fcntl(con->out_fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	/* An unprivileged user asking past /proc/sys/fs/pipe-max-size keeps
	 * the default 64 KiB. */
	if (fcntl(con->out_fd, F_SETPIPE_SZ, size) < 0)
		pr_warn("console: cannot make the output buffer %u bytes: %m; it stays at the default",
			size);
	return 0;
}

int console_start_writer(struct console *con)
{
	int ret = pthread_create(&con->writer, NULL, console_writer, con);

	if (ret) {
		pr_err("console: cannot start the output writer thread: %s", strerror(ret));
		return -ret;
	}
	con->writer_started = true;
	return 0;
}

static void close_output(struct console *con)
{
	struct timespec deadline;

	if (con->out_fd >= 0)
		close(con->out_fd);	/* the writer sees EOF after the rest */
	con->out_fd = -1;
	if (con->writer_started) {
		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += CONSOLE_FLUSH_MS / 1000;
		deadline.tv_nsec += (CONSOLE_FLUSH_MS % 1000) * 1000000L;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
		if (pthread_timedjoin_np(con->writer, NULL, &deadline)) {
			/* Blocked on a stdout nobody reads: it ends with the process. */
			pr_warn("console: output not flushed within %d ms (stdout is not being read); the rest is lost",
				CONSOLE_FLUSH_MS);
			pthread_detach(con->writer);
			con->writer_started = false;
			return;		/* out_rd stays open for it */
		}
		con->writer_started = false;
	}
	if (con->out_rd >= 0)
		close(con->out_rd);
	con->out_rd = -1;
}

int console_open(struct console *con, unsigned int out_buffer)
{
	int ret;

	ratelimit_init(&con->rx_signal_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ret = open_output(con, out_buffer);
	if (ret < 0) {
		pr_err("console: cannot set up the output buffer: %s",
		       strerror(-ret));
		close_output(con);
		return ret;
	}
	con->in_fd = STDIN_FILENO;
	con->head = con->tail = 0;
	con->rx_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (con->rx_efd < 0) {
		ret = -errno;
		close_output(con);
		return ret;
	}
	con->is_tty = isatty(STDIN_FILENO);
	if (con->is_tty) {
		ret = enter_raw_mode();
		if (ret < 0) {
			pr_err("cannot put the terminal in raw mode: %s", strerror(-ret));
			close_output(con);
			return ret;
		}
	}
	return 0;
}

void console_close(struct console *con)
{
	close_output(con);
	restore_terminal();
	termios_saved = 0;
	if (con->rx_efd >= 0)
		close(con->rx_efd);
	con->rx_efd = -1;
}

void console_rx_ready(void *opaque)
{
	struct console *con = opaque;
	uint64_t one = 1;

	if (write(con->rx_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn_ratelimited(&con->rx_signal_log, "console: cannot signal input room: %m");
}

bool console_wants_input(const struct console *con)
{
	return con->in_fd >= 0 && con->head == con->tail && !con->quit;
}

/*
 * Takes the escape sequences out of what a tty typed, from @in into the
 * console's buffer. A Ctrl-A left pending by the previous read comes out as
 * two bytes, so every input byte may become two: callers read at most half
 * the buffer at a time.
 */
static size_t filter_escapes(struct console *con, const uint8_t *in, size_t len)
{
	size_t out = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (con->escape) {
			con->escape = false;
			if (c == 'x' || c == 'X') {
				con->quit = true;
				return out;
			}
			if (c != CTRL_A)
				con->buf[out++] = CTRL_A;
		} else if (c == CTRL_A) {
			con->escape = true;
			continue;
		}
		con->buf[out++] = c;
	}
	return out;
}

static int read_input(struct console *con)
{
	uint8_t in[sizeof(con->buf) / 2];
	ssize_t n = read(con->in_fd, in, sizeof(in));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	if (n == 0) {
		con->in_fd = -1;	/* EOF: the guest keeps running without input */
		return 0;
	}
	con->head = 0;
	if (con->is_tty) {
		con->tail = filter_escapes(con, in, (size_t)n);
	} else {
		memcpy(con->buf, in, (size_t)n);
		con->tail = (size_t)n;
	}
	return 0;
}

int console_pump(struct console *con, bool input_ready)
{
	uint64_t drained;
	int ret;

	/* Clear the UART's "room again" notification before retrying. */
	if (read(con->rx_efd, &drained, sizeof(drained)) < 0 && errno != EAGAIN)
		return -errno;
	if (input_ready && console_wants_input(con)) {
		ret = read_input(con);
		if (ret < 0)
			return ret;
	}
	if (con->head < con->tail)
		con->head += con->receive(con->uart, con->buf + con->head,
					       con->tail - con->head);
	return 0;
}
