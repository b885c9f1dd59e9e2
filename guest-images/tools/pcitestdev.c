/*
 * pcitestdev: drives tern's --pci-testdev (QEMU's PCI test function,
 * 1b36:0005) from the guest as kvm-unit-tests' pci-test does, and prints the
 * count of each test, which pci-test only checks loosely: for the lab's
 * pci-testdev scenario.
 *
 *   pcitestdev
 *
 * Finds the function in /sys/bus/pci/devices, enables it, and runs the three
 * tests of its memory BAR through resource0 (mmap) and, where the guest has
 * /dev/port, the three of its I/O BAR through that: start test N (write N to
 * byte 0), read the header (offset, data byte, name), write the data byte 16
 * times at the offset, then one other byte there, and read the count. With
 * KVM's ioeventfds working, the no-eventfd test counts the 16 writes (they
 * exit to tern), the wildcard-eventfd test counts none (KVM takes all 17),
 * and the datamatch-eventfd test counts none (KVM takes the 16; the other
 * byte reaches tern, which counts only the data byte).
 * Prints "pcitestdev: NAME offset=N data=0xNN count=N" per test, then
 *   PCITESTDEV-MEM=C0,C1,C2
 *   PCITESTDEV-IO=C0,C1,C2     (or "none": no /dev/port)
 * Exit status: 0 when it ran, 2 when the function or its BARs are missing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WRITES 16

/* One BAR's accessors: the mapping, or /dev/port at a base port. */
struct bar {
	volatile uint8_t *mem;
	int port_fd;
	unsigned long port;
};

static uint8_t rd8(const struct bar *b, unsigned int off)
{
	uint8_t v = 0;

	if (b->mem)
		return b->mem[off];
	if (pread(b->port_fd, &v, 1, (off_t)(b->port + off)) != 1)
		perror("pcitestdev: /dev/port read");
	return v;
}

static void wr8(const struct bar *b, unsigned int off, uint8_t v)
{
	if (b->mem)
		b->mem[off] = v;
	else if (pwrite(b->port_fd, &v, 1, (off_t)(b->port + off)) != 1)
		perror("pcitestdev: /dev/port write");
}

/* A little-endian u32 of the header, a byte at a time as pci-test reads. */
static uint32_t rd32(const struct bar *b, unsigned int off)
{
	uint32_t v = 0;

	for (unsigned int i = 0; i < 4; i++)
		v |= (uint32_t)rd8(b, off + i) << (8 * i);
	return v;
}

static uint32_t run_test(const struct bar *b, unsigned int nr)
{
	char name[48];
	uint32_t offset, count;
	uint8_t data;
	unsigned int i;

	wr8(b, 0, (uint8_t)nr);
	offset = rd32(b, 4);
	data = rd8(b, 8);
	for (i = 0; i + 1 < sizeof(name); i++) {
		name[i] = (char)rd8(b, 16 + i);
		if (!name[i])
			break;
	}
	name[i] = 0;
	for (i = 0; i < WRITES; i++)
		wr8(b, offset, data);
	wr8(b, offset, (uint8_t)(data ^ 0x55));
	count = rd32(b, 12);
	printf("pcitestdev: %s offset=%u data=0x%02x count=%u\n", name, offset, data, count);
	return count;
}

static int find_device(char *dir, size_t size)
{
	DIR *d = opendir("/sys/bus/pci/devices");
	struct dirent *e;
	int found = 0;

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		char path[300], ids[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vendor", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(ids, sizeof(ids), f) && !strncmp(ids, "0x1b36", 6)) {
			snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/device", e->d_name);
			FILE *g = fopen(path, "r");

			if (g && fgets(ids, sizeof(ids), g) && !strncmp(ids, "0x0005", 6)) {
				snprintf(dir, size, "/sys/bus/pci/devices/%s", e->d_name);
				found = 1;
			}
			if (g)
				fclose(g);
		}
		fclose(f);
	}
	closedir(d);
	return found;
}

/* Line @bar of DIR/resource: "start end flags". */
static int bar_start(const char *dir, int bar, unsigned long *start)
{
	char path[320], line[128];
	FILE *f;
	int ok = 0;

	snprintf(path, sizeof(path), "%s/resource", dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	for (int i = 0; i <= bar && fgets(line, sizeof(line), f); i++)
		if (i == bar)
			ok = sscanf(line, "%lx", start) == 1 && *start;
	fclose(f);
	return ok;
}

int main(void)
{
	char dir[300], path[320];
	struct bar mem = { .port_fd = -1 }, io = { 0 };
	uint32_t c[3];
	int fd;

	if (!find_device(dir, sizeof(dir))) {
		fprintf(stderr, "pcitestdev: no 1b36:0005 function in /sys/bus/pci/devices\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/enable", dir);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, "1", 1) != 1) {
		perror("pcitestdev: enabling the function");
		return 2;
	}
	close(fd);

	snprintf(path, sizeof(path), "%s/resource0", dir);
	fd = open(path, O_RDWR | O_SYNC);
	if (fd < 0) {
		perror("pcitestdev: resource0");
		return 2;
	}
	mem.mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem.mem == MAP_FAILED) {
		perror("pcitestdev: mapping resource0");
		return 2;
	}
	for (int t = 0; t < 3; t++)
		c[t] = run_test(&mem, (unsigned int)t);
	printf("PCITESTDEV-MEM=%u,%u,%u\n", c[0], c[1], c[2]);

	io.port_fd = open("/dev/port", O_RDWR);
	if (io.port_fd < 0) {
		printf("pcitestdev: /dev/port: %s\nPCITESTDEV-IO=none\n", strerror(errno));
		return 0;
	}
	if (!bar_start(dir, 1, &io.port)) {
		fprintf(stderr, "pcitestdev: BAR 1 (I/O) has no ports\n");
		return 2;
	}
	for (int t = 0; t < 3; t++)
		c[t] = run_test(&io, (unsigned int)t);
	printf("PCITESTDEV-IO=%u,%u,%u\n", c[0], c[1], c[2]);
	return 0;
}
