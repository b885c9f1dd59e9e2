/*
 * memvictim: the guest side of tern's memory-error tests. Run as root in the
 * test guest (it reads its own physical addresses from /proc/self/pagemap).
 *
 *   memvictim GOFILE [CHECKFILE]
 *   memvictim --dio DEVICE GOFILE
 *   memvictim --huge GOFILE
 *
 * Maps one page, writes a pattern into it, locks it (so that it keeps its
 * physical page), prints
 *   memvictim: pa=0x<physical address of the page>
 * and waits until the file GOFILE exists (the test meanwhile poisons that
 * page on the host; a GOFILE already there is removed first, so that a
 * second memvictim in one guest waits too). If the guest moved the page meanwhile, it says so
 * ("memvictim: the guest moved the page ...") and exits 3. Then it prints
 * "memvictim: touching" and reads the page.
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
 *
 * --huge: the page is one 2 MiB huge page of the guest (MAP_HUGETLB; the
 * guest must have one reserved, vm.nr_hugepages), so that a host huge page
 * behind it (tern's backend=hugetlb) holds no other guest data: nobody else
 * in the guest touches the poisoned host page first. pa is the huge page's
 * start; after the SIGBUS it is given back and taken again (the guest's pool
 * hands out the same one; its kernel zeroes all of it first), and the
 * pattern covers all of it.
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
#define HUGE_SIZE	(2UL << 20)
#define PATTERN(i)	(0x6e72657400000000ULL | (i))

/* Whether the page at @w holds PATTERN. */
static bool pattern_ok(volatile uint64_t *w, long page)
{
	for (size_t i = 0; i < (size_t)page / sizeof(*w); i++)
		if (w[i] != PATTERN(i))
			return false;
	return true;
}

/* The guest kernel's flags of page @pa (/proc/kpageflags), as hex. */
static const char *page_flags(uint64_t pa, long page)
{
	static char buf[32];
	uint64_t flags;
	int fd = open("/proc/kpageflags", O_RDONLY);

	snprintf(buf, sizeof(buf), "unknown");
	if (fd >= 0 && pread(fd, &flags, sizeof(flags), (off_t)(pa / (uint64_t)page * sizeof(flags))) ==
	    (ssize_t)sizeof(flags))
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)flags);
	if (fd >= 0)
		close(fd);
	return buf;
}

/*
 * Takes pages until @pa is among them, writes PATTERN into it and reads it
 * back; returns that page, or NULL. Base pages only (no transparent huge
 * page would take a freed base page), and nothing is given back (so no
 * page is taken twice) until exit.
 */
static volatile uint64_t *reuse(uint64_t pa, long page)
{
	uint64_t want = pa & ~(uint64_t)(page - 1), got;
	size_t len = (size_t)REUSE_MAX_MIB << 20;
	volatile uint8_t *c = mmap(NULL, len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (c == MAP_FAILED) {
		perror("memvictim: mmap");
		return NULL;
	}
	madvise((void *)c, len, MADV_NOHUGEPAGE);
	for (size_t off = 0; off < len; off += (size_t)page) {
		volatile uint64_t *w = (volatile uint64_t *)(c + off);

		*w = 1;		/* the kernel zeroes a page for it here */
		if (physical_address((const void *)w, page, &got) < 0 || got != want)
			continue;
		for (size_t i = 0; i < (size_t)page / sizeof(*w); i++)
			w[i] = PATTERN(i);
		printf("memvictim: reused pa=%#llx after %zu pages, pattern %s\n",
		       (unsigned long long)want, off / (size_t)page + 1,
		       pattern_ok(w, page) ? "ok" : "BAD");
		return w;
	}
	printf("memvictim: page not reused within %d MiB; its page flags: %s\n", REUSE_MAX_MIB,
	       page_flags(want, page));
	return NULL;
}

/* Compaction may move locked pages too, unless told not to; best effort. */
static void keep_unevictable_in_place(void)
{
	int fd = open("/proc/sys/vm/compact_unevictable_allowed", O_WRONLY);

	if (fd >= 0) {
		if (write(fd, "0", 1) != 1)
			perror("memvictim: compact_unevictable_allowed");
		close(fd);
	}
}

/*
 * A munlocked page is only given back to the allocator when the kernel's
 * per-CPU munlock batch is drained (mm/mlock.c: mlock_folio_batch), which
 * holds a reference until it fills: locking and unlocking a batch's worth
 * of other pages fills it. They stay mapped, so the victim's page is the
 * one freed last.
 */
static void flush_munlock_batch(long page)
{
	size_t len = 64 * (size_t)page;
	void *q = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (q == MAP_FAILED)
		return;
	for (size_t off = 0; off < len; off += (size_t)page) {
		if (mlock((char *)q + off, (size_t)page) < 0 ||
		    munlock((char *)q + off, (size_t)page) < 0)
			break;
	}
}

static void wait_for_file(const char *path)
{
	struct timespec nap = { 0, 20 * 1000 * 1000 };

	while (access(path, F_OK) < 0)
		nanosleep(&nap, NULL);
}

/* The guest huge page taken again: the pool's only one, so @pa again. */
static volatile uint64_t *reuse_huge(uint64_t pa, long page)
{
	volatile uint64_t *w = mmap(NULL, HUGE_SIZE, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	uint64_t got;

	if (w == MAP_FAILED) {
		perror("memvictim: mmap MAP_HUGETLB again");
		return NULL;
	}
	w[0] = 1;	/* the guest kernel zeroes all 2 MiB here */
	if (physical_address((const void *)w, page, &got) < 0)
		return NULL;
	if (got != pa) {
		printf("memvictim: page not reused: the huge page came back at pa=%#llx\n",
		       (unsigned long long)got);
		return NULL;
	}
	for (size_t i = 0; i < HUGE_SIZE / sizeof(*w); i++)
		w[i] = PATTERN(i);
	printf("memvictim: reused pa=%#llx after 1 pages, pattern %s\n", (unsigned long long)pa,
	       pattern_ok(w, (long)HUGE_SIZE) ? "ok" : "BAD");
	return w;
}

/* After the SIGBUS: the page's next user, and the check across a move. */
static int after_sigbus(volatile uint64_t *p, uint64_t pa, long page, const char *checkfile)
{
	volatile uint64_t *w;

	fflush(stdout);
	if ((size_t)page == HUGE_SIZE) {
		munmap((void *)p, HUGE_SIZE);
		w = reuse_huge(pa, sysconf(_SC_PAGESIZE));
		fflush(stdout);
		return 135;
	}
	munmap((void *)p, (size_t)page);
	flush_munlock_batch(page);
	printf("memvictim: unmapped; page flags %s\n", page_flags(pa, page));
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
	volatile uint64_t *p;
	uint64_t pa, moved, value;

	const char *dev = NULL, *gofile, *checkfile;
	int huge = 0;

	if (argc == 3 && !strcmp(argv[1], "--huge")) {
		huge = MAP_HUGETLB;
		gofile = argv[2];
		checkfile = NULL;
	} else if (argc == 4 && !strcmp(argv[1], "--dio")) {
		dev = argv[2];
		gofile = argv[3];
		checkfile = NULL;
	} else if (argc == 2 || argc == 3) {
		gofile = argv[1];
		checkfile = argc == 3 ? argv[2] : NULL;
	} else {
		fprintf(stderr, "usage: memvictim GOFILE [CHECKFILE] | memvictim --dio DEVICE GOFILE | memvictim --huge GOFILE\n");
		return 2;
	}
	const long page = huge ? (long)HUGE_SIZE : sysconf(_SC_PAGESIZE);

	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | huge, -1, 0);
	if (p == MAP_FAILED) {
		perror("memvictim: mmap");
		return 2;
	}
	for (size_t i = 0; i < (size_t)page / sizeof(*p); i++)
		p[i] = 0x7465726e00000000ULL | i;	/* not PATTERN */
	keep_unevictable_in_place();
	if (mlock((const void *)p, (size_t)page) < 0) {
		perror("memvictim: mlock");
		return 2;
	}
	if (physical_address((const void *)p, huge ? sysconf(_SC_PAGESIZE) : page, &pa) < 0)
		return 2;
	/* A GOFILE left by an earlier round would let this one read at once,
	 * before the test poisoned its page: gone before pa is printed. */
	if (unlink(gofile) < 0 && errno != ENOENT) {
		perror("memvictim: unlink GOFILE");
		return 2;
	}
	printf("memvictim: pa=%#llx\n", (unsigned long long)pa);
	fflush(stdout);
	wait_for_file(gofile);
	/* pagemap reads the page table, not the page. */
	if (physical_address((const void *)p, huge ? sysconf(_SC_PAGESIZE) : page, &moved) < 0)
		return 2;
	if (moved != pa) {
		printf("memvictim: the guest moved the page to pa=%#llx\n", (unsigned long long)moved);
		return 3;
	}
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
