/*
 * memvictim: the guest side of tern's memory-error tests. Run as root in the
 * test guest (it reads its own physical addresses from /proc/self/pagemap).
 *
 *   memvictim GOFILE [CHECKFILE]
 *   memvictim --dio DEVICE GOFILE
 *
 * Maps one page, writes a pattern into it, locks it (so that it keeps its
 * physical page), prints
 *   memvictim: pa=0x<physical address of the page>
 * and waits until the file GOFILE exists (the test meanwhile poisons that
 * page on the host). Then it prints "memvictim: touching" and reads the page.
 * If the host injected an abort for the poisoned page, the guest kernel sends
 * it SIGBUS there: it prints
 *   memvictim: SIGBUS after <microseconds from the read> us, si_code N, si_addr 0x...
 * Then it gives the page back to the guest's allocator (munmap) and takes
 * fresh pages, touching each, until /proc/self/pagemap shows that physical
 * page again (at most REUSE_MAX_MIB): the guest's next user of the page
 * after a contained memory error. It writes a pattern into it, reads it
 * back and prints
 *   memvictim: reused pa=0x... after N pages, pattern ok
 * (or "memvictim: page not reused within ..." if it never came back). With
 * CHECKFILE it then waits for that file (the test meanwhile snapshots or
 * migrates the VM) and reads the pattern again:
 *   memvictim: the reused page still holds its pattern   (or ... pattern BAD)
 * It exits 135 (128 + SIGBUS, as if it had died of it). If the read works it prints
 * "memvictim: survived, value 0x..." and exits 0; on a set-up failure it
 * prints why and exits 2.
 *
 * --dio: the page is the buffer of an O_DIRECT read of DEVICE's first page
 * instead, so that the host's device model, not the guest, writes it:
 *   memvictim: dio read ok         (exit 0)
 *   memvictim: dio read failed: <strerror>   (exit 5 for EIO, else 1)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PFN_MASK	((1ULL << 55) - 1)
#define PAGE_PRESENT	(1ULL << 63)

static int physical_address(const void *va, long page, uint64_t *pa)
{
	uint64_t entry;
	off_t off = (off_t)((uintptr_t)va / (uintptr_t)page * sizeof(entry));
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0 || pread(fd, &entry, sizeof(entry), off) != (ssize_t)sizeof(entry)) {
		fprintf(stderr, "memvictim: reading /proc/self/pagemap: %s\n", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (!(entry & PAGE_PRESENT) || !(entry & PFN_MASK)) {
		fprintf(stderr, "memvictim: page not present or PFN hidden (not root?): %#llx\n",
			(unsigned long long)entry);
		return -1;
	}
	*pa = (entry & PFN_MASK) * (uint64_t)page + (uintptr_t)va % (uintptr_t)page;
	return 0;
}

static sigjmp_buf bus_jump;
static siginfo_t bus_info;

static void on_sigbus(int sig, siginfo_t *si, void *uctx)
{
	(void)sig;
	(void)uctx;
	bus_info = *si;
	siglongjmp(bus_jump, 1);
}

#define REUSE_MAX_MIB	96
#define REUSE_CHUNK	(1UL << 20)

/*
 * Takes pages until @pa is among them, writes a pattern into it and reads
 * it back. The chunks stay mapped (so no page is taken twice) until exit.
 */
#define PATTERN(i)	(0x6e72657400000000ULL | (i))

/* Whether the page at @w holds PATTERN. */
static bool pattern_ok(volatile uint64_t *w, long page)
{
	for (size_t i = 0; i < (size_t)page / sizeof(*w); i++)
		if (w[i] != PATTERN(i))
			return false;
	return true;
}

/*
 * Takes pages until @pa is among them, writes PATTERN into it and reads it
 * back; returns that page, or NULL. The chunks stay mapped (so no page is
 * taken twice) until exit.
 */
static volatile uint64_t *reuse(uint64_t pa, long page)
{
	uint64_t want = pa & ~(uint64_t)(page - 1), got;

	for (unsigned long n = 0; n < (REUSE_MAX_MIB << 20) / REUSE_CHUNK; n++) {
		volatile uint64_t *c = mmap(NULL, REUSE_CHUNK, PROT_READ | PROT_WRITE,
					    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (c == MAP_FAILED)
			break;
		for (size_t off = 0; off < REUSE_CHUNK; off += (size_t)page) {
			volatile uint64_t *w = c + off / sizeof(*c);

			*w = 1;		/* the kernel zeroes a page for it here */
			if (physical_address((const void *)w, page, &got) < 0 || got != want)
				continue;
			for (size_t i = 0; i < (size_t)page / sizeof(*w); i++)
				w[i] = PATTERN(i);
			printf("memvictim: reused pa=%#llx after %lu pages, pattern %s\n",
			       (unsigned long long)want,
			       (unsigned long)(n * (REUSE_CHUNK / (size_t)page) + off / (size_t)page + 1),
			       pattern_ok(w, page) ? "ok" : "BAD");
			return w;
		}
	}
	printf("memvictim: page not reused within %d MiB\n", REUSE_MAX_MIB);
	return NULL;
}

static void wait_for_file(const char *path)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	while (access(path, F_OK) < 0)
		nanosleep(&nap, NULL);
}

/* After the SIGBUS: the page's next user, and the check across a move. */
static int after_sigbus(volatile uint64_t *p, uint64_t pa, long page, const char *checkfile)
{
	volatile uint64_t *w;

	fflush(stdout);
	munmap((void *)p, (size_t)page);
	w = reuse(pa, page);
	fflush(stdout);
	if (w && checkfile) {
		wait_for_file(checkfile);
		printf("memvictim: the reused page still holds its pattern%s\n",
		       pattern_ok(w, page) ? "" : ": NO, pattern BAD");
	}
	return 135;
}

/* The page as the buffer of an O_DIRECT read: the device model writes it. */
static int dio_read(const char *dev, volatile uint64_t *p, long page)
{
	int fd = open(dev, O_RDONLY | O_DIRECT), err;
	ssize_t n;

	if (fd < 0) {
		printf("memvictim: open %s: %s\n", dev, strerror(errno));
		return 2;
	}
	n = pread(fd, (void *)p, (size_t)page, 0);
	err = errno;
	close(fd);
	if (n == (ssize_t)page) {
		printf("memvictim: dio read ok\n");
		return 0;
	}
	printf("memvictim: dio read failed: %s\n", n < 0 ? strerror(err) : "short read");
	return n < 0 && err == EIO ? 5 : 1;
}

static long elapsed_us(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000000L + (t1.tv_nsec - t0->tv_nsec) / 1000;
}

int main(int argc, char *argv[])
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	struct timespec t0;
	long page = sysconf(_SC_PAGESIZE);
	volatile uint64_t *p;
	uint64_t pa, value;

	const char *dev = NULL, *gofile, *checkfile;

	if (argc == 4 && !strcmp(argv[1], "--dio")) {
		dev = argv[2];
		gofile = argv[3];
		checkfile = NULL;
	} else if (argc == 2 || argc == 3) {
		gofile = argv[1];
		checkfile = argc == 3 ? argv[2] : NULL;
	} else {
		fprintf(stderr, "usage: memvictim GOFILE [CHECKFILE] | memvictim --dio DEVICE GOFILE\n");
		return 2;
	}
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memvictim: mmap");
		return 2;
	}
	for (size_t i = 0; i < (size_t)page / sizeof(*p); i++)
		p[i] = 0x7465726e00000000ULL | i;	/* not PATTERN */
	if (mlock((const void *)p, (size_t)page) < 0) {
		perror("memvictim: mlock");
		return 2;
	}
	if (physical_address((const void *)p, page, &pa) < 0)
		return 2;
	printf("memvictim: pa=%#llx\n", (unsigned long long)pa);
	fflush(stdout);
	wait_for_file(gofile);
	if (dev)
		return dio_read(dev, p, page);
	printf("memvictim: touching\n");
	fflush(stdout);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sigsetjmp(bus_jump, 1)) {
		printf("memvictim: SIGBUS after %ld us, si_code %d, si_addr %p\n", elapsed_us(&t0),
		       bus_info.si_code, bus_info.si_addr);
		return after_sigbus(p, pa, page, checkfile);
	}
	value = p[0];
	printf("memvictim: survived, value %#llx\n", (unsigned long long)value);
	return 0;
}
