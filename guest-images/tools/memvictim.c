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
 * If the host injected an abort for the poisoned page, the process dies of
 * SIGBUS there (exit status 135 in the shell). If the read works it prints
 * "memvictim: survived, value 0x..." and exits 0; on a set-up failure it
 * prints why and exits 2.
 */
#include <errno.h>
#include <fcntl.h>
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

int main(int argc, char *argv[])
{
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
	value = p[0];
	printf("memvictim: survived, value %#llx\n", (unsigned long long)value);
	return 0;
}
