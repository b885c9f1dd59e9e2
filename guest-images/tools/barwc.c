/*
 * barwc: reads and writes a virtio-pci device's common configuration
 * (VIRTIO 1.x, 4.1.4.3) through a BAR mapping from sysfs, for the lab's
 * vfio-wc scenario: mapped from resourceN_wc, the guest's mapping is
 * write-combining (Normal-NC on arm64), the path a passed-through BAR's
 * memslot must serve correctly (KVM lets the guest's attributes decide).
 *
 *   barwc FILE [OFFSET]    FILE: /sys/bus/pci/devices/D/resourceN[_wc];
 *                          OFFSET: where the common configuration starts
 *                          in that BAR (default 0)
 *
 * With the device's driver unbound, it selects feature word 1 and reads it
 * (VIRTIO_F_VERSION_1 is bit 0 there: a modern device must offer it), then
 * word 0 again; reads num_queues; selects queue 0 and reads its size, writes
 * a queue size of 1 less and reads it back (queue_size is read-write before
 * the driver is ready), then restores it. Prints one line:
 *   barwc: FILE feature1=0x... numq=N qsize=N qsize_rw=ok|bad
 * Exit status: 0 all as the spec says, 1 a register read back wrong, 2 usage
 * or mapping error.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define DEVICE_FEATURE_SELECT	0x00
#define DEVICE_FEATURE		0x04
#define NUM_QUEUES		0x12
#define QUEUE_SELECT		0x16
#define QUEUE_SIZE		0x18

static volatile uint8_t *cfg;

/* Normal-NC lets the CPU merge and reorder: a full barrier between a
 * register write and the read that depends on it. */
static void w32(unsigned int off, uint32_t v)
{
	*(volatile uint32_t *)(cfg + off) = v;
	__sync_synchronize();
}

static void w16(unsigned int off, uint16_t v)
{
	*(volatile uint16_t *)(cfg + off) = v;
	__sync_synchronize();
}

static uint32_t r32(unsigned int off)
{
	return *(volatile uint32_t *)(cfg + off);
}

static uint16_t r16(unsigned int off)
{
	return *(volatile uint16_t *)(cfg + off);
}

int main(int argc, char **argv)
{
	unsigned long off = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	uint32_t feature1;
	uint16_t numq, qsize, back;
	void *map;
	int fd, ok;

	if (argc < 2 || off % 4096) {
		fprintf(stderr, "usage: barwc FILE [OFFSET, page-aligned]\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR | O_SYNC);
	if (fd < 0) {
		perror(argv[1]);
		return 2;
	}
	map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (map == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	cfg = map;
	w32(DEVICE_FEATURE_SELECT, 1);
	feature1 = r32(DEVICE_FEATURE);
	w32(DEVICE_FEATURE_SELECT, 0);
	numq = r16(NUM_QUEUES);
	w16(QUEUE_SELECT, 0);
	qsize = r16(QUEUE_SIZE);
	w16(QUEUE_SIZE, (uint16_t)(qsize / 2));
	back = r16(QUEUE_SIZE);
	w16(QUEUE_SIZE, qsize);
	ok = back == qsize / 2 && r16(QUEUE_SIZE) == qsize;
	printf("barwc: %s feature1=%#x numq=%u qsize=%u qsize_rw=%s\n", argv[1], feature1, numq,
	       qsize, ok ? "ok" : "bad");
	return (feature1 & 1) && numq > 0 && qsize > 0 && ok ? 0 : 1;
}
