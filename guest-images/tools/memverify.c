/*
 * memverify: checks, inside the test guest, that live migration moved every
 * page of a working set with its latest contents.
 *
 *   memverify run MIB RATE   keep stamping MIB MiB of memory, RATE MiB/s of
 *                            page writes (0: as fast as it can); runs until
 *                            killed; its pid goes to /tmp/memverify.pid
 *   memverify check          have the running one verify every page now
 *
 * Each page of the working set starts with a stamp: a magic word, the
 * page's index and the generation last written to it. The writer goes
 * round the working set, page after page; each lap is a new generation. On
 * odd laps it clears one page in ZERO_EVERY instead, so that a page first
 * sent with data is later sent as a zero page, which the destination must
 * clear. It remembers, per page, the generation it wrote last (or that it
 * cleared it). On SIGUSR1 it stops writing, compares every page with what
 * it remembers, writes one line to /tmp/memverify.result and carries on:
 *   memverify: ok pages=N gen=G
 *   memverify: STALE page=P have=g want=G      (g -1: no stamp; G or g
 *                                               "cleared": all zero)
 * "check" sends the signal, waits for that line, prints it.
 *
 * Exit status of check: 0 ok, 1 stale, 2 usage or no runner.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PID_FILE	"/tmp/memverify.pid"
#define RESULT_FILE	"/tmp/memverify.result"
#define STAMP_MAGIC	0x4d454d5645524946ULL	/* "MEMVERIF" */
#define PAGE		4096u
#define BATCH_PAGES	64u			/* between two rate checks */
#define ZERO_EVERY	16u			/* on odd laps, pages cleared */
#define CLEARED		(UINT64_MAX - 1)	/* want[p]: the page is all zero */
#define NO_STAMP	UINT64_MAX

struct stamp {
	uint64_t magic;
	uint64_t page;
	uint64_t gen;
};

static volatile sig_atomic_t check_wanted;

static void on_usr1(int sig)
{
	(void)sig;
	check_wanted = 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_result(const char *line)
{
	char tmp[] = RESULT_FILE ".tmp";
	FILE *f = fopen(tmp, "w");

	if (!f)
		return;
	fputs(line, f);
	fclose(f);
	rename(tmp, RESULT_FILE);	/* the checker sees a whole line or none */
}

static bool page_clear(const uint8_t *page)
{
	const volatile uint64_t *q = (const volatile uint64_t *)page;

	for (unsigned int i = 0; i < PAGE / 8; i++)
		if (q[i])
			return false;
	return true;
}

/* What page p holds: its stamp's generation, CLEARED or NO_STAMP. */
static uint64_t page_state(const uint8_t *mem, uint64_t p)
{
	const volatile struct stamp *s = (const volatile struct stamp *)(mem + p * PAGE);

	if (s->magic == STAMP_MAGIC && s->page == p)
		return s->gen;
	return page_clear(mem + p * PAGE) ? CLEARED : NO_STAMP;
}

static const char *state_name(uint64_t v, char *buf, size_t len)
{
	if (v == CLEARED)
		return "cleared";
	if (v == NO_STAMP)
		return "-1";
	snprintf(buf, len, "%" PRIu64, v);
	return buf;
}

/* Every page against what was last written to it. */
static void verify(uint8_t *mem, const uint64_t *want, uint64_t pages, uint64_t gen)
{
	char line[160], have_s[24], want_s[24];

	for (uint64_t p = 0; p < pages; p++) {
		uint64_t have = page_state(mem, p);

		if (have != want[p]) {
			snprintf(line, sizeof(line), "memverify: STALE page=%" PRIu64 " have=%s "
				 "want=%s\n", p, state_name(have, have_s, sizeof(have_s)),
				 state_name(want[p], want_s, sizeof(want_s)));
			write_result(line);
			return;
		}
	}
	snprintf(line, sizeof(line), "memverify: ok pages=%" PRIu64 " gen=%" PRIu64 "\n", pages,
		 gen);
	write_result(line);
}

static void stamp(uint8_t *mem, uint64_t *want, uint64_t p, uint64_t gen)
{
	volatile struct stamp *s = (volatile struct stamp *)(mem + p * PAGE);

	s->magic = STAMP_MAGIC;
	s->page = p;
	s->gen = gen;
	want[p] = gen;
}

static void clear(uint8_t *mem, uint64_t *want, uint64_t p)
{
	memset(mem + p * PAGE, 0, PAGE);
	want[p] = CLEARED;
}

static int run(uint64_t mib, double rate_mib)
{
	uint64_t pages = mib * (1u << 20) / PAGE, gen = 1, p = 0, written = 0;
	uint8_t *mem = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t *want = calloc(pages, sizeof(*want));
	double t0 = now_s();
	FILE *f;

	if (mem == MAP_FAILED || !want) {
		fprintf(stderr, "memverify: cannot allocate %" PRIu64 " MiB\n", mib);
		return 2;
	}
	signal(SIGUSR1, on_usr1);
	for (uint64_t i = 0; i < pages; i++)
		stamp(mem, want, i, 0);
	f = fopen(PID_FILE, "w");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
	for (;;) {
		for (unsigned int i = 0; i < BATCH_PAGES; i++) {
			if (gen % 2 && p % ZERO_EVERY == 0)
				clear(mem, want, p);
			else
				stamp(mem, want, p, gen);
			if (++p == pages) {
				p = 0;
				gen++;
			}
		}
		written += BATCH_PAGES;
		if (check_wanted) {
			check_wanted = 0;
			verify(mem, want, pages, gen);
		}
		/* Ahead of the rate: sleep off the difference. */
		if (rate_mib > 0) {
			double ahead = (double)written * PAGE / (rate_mib * (1u << 20)) -
				       (now_s() - t0);

			if (ahead > 0)
				usleep((useconds_t)(ahead * 1e6));
		}
	}
}

static int check(void)
{
	char line[160] = "";
	FILE *f = fopen(PID_FILE, "r");
	int pid = 0;

	if (!f || fscanf(f, "%d", &pid) != 1 || pid <= 0) {
		fprintf(stderr, "memverify: no runner (%s)\n", PID_FILE);
		return 2;
	}
	fclose(f);
	unlink(RESULT_FILE);
	if (kill(pid, SIGUSR1) < 0) {
		fprintf(stderr, "memverify: runner %d: %s\n", pid, strerror(errno));
		return 2;
	}
	for (int i = 0; i < 600; i++) {
		f = fopen(RESULT_FILE, "r");
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = 0;
			fclose(f);
			fputs(line, stdout);
			return strncmp(line, "memverify: ok ", 14) ? 1 : 0;
		}
		usleep(100000);
	}
	fprintf(stderr, "memverify: runner %d did not answer\n", pid);
	return 2;
}

int main(int argc, char *argv[])
{
	if (argc == 4 && !strcmp(argv[1], "run"))
		return run(strtoull(argv[2], NULL, 0), strtod(argv[3], NULL));
	if (argc == 2 && !strcmp(argv[1], "check"))
		return check();
	fprintf(stderr, "usage: memverify run MIB RATE | memverify check\n");
	return 2;
}
