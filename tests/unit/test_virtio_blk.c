// SPDX-License-Identifier: GPL-2.0-only
/*
 * virtio-blk driven as a guest driver would, through rings in a fake guest
 * RAM, against a temporary file, with a real I/O thread and io_uring: data
 * round trips, flush, GET_ID, discard and write zeroes, a read-only disk
 * refusing writes, and malformed requests that must fail cleanly.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <liburing.h>
#include <linux/virtio_blk.h>

#include "devices/virtio_devices.h"
#include "vmm/config.h"
#include "vmm/iothread.h"
#include "virtio_driver.h"

#define DISK_SECTORS	2048		/* 1 MiB */

struct fixture {
	struct drv d;
	struct iothread *io;
	struct virtio_device *vdev;
	char path[64];
	int fd;				/* the test's own view of the file */
};

static struct fixture f;

static int make_disk(const char *dir)
{
	uint8_t buf[512];

	snprintf(f.path, sizeof(f.path), "%s/tern-blk-XXXXXX", dir);
	f.fd = mkstemp(f.path);
	if (f.fd < 0 || ftruncate(f.fd, DISK_SECTORS * 512ULL) < 0)
		return -1;
	/* Sector n holds the byte n & 0xff. */
	for (unsigned int s = 0; s < DISK_SECTORS; s++) {
		memset(buf, s & 0xff, sizeof(buf));
		if (pwrite(f.fd, buf, sizeof(buf), s * 512ULL) != sizeof(buf))
			return -1;
	}
	return 0;
}

static int start(bool readonly)
{
	struct disk_config cfg = { .path = f.path, .readonly = readonly };

	f.io = iothread_create();
	if (!f.io || iothread_start(f.io) < 0)
		return -1;
	f.vdev = virtio_blk_create(&cfg, &f.d.mem, f.io);
	if (!f.vdev)
		return -1;
	return drv_attach(&f.d, f.vdev, 1, 0);
}

static int setup_common(bool readonly, const char *dir)
{
	memset(&f, 0, sizeof(f));
	if (drv_ram_init(&f.d) < 0 || make_disk(dir) < 0)
		return -1;
	return start(readonly);
}

static int setup(void **state)
{
	return setup_common(false, "/tmp");
}

/* tmpfs has holes but no FALLOC_FL_ZERO_RANGE: write zeroes falls back. */
static int setup_shm(void **state)
{
	if (access("/dev/shm", W_OK) < 0)
		return setup_common(false, "/tmp");
	return setup_common(false, "/dev/shm");
}

static int setup_ro(void **state)
{
	return setup_common(true, "/tmp");
}

static int teardown(void **state)
{
	iothread_stop(f.io);
	if (f.vdev)
		f.vdev->ops->destroy(f.vdev);
	iothread_destroy(f.io);
	close(f.fd);
	unlink(f.path);
	free(f.d.mem.hva);
	return 0;
}

/* One request: header, optional data (out or in), status. Returns the
 * status byte; *used_len gets the used length. */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t data, uint32_t len,
		       bool data_in, uint32_t *used_len)
{
	uint64_t hdr = drv_alloc(&f.d, sizeof(struct virtio_blk_outhdr), 0);
	uint64_t st = drv_alloc(&f.d, 1, 0xee);
	struct virtio_blk_outhdr *h = drv_hva(&f.d, hdr);
	struct drv_seg segs[3];
	unsigned int n = 0;
	uint16_t head, id;
	uint32_t ulen;

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	segs[n++] = (struct drv_seg){ hdr, sizeof(*h), false };
	if (len)
		segs[n++] = (struct drv_seg){ data, len, data_in };
	segs[n++] = (struct drv_seg){ st, 1, true };
	head = drv_add(&f.d, 0, segs, n);
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &ulen), 0);
	assert_int_equal(id, head);
	if (used_len)
		*used_len = ulen;
	return *(uint8_t *)drv_hva(&f.d, st);
}

static void check_file(uint64_t off, int byte, size_t len)
{
	uint8_t *buf = malloc(len);

	assert_int_equal(pread(f.fd, buf, len, (off_t)off), len);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != (uint8_t)byte)
			fail_msg("file byte %zu after %#llx is %#x, not %#x", i,
				 (unsigned long long)off, buf[i], byte);
	free(buf);
}

static void test_features_and_config(void **state)
{
	struct virtio_blk_config c;

	assert_true(f.vdev->host_features & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_true(f.vdev->host_features & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(f.vdev->host_features & (1ULL << VIRTIO_BLK_F_RO));
	assert_int_equal(f.vdev->ops->device_id, 2);
	f.vdev->ops->config_read(f.vdev, 0, &c, offsetof(struct virtio_blk_config, unused1));
	assert_int_equal(c.capacity, DISK_SECTORS);
	assert_int_equal(c.blk_size, 512);
	assert_int_equal(c.seg_max, 254);
	assert_int_equal(c.max_discard_seg, 1);
	assert_int_equal(c.max_write_zeroes_seg, 1);
	assert_true(c.max_discard_sectors > 0);
}

static void test_read(void **state)
{
	uint64_t buf = drv_alloc(&f.d, 4096, 0);
	uint32_t ulen;
	uint8_t *p = drv_hva(&f.d, buf);

	assert_int_equal(request(VIRTIO_BLK_T_IN, 16, buf, 4096, true, &ulen), VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, 4096 + 1);
	for (unsigned int i = 0; i < 4096; i++)
		assert_int_equal(p[i], 16 + i / 512);
	assert_int_equal(f.d.needs_reset, 0);
}

static void test_write_read_round_trip(void **state)
{
	uint64_t wbuf = drv_alloc(&f.d, 8192, 0xa5);
	uint64_t rbuf = drv_alloc(&f.d, 8192, 0);

	assert_int_equal(request(VIRTIO_BLK_T_OUT, 100, wbuf, 8192, false, NULL), VIRTIO_BLK_S_OK);
	check_file(100 * 512, 0xa5, 8192);
	check_file(99 * 512, 99, 512);			/* neighbours untouched */
	check_file(116 * 512, 116, 512);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 100, rbuf, 8192, true, NULL), VIRTIO_BLK_S_OK);
	assert_memory_equal(drv_hva(&f.d, rbuf), drv_hva(&f.d, wbuf), 8192);
}

/* Header and data sharing a readable descriptor, status sharing the last
 * writable one: any layout is valid. */
static void test_shared_descriptors(void **state)
{
	uint64_t out = drv_alloc(&f.d, 16 + 512, 0x3c);
	uint64_t in = drv_alloc(&f.d, 512 + 1, 0);
	struct virtio_blk_outhdr *h = drv_hva(&f.d, out);
	struct drv_seg w[1] = { { out, 16 + 512, false } };
	struct drv_seg w2[2];
	uint16_t id;
	uint32_t len;
	uint64_t st = drv_alloc(&f.d, 1, 0xee);

	h->type = VIRTIO_BLK_T_OUT;
	h->ioprio = 0;
	h->sector = 7;
	w2[0] = w[0];
	w2[1] = (struct drv_seg){ st, 1, true };
	drv_add(&f.d, 0, w2, 2);
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(*(uint8_t *)drv_hva(&f.d, st), VIRTIO_BLK_S_OK);
	check_file(7 * 512, 0x3c, 512);

	/* Read with the status byte at the end of the data descriptor. */
	h = drv_hva(&f.d, drv_alloc(&f.d, 16, 0));
	h->type = VIRTIO_BLK_T_IN;
	h->sector = 7;
	w2[0] = (struct drv_seg){ (uint64_t)((uint8_t *)h - f.d.mem.hva) + DRV_RAM_GPA, 16, false };
	w2[1] = (struct drv_seg){ in, 512 + 1, true };
	*((uint8_t *)drv_hva(&f.d, in) + 512) = 0xee;
	drv_add(&f.d, 0, w2, 2);
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(len, 513);
	assert_int_equal(*((uint8_t *)drv_hva(&f.d, in) + 512), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)drv_hva(&f.d, in), 0x3c);
}

static void test_flush(void **state)
{
	uint64_t wbuf = drv_alloc(&f.d, 512, 0x5a);

	assert_int_equal(request(VIRTIO_BLK_T_OUT, 3, wbuf, 512, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	check_file(3 * 512, 0x5a, 512);
}

static void test_get_id(void **state)
{
	uint64_t buf = drv_alloc(&f.d, VIRTIO_BLK_ID_BYTES, 0xff);
	char want[VIRTIO_BLK_ID_BYTES + 1] = "";
	uint32_t ulen;

	snprintf(want, sizeof(want), "tern-%s", strrchr(f.path, '/') + 1);
	assert_int_equal(request(VIRTIO_BLK_T_GET_ID, 0, buf, VIRTIO_BLK_ID_BYTES, true, &ulen),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(ulen, VIRTIO_BLK_ID_BYTES + 1);
	assert_memory_equal(drv_hva(&f.d, buf), want, strlen(want));
}

static uint8_t dwz(uint32_t type, uint64_t sector, uint32_t n, uint32_t flags, unsigned int segs)
{
	uint64_t gpa = drv_alloc(&f.d, segs * sizeof(struct virtio_blk_discard_write_zeroes), 0);
	struct virtio_blk_discard_write_zeroes *s = drv_hva(&f.d, gpa);

	for (unsigned int i = 0; i < segs; i++)
		s[i] = (struct virtio_blk_discard_write_zeroes){ sector, n, flags };
	return request(type, 0, gpa, segs * sizeof(*s), false, NULL);
}

static void test_discard_and_write_zeroes(void **state)
{
	uint64_t rbuf = drv_alloc(&f.d, 4096, 0xff);

	assert_int_equal(dwz(VIRTIO_BLK_T_DISCARD, 64, 8, 0, 1), VIRTIO_BLK_S_OK);
	check_file(64 * 512, 0, 4096);
	check_file(72 * 512, 72, 512);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 64, rbuf, 4096, true, NULL), VIRTIO_BLK_S_OK);
	for (unsigned int i = 0; i < 4096; i++)
		assert_int_equal(((uint8_t *)drv_hva(&f.d, rbuf))[i], 0);

	assert_int_equal(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 200, 3, 0, 1), VIRTIO_BLK_S_OK);
	check_file(200 * 512, 0, 3 * 512);
	check_file(203 * 512, 203 & 0xff, 512);
	assert_int_equal(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 300, 1,
			     VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP, 1), VIRTIO_BLK_S_OK);
	check_file(300 * 512, 0, 512);

	/* Two segments (max 1), unknown flags, out of range, bad length. */
	assert_int_equal(dwz(VIRTIO_BLK_T_DISCARD, 10, 1, 0, 2), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(dwz(VIRTIO_BLK_T_DISCARD, 10, 1, 1, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 10, 1, 2, 1), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(dwz(VIRTIO_BLK_T_DISCARD, DISK_SECTORS - 1, 2, 0, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(dwz(VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX, 1, 0, 1), VIRTIO_BLK_S_IOERR);
	check_file(10 * 512, 10, 512);
	assert_int_equal(request(VIRTIO_BLK_T_DISCARD, 0, drv_alloc(&f.d, 8, 0), 8, false, NULL),
			 VIRTIO_BLK_S_IOERR);
}

static void test_out_of_range(void **state)
{
	uint64_t buf = drv_alloc(&f.d, 1024, 0);

	assert_int_equal(request(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, buf, 1024, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_IN, DISK_SECTORS, buf, 512, true, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, UINT64_MAX, buf, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, UINT64_MAX >> 9, buf, 512, false, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* The last sector is fine. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, DISK_SECTORS - 1, buf, 512, true, NULL),
			 VIRTIO_BLK_S_OK);
	/* Not a multiple of 512. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, 0, buf, 100, true, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 0, buf, 513, false, NULL), VIRTIO_BLK_S_IOERR);
	check_file(0, 0, 512);
	assert_int_equal(f.d.needs_reset, 0);
}

static void test_malformed(void **state)
{
	uint64_t hdr = drv_alloc(&f.d, 16, 0);
	uint64_t st = drv_alloc(&f.d, 1, 0xee);
	uint64_t buf = drv_alloc(&f.d, 512, 0x11);
	struct drv_seg segs[3];
	uint16_t id, head;
	uint32_t len;

	/* Header too short. */
	segs[0] = (struct drv_seg){ hdr, 8, false };
	segs[1] = (struct drv_seg){ st, 1, true };
	head = drv_add(&f.d, 0, segs, 2);
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(id, head);
	assert_int_equal(*(uint8_t *)drv_hva(&f.d, st), VIRTIO_BLK_S_IOERR);

	/* No writable byte for the status: given back, nothing written. */
	((struct virtio_blk_outhdr *)drv_hva(&f.d, hdr))->type = VIRTIO_BLK_T_OUT;
	segs[0] = (struct drv_seg){ hdr, 16, false };
	segs[1] = (struct drv_seg){ buf, 512, false };
	head = drv_add(&f.d, 0, segs, 2);
	drv_kick(&f.d, 0);
	assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	assert_int_equal(id, head);
	assert_int_equal(len, 0);
	check_file(0, 0, 512);

	/* Unknown type. */
	assert_int_equal(request(0x77, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	/* A read with nothing but the status. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(f.d.needs_reset, 0);

	/* Still serving. */
	assert_int_equal(request(VIRTIO_BLK_T_IN, 1, buf, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)drv_hva(&f.d, buf), 1);
}

static void test_readonly(void **state)
{
	uint64_t buf = drv_alloc(&f.d, 512, 0x77);

	assert_true(f.vdev->host_features & (1ULL << VIRTIO_BLK_F_RO));
	/* Refused even if the driver ignores VIRTIO_BLK_F_RO. */
	assert_int_equal(request(VIRTIO_BLK_T_OUT, 5, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(dwz(VIRTIO_BLK_T_DISCARD, 5, 1, 0, 1), VIRTIO_BLK_S_IOERR);
	assert_int_equal(dwz(VIRTIO_BLK_T_WRITE_ZEROES, 5, 1, 0, 1), VIRTIO_BLK_S_IOERR);
	check_file(5 * 512, 5, 512);
	assert_int_equal(request(VIRTIO_BLK_T_IN, 5, buf, 512, true, NULL), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)drv_hva(&f.d, buf), 5);
}

/* Many requests in one kick (one batch), then a reset while they may still
 * be in flight: nothing crashes, nothing is pushed after the reset. */
static void test_batch_and_reset(void **state)
{
	uint64_t hdr = drv_alloc(&f.d, 16 * 32, 0);
	uint64_t buf = drv_alloc(&f.d, 512 * 32, 0);
	uint64_t st = drv_alloc(&f.d, 32, 0xee);
	uint16_t id;
	uint32_t len;

	for (unsigned int i = 0; i < 16; i++) {
		struct virtio_blk_outhdr *h = drv_hva(&f.d, hdr + 16 * i);
		struct drv_seg segs[3] = {
			{ hdr + 16 * i, 16, false },
			{ buf + 512 * i, 512, true },
			{ st + i, 1, true },
		};

		h->type = VIRTIO_BLK_T_IN;
		h->sector = i;
		drv_add(&f.d, 0, segs, 3);
	}
	drv_kick(&f.d, 0);
	for (unsigned int i = 0; i < 16; i++)
		assert_int_equal(drv_wait_used(&f.d, 0, &id, &len), 0);
	for (unsigned int i = 0; i < 16; i++) {
		assert_int_equal(((uint8_t *)drv_hva(&f.d, st))[i], VIRTIO_BLK_S_OK);
		assert_int_equal(((uint8_t *)drv_hva(&f.d, buf))[512 * i], i);
	}

	for (unsigned int i = 0; i < 16; i++) {
		struct drv_seg segs[3] = {
			{ hdr + 16 * i, 16, false },
			{ buf + 512 * i, 512, true },
			{ st + 16 + i, 1, true },
		};

		drv_add(&f.d, 0, segs, 3);
	}
	drv_kick(&f.d, 0);
	pthread_mutex_lock(&f.vdev->lock);
	f.vdev->ops->reset(f.vdev);
	vq_reset(f.d.q[0].vq);
	pthread_mutex_unlock(&f.vdev->lock);
	/* A kick after reset (queue not ready) does nothing. */
	drv_kick(&f.d, 0);
	assert_int_equal(f.d.needs_reset, 0);
}

static void test_create_errors(void **state)
{
	struct disk_config missing = { .path = "/nonexistent/tern-disk.img" };
	struct disk_config dir = { .path = "/tmp" };
	struct disk_config chr = { .path = "/dev/null" };

	errno = 0;
	assert_null(virtio_blk_create(&missing, &f.d.mem, NULL));
	assert_int_equal(errno, ENOENT);
	assert_null(virtio_blk_create(&dir, &f.d.mem, NULL));
	assert_int_equal(errno, EISDIR);
	assert_null(virtio_blk_create(&chr, &f.d.mem, NULL));
	assert_int_equal(errno, EINVAL);
}

/* virtio_blk_create() on a file starting with @head; what it wrote to stderr
 * in @msg. The device is created (a warning, not a refusal). */
static void create_with_head(const void *head, size_t len, char *msg, size_t size)
{
	char path[] = "/tmp/tern-blk-head.XXXXXX", out[] = "/tmp/tern-blk-err.XXXXXX";
	int fd = mkstemp(path), err = mkstemp(out), saved = dup(STDERR_FILENO);
	struct disk_config cfg = { .path = path };
	struct virtio_device *vdev;
	ssize_t n;

	assert_true(fd >= 0 && err >= 0 && saved >= 0);
	assert_int_equal(pwrite(fd, head, len, 0), (ssize_t)len);
	assert_int_equal(ftruncate(fd, 65536), 0);
	fflush(stderr);
	assert_int_equal(dup2(err, STDERR_FILENO), STDERR_FILENO);
	vdev = virtio_blk_create(&cfg, &f.d.mem, NULL);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	n = pread(err, msg, size - 1, 0);
	assert_true(n >= 0);
	msg[n] = 0;
	assert_non_null(vdev);
	vdev->ops->destroy(vdev);
	close(fd);
	close(err);
	unlink(path);
	unlink(out);
}

/* A qcow2 or VMDK file given as a disk is named for what it is. */
static void test_foreign_format_warned(void **state)
{
	char msg[1024];

	create_with_head("QFI\xfb\0\0\0\3", 8, msg, sizeof(msg));
	if (!strstr(msg, "starts with a qcow2 header") || !strstr(msg, "qemu-img convert -O raw"))
		fail_msg("a qcow2 file as a disk: \"%s\"", msg);
	create_with_head("KDMV\1\0\0\0", 8, msg, sizeof(msg));
	if (!strstr(msg, "starts with a VMDK header"))
		fail_msg("a VMDK file as a disk: \"%s\"", msg);
	/* A raw disk (here an MBR's first bytes) is not warned about. */
	create_with_head("\xeb\x63\x90\0\0\0\0\0", 8, msg, sizeof(msg));
	if (strstr(msg, "header"))
		fail_msg("a raw disk warned about: \"%s\"", msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_read_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_descriptors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_and_write_zeroes, setup_shm, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_batch_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_format_warned, setup, teardown),
	};
	struct io_uring ring;

	/* io_uring may be disabled (sysctl kernel.io_uring_disabled, seccomp). */
	if (io_uring_queue_init(4, &ring, 0) < 0) {
		fprintf(stderr, "io_uring not available: skipping\n");
		return 77;
	}
	io_uring_queue_exit(&ring);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
