// SPDX-License-Identifier: GPL-2.0-only
/*
 * Every byte a device model writes into guest RAM is in the written log
 * (vmm/written_log.h), which a migration takes to resend pages KVM's dirty
 * log never sees. A fake guest RAM is copied before each request and
 * compared after it; every byte that changed must be marked. The log is
 * kept at byte granularity (page_shift 0), so a mark for a neighbour on the
 * same 4 KiB page cannot hide a missing one.
 *
 * Covered: virtio-blk read (short ones included, completed at a quiesce
 * as in a migration's final stage), write, flush, GET_ID, an unsupported
 * type, a request past the end, a read cut short by the end of the file;
 * virtio-net rx with mergeable buffers and with a zero-length one (and a
 * frame dropped when a buffer's page is lost under the copy);
 * virtio-console rx; virtio-rng; and for all of them the used ring, its
 * index and avail_event (EVENT_IDX is negotiated).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_net.h>

#include "devices/virtio_devices.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "vmm/memfault.h"
#include "vmm/written_log.h"
#include "virtio_driver.h"

#define DISK_SECTORS	64		/* 32 KiB; sector n holds the byte 0x40 + n */
#define FILL		0xee		/* what buffers hold before the device writes */

struct fixture {
	struct drv d;
	struct written_log wl;
	uint8_t *before;		/* RAM as it was before the request */
	struct iothread *io;
	struct virtio_device *vdev;
	char path[64];
	int fd;				/* virtio-blk: the test's view of the disk */
	int peer;			/* virtio-net: the host network's end */
	int pty;			/* virtio-console: the pty's slave side */
};

static struct fixture f;

static uint8_t sector_byte(uint64_t s)
{
	return (uint8_t)(0x40 + s);
}

static int fixture_init(void)
{
	memset(&f, 0, sizeof(f));
	f.fd = f.peer = f.pty = -1;
	if (drv_ram_init(&f.d) < 0)
		return -1;
	if (written_log_init(&f.wl, DRV_RAM_SIZE, 0) < 0)
		return -1;
	written_log_set(&f.wl, true);
	f.d.mem.written = &f.wl;
	f.before = malloc(DRV_RAM_SIZE);
	f.io = iothread_create();
	return f.before && f.io && iothread_start(f.io) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	iothread_stop(f.io);
	if (f.vdev)
		f.vdev->ops->destroy(f.vdev);
	iothread_destroy(f.io);
	if (f.fd >= 0) {
		close(f.fd);
		unlink(f.path);
	}
	if (f.peer >= 0)
		close(f.peer);
	written_log_free(&f.wl);
	free(f.before);
	free(f.d.mem.hva);
	return 0;
}

/* After the driver's own writes (chains queued), before the device acts. */
static void snap(void)
{
	uint64_t *all = calloc(DRV_RAM_SIZE / 64, sizeof(*all));

	/* Marks of earlier requests are dropped: only this one's count. */
	assert_non_null(all);
	written_log_take(&f.wl, all);
	free(all);
	memcpy(f.before, f.d.mem.hva, DRV_RAM_SIZE);
}

/*
 * With the device quiet (I/O thread paused), every byte of RAM that differs
 * from the copy must be marked. @min: at least that many bytes must have
 * changed, so the check cannot pass on a device that wrote nothing.
 */
static void assert_all_logged(const char *what, unsigned int min)
{
	uint64_t *marks = calloc(DRV_RAM_SIZE / 64, sizeof(*marks));
	uint64_t changed = 0, missed = 0, first = 0;

	assert_non_null(marks);
	assert_int_equal(iothread_pause(f.io), 0);
	written_log_take(&f.wl, marks);
	for (uint64_t i = 0; i < DRV_RAM_SIZE; i++) {
		if (f.before[i] == f.d.mem.hva[i])
			continue;
		changed++;
		if (!(marks[i / 64] >> (i % 64) & 1) && !missed++)
			first = i;
	}
	iothread_resume(f.io);
	free(marks);
	if (missed)
		fail_msg("%s: %llu bytes written into guest RAM, %llu of them not in the written log (first at gpa 0x%llx)",
			 what, (unsigned long long)changed, (unsigned long long)missed,
			 (unsigned long long)(DRV_RAM_GPA + first));
	if (changed < min)
		fail_msg("%s: only %llu bytes changed, expected at least %u: the request did not run",
			 what, (unsigned long long)changed, min);
}

/* ---- virtio-blk ----------------------------------------------------------- */

static int write_disk(uint64_t from, uint64_t to)
{
	uint8_t buf[512];

	for (uint64_t s = from; s < to; s++) {
		memset(buf, sector_byte(s), sizeof(buf));
		if (pwrite(f.fd, buf, sizeof(buf), (off_t)s * 512) != sizeof(buf))
			return -1;
	}
	return 0;
}

static int setup_blk(void **state)
{
	struct disk_config cfg = { .path = f.path };

	if (fixture_init() < 0)
		return -1;
	snprintf(f.path, sizeof(f.path), "/tmp/tern-writes-XXXXXX");
	cfg.path = f.path;
	f.fd = mkstemp(f.path);
	if (f.fd < 0 || write_disk(0, DISK_SECTORS) < 0)
		return -1;
	f.vdev = virtio_blk_create(&cfg, &f.d.mem, f.io);
	return f.vdev ? drv_attach(&f.d, f.vdev, 1, 0) : -1;
}

/* A header for @type at @sector, as the chain's first (readable) segment. */
static struct drv_seg blk_header(uint32_t type, uint64_t sector)
{
	uint64_t gpa = drv_alloc(&f.d, sizeof(struct virtio_blk_outhdr), 0);
	struct virtio_blk_outhdr *h = drv_hva(&f.d, gpa);

	h->type = type;
	h->sector = sector;
	return (struct drv_seg){ gpa, sizeof(*h), false };
}

static struct drv_seg in_seg(uint32_t len)
{
	return (struct drv_seg){ drv_alloc(&f.d, len, FILL), len, true };
}

/* Queues @segs, kicks, waits for the used element; its used length. */
static uint32_t blk_run(const struct drv_seg *segs, unsigned int n)
{
	uint16_t head, id;
	uint32_t len;

	head = drv_add(&f.d, 0, segs, n);
	snap();
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(id, head);
	return len;
}

static uint8_t byte_at(const struct drv_seg *s, uint32_t off)
{
	return ((uint8_t *)drv_hva(&f.d, s->gpa))[off];
}

/* A read over three data segments, the status in a descriptor of its own. */
static void test_blk_read(void **state)
{
	struct drv_seg s[5] = { blk_header(VIRTIO_BLK_T_IN, 4), in_seg(512), in_seg(1024),
				in_seg(512), in_seg(1) };

	assert_int_equal(blk_run(s, 5), 2048 + 1);
	assert_int_equal(byte_at(&s[4], 0), VIRTIO_BLK_S_OK);
	assert_int_equal(byte_at(&s[3], 511), sector_byte(7));
	assert_all_logged("virtio-blk read", 2049);
}

/* The status byte at the end of the last data descriptor (allowed: 5.2.6). */
static void test_blk_read_shared_status(void **state)
{
	struct drv_seg s[3] = { blk_header(VIRTIO_BLK_T_IN, 1), in_seg(512), in_seg(513) };

	assert_int_equal(blk_run(s, 3), 1024 + 1);
	assert_int_equal(byte_at(&s[2], 512), VIRTIO_BLK_S_OK);
	assert_all_logged("virtio-blk read, status sharing a descriptor", 1025);
}

static void test_blk_write_flush(void **state)
{
	uint64_t data = drv_alloc(&f.d, 1024, 0x5a);
	struct drv_seg w[3] = { blk_header(VIRTIO_BLK_T_OUT, 2), { data, 1024, false },
				in_seg(1) };
	struct drv_seg fl[2] = { blk_header(VIRTIO_BLK_T_FLUSH, 0), in_seg(1) };

	assert_int_equal(blk_run(w, 3), 1);
	assert_int_equal(byte_at(&w[2], 0), VIRTIO_BLK_S_OK);
	assert_all_logged("virtio-blk write", 1);
	assert_int_equal(blk_run(fl, 2), 1);
	assert_int_equal(byte_at(&fl[1], 0), VIRTIO_BLK_S_OK);
	assert_all_logged("virtio-blk flush", 1);
}

/* A GET_ID buffer larger than the id: the status byte is not next to it. */
static void test_blk_get_id(void **state)
{
	struct drv_seg s[3] = { blk_header(VIRTIO_BLK_T_GET_ID, 0), in_seg(64), in_seg(1) };
	struct drv_seg big[2] = { blk_header(VIRTIO_BLK_T_GET_ID, 0), in_seg(100) };

	assert_int_equal(blk_run(s, 3), VIRTIO_BLK_ID_BYTES + 1);
	assert_int_equal(byte_at(&s[2], 0), VIRTIO_BLK_S_OK);
	assert_memory_equal(drv_hva(&f.d, s[1].gpa), "tern-", 5);
	assert_all_logged("virtio-blk GET_ID", 6);
	/* Id and status in one descriptor, 79 bytes apart. */
	assert_int_equal(blk_run(big, 2), VIRTIO_BLK_ID_BYTES + 1);
	assert_int_equal(byte_at(&big[1], 99), VIRTIO_BLK_S_OK);
	assert_all_logged("virtio-blk GET_ID, one descriptor", 6);
}

/* Failures write only the status byte (after the data segments). */
static void test_blk_errors(void **state)
{
	struct drv_seg unsupp[3] = { blk_header(0x7777, 0), in_seg(512), in_seg(1) };
	struct drv_seg past[3] = { blk_header(VIRTIO_BLK_T_IN, DISK_SECTORS), in_seg(512),
				   in_seg(1) };

	assert_int_equal(blk_run(unsupp, 3), 1);
	assert_int_equal(byte_at(&unsupp[2], 0), VIRTIO_BLK_S_UNSUPP);
	assert_all_logged("virtio-blk unsupported request", 1);
	assert_int_equal(blk_run(past, 3), 1);
	assert_int_equal(byte_at(&past[2], 0), VIRTIO_BLK_S_IOERR);
	assert_all_logged("virtio-blk read past the end", 1);
}

/*
 * The file shrank under the disk: the read gets 1536 bytes (the first
 * segment and a third of the second), then end of file, and fails. What
 * it put into the buffers is guest RAM all the same.
 */
static void test_blk_read_cut_short(void **state)
{
	struct drv_seg s[4] = { blk_header(VIRTIO_BLK_T_IN, 0), in_seg(1024), in_seg(1536),
				in_seg(1) };

	assert_int_equal(ftruncate(f.fd, 1536), 0);
	assert_int_equal(blk_run(s, 4), 1);
	assert_int_equal(byte_at(&s[3], 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(byte_at(&s[2], 511), sector_byte(2));
	assert_all_logged("virtio-blk read cut short by the end of the file", 1537);
}

/*
 * A short read that goes on: with the I/O thread paused (as in a
 * migration's final stage) the first transfer ends at the file's end;
 * the file grows back; the quiesce that pausing the VM does sends the rest
 * and completes the request on this thread.
 */
static void test_blk_short_read_completed_at_quiesce(void **state)
{
	struct drv_seg s[4] = { blk_header(VIRTIO_BLK_T_IN, 0), in_seg(1024), in_seg(3072),
				in_seg(1) };
	uint16_t head, id;
	uint32_t len;

	assert_int_equal(ftruncate(f.fd, 1536), 0);
	assert_int_equal(iothread_pause(f.io), 0);
	head = drv_add(&f.d, 0, s, 4);
	snap();
	drv_kick(&f.d, 0);
	assert_int_equal(write_disk(3, DISK_SECTORS), 0);
	assert_int_equal(virtio_device_quiesce(f.vdev), 0);
	iothread_resume(f.io);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(id, head);
	assert_int_equal(len, 4096 + 1);
	assert_int_equal(byte_at(&s[3], 0), VIRTIO_BLK_S_OK);
	assert_int_equal(byte_at(&s[2], 0), sector_byte(2));
	assert_int_equal(byte_at(&s[2], 3071), sector_byte(7));
	assert_all_logged("virtio-blk short read completed at a quiesce", 4097);
}

/* ---- virtio-net ----------------------------------------------------------- */

static int setup_net(void **state)
{
	struct net_config cfg = { .mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 } };
	int sv[2];

	if (fixture_init() < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		return -1;
	f.peer = sv[1];
	f.vdev = virtio_net_create_fd(sv[0], &cfg, &f.d.mem, f.io);
	return f.vdev ? drv_attach(&f.d, f.vdev, 2, 0) : -1;
}

static void send_frame(uint32_t len)
{
	uint8_t buf[512] = { 0 };

	for (uint32_t i = 12; i < len; i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(send(f.peer, buf, len, 0), len);
}

/* One frame over three mergeable buffers (num_buffers in the first), after
 * a zero-length chain the device gives back unused. */
static void test_net_rx(void **state)
{
	uint64_t out = drv_alloc(&f.d, 16, 0);
	struct drv_seg none = { out, 16, false };
	struct drv_seg b[3] = { in_seg(64), in_seg(64), in_seg(64) };
	uint16_t id;
	uint32_t len;

	drv_add(&f.d, 0, &none, 1);
	for (unsigned int i = 0; i < 3; i++)
		drv_add(&f.d, 0, &b[i], 1);
	snap();
	drv_kick(&f.d, 0);
	send_frame(12 + 150);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(len, 12 + 150 - 128);
	assert_int_equal(((struct virtio_net_hdr_mrg_rxbuf *)drv_hva(&f.d, b[0].gpa))->num_buffers,
			 3);
	assert_all_logged("virtio-net rx, mergeable buffers", 150);
}

/*
 * A receive buffer's page is lost while the frame is copied into it (issue
 * 18). In tern the SIGBUS handler maps a zeroed page over the poisoned one
 * and notes the loss on the thread (memfault_thread_note_loss); here the
 * page is made inaccessible and a SIGSEGV handler on the I/O thread does
 * the same. The frame must be dropped, each buffer back with length 0,
 * and the next frame delivered as usual.
 */
static uint8_t *lost_page;

static void replace_lost_page(int sig, siginfo_t *si, void *uctx)
{
	uint8_t *addr = si->si_addr;

	(void)uctx;
	if (!lost_page || addr < lost_page || addr >= lost_page + 4096) {
		signal(sig, SIG_DFL);
		return;		/* a real crash: the access faults again, by default */
	}
	mprotect(lost_page, 4096, PROT_READ | PROT_WRITE);
	memset(lost_page, 0, 4096);
	lost_page = NULL;
	memfault_thread_note_loss();
}

static void test_net_rx_lost_page(void **state)
{
	struct sigaction sa = { .sa_sigaction = replace_lost_page, .sa_flags = SA_SIGINFO }, old;
	struct drv_seg b[3];
	uint16_t id;
	uint32_t len;

	b[0] = in_seg(64);
	/* The second buffer alone on its page, away from the rings. */
	drv_alloc(&f.d, (uint32_t)(-f.d.brk & 4095), 0);
	b[1] = in_seg(64);
	b[2] = in_seg(64);
	for (unsigned int i = 0; i < 3; i++)
		drv_add(&f.d, 0, &b[i], 1);
	assert_int_equal(sigaction(SIGSEGV, &sa, &old), 0);
	lost_page = drv_hva(&f.d, b[1].gpa);
	assert_int_equal(mprotect(lost_page, 4096, PROT_NONE), 0);
	drv_kick(&f.d, 0);
	send_frame(12 + 150);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
		assert_int_equal(len, 0);
	}
	assert_null(lost_page);		/* the device did write there */

	/* The queue works on: the next frame arrives whole. */
	b[0] = in_seg(256);
	drv_add(&f.d, 0, &b[0], 1);
	drv_kick(&f.d, 0);
	send_frame(12 + 100);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(len, 12 + 100);
	sigaction(SIGSEGV, &old, NULL);
}

/* ---- virtio-console and virtio-rng ------------------------------------------ */

/* Where fd @name of /proc/self/fd (@d) leads, in @target; false if nowhere. */
static bool fd_target(DIR *d, const char *name, char *target, size_t size)
{
	ssize_t n = readlinkat(dirfd(d), name, target, size - 1);

	if (n <= 0)
		return false;
	target[n] = '\0';
	return true;
}

/* The pseudo-terminals this process has open, space-separated, in @out;
 * with @before: the fd of the one not in it (the console's slave), or -1. */
static int scan_ptys(char *out, size_t size, const char *before)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	char target[64];
	int found = -1;

	out[0] = '\0';
	while (d && (e = readdir(d))) {
		if (!fd_target(d, e->d_name, target, sizeof(target)) ||
		    strncmp(target, "/dev/pts/", 9))
			continue;
		if (before && !strstr(before, target))
			found = atoi(e->d_name);
		if (strlen(out) + strlen(target) + 2 < size) {
			strcat(out, target);
			strcat(out, " ");
		}
	}
	if (d)
		closedir(d);
	return found;
}

static int setup_console(void **state)
{
	char before[4096], after[4096];

	if (fixture_init() < 0)
		return -1;
	scan_ptys(before, sizeof(before), NULL);
	f.vdev = virtio_console_create_pty(&f.d.mem, f.io);
	if (!f.vdev)
		return -1;
	f.pty = scan_ptys(after, sizeof(after), before);
	return f.pty >= 0 ? drv_attach(&f.d, f.vdev, 2, 0) : -1;
}

static void test_console_rx(void **state)
{
	struct drv_seg b = in_seg(64);
	uint16_t id;
	uint32_t len;

	drv_add(&f.d, 0, &b, 1);
	snap();
	drv_kick(&f.d, 0);
	assert_int_equal(write(f.pty, "typed on the pty", 16), 16);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(len, 16);
	assert_memory_equal(drv_hva(&f.d, b.gpa), "typed on the pty", 16);
	assert_all_logged("virtio-console rx", 16);
}

static int setup_rng(void **state)
{
	if (fixture_init() < 0)
		return -1;
	f.vdev = virtio_rng_create(&f.d.mem, f.io);
	return f.vdev ? drv_attach(&f.d, f.vdev, 1, 0) : -1;
}

static void test_rng(void **state)
{
	struct drv_seg b[2] = { in_seg(100), in_seg(300) };
	uint16_t id;
	uint32_t len;

	drv_add(&f.d, 0, b, 2);
	snap();
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(len, 400);
	/* 400 random bytes: a few may equal FILL by chance, not hundreds. */
	assert_all_logged("virtio-rng", 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blk_read, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_read_shared_status, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_write_flush, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_get_id, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_errors, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_read_cut_short, setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_short_read_completed_at_quiesce,
						setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_net_rx, setup_net, teardown),
		cmocka_unit_test_setup_teardown(test_net_rx_lost_page, setup_net, teardown),
		cmocka_unit_test_setup_teardown(test_console_rx, setup_console, teardown),
		cmocka_unit_test_setup_teardown(test_rng, setup_rng, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
