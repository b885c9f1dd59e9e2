/*
 * memvictim: the guest side of tern's memory-error tests. Run as root in the
 * test guest (it reads its own physical addresses from /proc/self/pagemap).
 *
 *   memvictim GOFILE
 *
 * Maps one page, writes a pattern into it, locks it (so that it keeps its
 * physical page), prints
 *   memvictim: pa=0x<physical address of the page>
 * and waits until the file GOFILE exists (the test meanwhile poisons that
 * page on the host). Then it prints "memvictim: touching" and reads the page.
 * If the host injected an abort for the poisoned page, the guest kernel sends
 * it SIGBUS there: it prints
 *   memvictim: SIGBUS after <microseconds from the read> us, si_code N, si_addr 0x...
 * and exits 135 (128 + SIGBUS, as if it had died of it). If the read works it prints
 * "memvictim: survived, value 0x..." and exits 0; on a set-up failure it
 * prints why and exits 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
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
	struct timespec nap = { 0, 20 * 1000 * 1000 };
	volatile uint64_t *p;
	uint64_t pa, value;

	if (argc != 2) {
		fprintf(stderr, "usage: memvictim GOFILE\n");
		return 2;
	}
	p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("memvictim: mmap");
		return 2;
	}
	for (size_t i = 0; i < (size_t)page / sizeof(*p); i++)
		p[i] = 0x7465726e00000000ULL | i;
	if (mlock((const void *)p, (size_t)page) < 0) {
		perror("memvictim: mlock");
		return 2;
	}
	if (physical_address((const void *)p, page, &pa) < 0)
		return 2;
	printf("memvictim: pa=%#llx\n", (unsigned long long)pa);
	fflush(stdout);
	while (access(argv[1], F_OK) < 0)
		nanosleep(&nap, NULL);
	printf("memvictim: touching\n");
	fflush(stdout);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (sigsetjmp(bus_jump, 1)) {
		printf("memvictim: SIGBUS after %ld us, si_code %d, si_addr %p\n", elapsed_us(&t0),
		       bus_info.si_code, bus_info.si_addr);
		return 135;
	}
	value = p[0];
	printf("memvictim: survived, value %#llx\n", (unsigned long long)value);
	return 0;
}
