// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target for device state loading: arbitrary bytes go into a fresh
 * instance of one device model. Input:
 *
 *   u8  model      (mod 11) uart16550, PCI function, PCI function with MSI-X,
 *                  virtio-blk, virtio-net, virtio-rng, virtio-console, and
 *                  --firmware's: pl011, pl031, CFI flash (variable store),
 *                  CFI flash (the firmware's read-only bank)
 *   u8  flags      bit 0: the state is a good one (the model's own, saved
 *                  from a busy instance) with patches applied, rather than
 *                  raw bytes: the fuzzer then reaches past the identity and
 *                  consistency checks without having to rebuild 4 KiB of
 *                  config space first
 *   u16 n          raw: the state's length; patched: the number of patches
 *   ...            raw: n bytes of state; patched: n * { u16 offset; u8 xor }
 *   ...            the rest: guest RAM's first bytes (rings, buffers)
 *
 * Besides the sanitizers it checks that every refusal comes with a message,
 * that a state a model accepts is exactly the state it saves right after
 * (nothing dropped, nothing invented; but a pending MSI-X vector that is
 * live gets delivered), and that once the restored device has
 * been exercised a little as a guest would (queue kicks, register reads,
 * interrupts) and quiesced, whatever state it got into loads into a fresh
 * instance: a device never saves what a device refuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include "devices/cfi_flash.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "devices/pl011.h"
#include "devices/pl031.h"
#include "devices/uart16550.h"
#include "devices/virtio.h"
#include "devices/virtio_devices.h"
#include "migration/state.h"
#include "vmm/config.h"
#include "vmm/layout.h"
#include "fuzz_input.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_GPA		0x40000000ULL
#define RAM_SIZE	(64 * 1024)
#define FUZZ_QSIZE	16
#define NR_VECTORS	4
#define MSIX_PBA_OFF	0x800

static struct guest_memory ram;
static char disk_path[64];
static int null_fd = -1;

/* ---------------------------------------------------------------- models */

struct model {
	void *(*create)(void);
	void (*prime)(void *obj);		/* a busy state, for the baseline */
	int (*save)(void *obj, struct state_writer *w);
	int (*load)(void *obj, struct state_reader *r);
	void (*exercise)(void *obj);
	void (*destroy)(void *obj);
	/* Whether @saved, saved right after loading @loaded, is what the load
	 * should have made of it; NULL: the very same bytes. */
	bool (*same)(const uint8_t *loaded, const uint8_t *saved, size_t len);
};

/* ---- uart16550 */

static void *uart_create(void)
{
	return uart16550_create(LAYOUT_UART_BASE, LAYOUT_UART_SPI, null_fd, NULL, NULL);
}

static void uart_write(struct device *dev, uint64_t reg, uint8_t v)
{
	dev->ops->mmio_write(dev, reg, &v, 1);
}

static void uart_prime(void *obj)
{
	uart_write(obj, 2, 0x01);		/* FIFOs on */
	uart_write(obj, 1, 0x0f);		/* every interrupt */
	uart_write(obj, 4, 0x1b);		/* loopback */
	uart16550_receive(obj, (const uint8_t *)"state", 5);
}

static int uart_save(void *obj, struct state_writer *w)
{
	struct device *dev = obj;

	return dev->ops->save(dev, w);
}

static int uart_load(void *obj, struct state_reader *r)
{
	struct device *dev = obj;

	return dev->ops->load(dev, r);
}

static void uart_exercise(void *obj)
{
	struct device *dev = obj;
	uint8_t v;

	for (int round = 0; round < 20; round++)
		for (uint64_t reg = 0; reg < 8; reg++)
			dev->ops->mmio_read(dev, reg, &v, 1);
	uart_write(dev, 0, 'x');
	uart16550_receive(dev, (const uint8_t *)"more", 4);
}

static void uart_destroy(void *obj)
{
	struct device *dev = obj;

	dev->ops->destroy(dev);
}

/* ---- --firmware's devices: the PL011, the PL031, both flash banks */

static void reg_write(struct device *dev, uint64_t off, uint32_t v)
{
	dev->ops->mmio_write(dev, off, (const uint8_t *)&v, 4);
}

static void *pl011_new(void)
{
	return pl011_create(LAYOUT_PL011_BASE, LAYOUT_PL011_SPI, null_fd, NULL, NULL);
}

static void pl011_prime(void *obj)
{
	reg_write(obj, 0x2c, 0x70);		/* LCR_H: 8 bits, FIFOs on */
	reg_write(obj, 0x38, 0x30);		/* IMSC: RX, TX */
	reg_write(obj, 0x00, 'x');		/* TX raw status */
	pl011_receive(obj, (const uint8_t *)"state", 5);
}

/* Every register read (DR drains the FIFO), a byte sent, input again. */
static void pl011_exercise(void *obj)
{
	struct device *dev = obj;
	uint32_t v;

	for (int round = 0; round < 20; round++)
		for (uint64_t reg = 0; reg < 0x50; reg += 4)
			dev->ops->mmio_read(dev, reg, (uint8_t *)&v, 4);
	reg_write(dev, 0x44, 0x7ff);		/* ICR */
	reg_write(dev, 0x00, 'y');
	pl011_receive(dev, (const uint8_t *)"more", 4);
}

static void *pl031_new(void)
{
	return pl031_create(LAYOUT_PL031_BASE, LAYOUT_PL031_SPI);
}

static void pl031_prime(void *obj)
{
	reg_write(obj, 0x08, 1000000);		/* LR */
	reg_write(obj, 0x04, 1000060);		/* MR */
	reg_write(obj, 0x10, 1);		/* IMSC */
}

static void pl031_exercise(void *obj)
{
	struct device *dev = obj;
	uint32_t v;

	for (uint64_t reg = 0; reg < 0x20; reg += 4)
		dev->ops->mmio_read(dev, reg, (uint8_t *)&v, 4);
}

/* One erase block; the array is the bank's own. */
struct bank {
	struct device *dev;
	uint8_t array[CFI_BLOCK_SIZE];
};

static void *bank_new(bool readonly)
{
	struct bank *b = malloc(sizeof(*b));

	check(b != NULL);
	memset(b->array, readonly ? 0x5a : 0, sizeof(b->array));
	b->dev = cfi_flash_create(0x04000000, b->array, sizeof(b->array), readonly, NULL, NULL);
	check(b->dev != NULL);
	return b;
}

static void *vars_new(void) { return bank_new(false); }
static void *code_new(void) { return bank_new(true); }

static void bank_cmd(struct bank *b, uint64_t off, uint32_t cmd)
{
	reg_write(b->dev, off, cmd << 16 | cmd);
}

/* EDK2's erase and word program, then a buffered program left halfway. */
static void bank_prime(void *obj)
{
	struct bank *b = obj;

	bank_cmd(b, 0, 0x20);
	bank_cmd(b, 0, 0xd0);
	bank_cmd(b, 0x40, 0x40);
	reg_write(b->dev, 0x40, 0x12345678);
	bank_cmd(b, 0x2000, 0xe8);
	bank_cmd(b, 0x2000, 3);
	reg_write(b->dev, 0x2004, 0xabcdef01);
}

/* Data and a confirm for whatever was under way, status, a buffered
 * program, back to read-array, reads in every mode. */
static void bank_exercise(void *obj)
{
	struct bank *b = obj;
	uint32_t v;

	for (uint64_t off = 0x2000; off < 0x2010; off += 4)
		reg_write(b->dev, off, 0x0f0f0f0f);
	bank_cmd(b, 0x2000, 0xd0);
	bank_cmd(b, 0x3000, 0xe8);
	bank_cmd(b, 0x3000, 1);
	reg_write(b->dev, 0x3000, 0x11111111);
	reg_write(b->dev, 0x3004, 0x22222222);
	bank_cmd(b, 0x3000, 0xd0);
	for (uint32_t cmd = 0; cmd < 0x100; cmd += 0x38) {
		bank_cmd(b, 0, cmd);
		b->dev->ops->mmio_read(b->dev, 0x40, (uint8_t *)&v, 4);
	}
	bank_cmd(b, 0, 0x50);
	bank_cmd(b, 0, 0xff);
}

static void bank_destroy(void *obj)
{
	struct bank *b = obj;

	b->dev->ops->destroy(b->dev);
	free(b);
}

static int bank_save(void *obj, struct state_writer *w)
{
	struct bank *b = obj;

	return b->dev->ops->save(b->dev, w);
}

static int bank_load(void *obj, struct state_reader *r)
{
	struct bank *b = obj;

	return b->dev->ops->load(b->dev, r);
}

/* ---- PCI function, with or without MSI-X */

struct fn {
	struct pci_host host;
	struct pci_device pci;
	struct msix msix;
	bool has_msix;
};

static void fn_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			unsigned int len)
{
	struct fn *f = pdev->priv;

	if (f->has_msix && off >= MSIX_PBA_OFF)
		msix_pba_read(&f->msix, off - MSIX_PBA_OFF, data, len);
	else if (f->has_msix)
		msix_table_read(&f->msix, off, data, len);
	else
		memset(data, 0, len);
}

static void fn_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			 unsigned int len)
{
	struct fn *f = pdev->priv;

	if (f->has_msix && off < MSIX_PBA_OFF)
		msix_table_write(&f->msix, off, data, len);
}

static void fn_bar_remap(struct pci_device *pdev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	check(pci_bar_addr(pdev, bar) == new_addr);
}

static void fn_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct fn *f = pdev->priv;

	if (f->has_msix)
		msix_config_written(&f->msix);
}

static const struct pci_device_ops fn_ops = {
	.bar_read = fn_bar_read,
	.bar_write = fn_bar_write,
	.bar_remap = fn_bar_remap,
	.config_written = fn_config_written,
};

static int sink_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	check(vec < NR_VECTORS);
	return 0;
}

static void sink_fire(void *opaque, unsigned int vec)
{
	check(vec < NR_VECTORS);
}

static const struct msi_sink_ops sink = { .route = sink_route, .fire = sink_fire };

static struct fn *fn_create(bool with_msix)
{
	struct fn *f = calloc(1, sizeof(*f));

	check(f && pci_host_init(&f->host, NULL) == 0);
	f->pci.ops = &fn_ops;
	f->pci.priv = f;
	f->has_msix = with_msix;
	pci_device_init(&f->pci, 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 1);
	check(pci_device_add_bar(&f->pci, 0, 4096, false) == 0);
	check(pci_device_add_bar(&f->pci, 2, 1 << 20, true) == 0);
	if (with_msix)
		check(msix_init(&f->msix, &f->pci, NR_VECTORS, 0, 0, MSIX_PBA_OFF, &sink, f) == 0);
	check(pci_host_add(&f->host, &f->pci) == 0);
	return f;
}

static void *fn_create_plain(void)
{
	return fn_create(false);
}

static void *fn_create_msix(void)
{
	return fn_create(true);
}

static void ecam_write(struct fn *f, unsigned int reg, uint32_t v, unsigned int len)
{
	f->host.ecam.ops->mmio_write(&f->host.ecam, reg, (const uint8_t *)&v, len);
}

static void bar_access(struct fn *f, int bar, uint64_t off, uint32_t v, bool write)
{
	uint64_t addr = pci_bar_addr(&f->pci, bar);
	struct device *win = &f->host.mmio;

	if (!addr || addr < win->mmio_base || addr + off + 4 > win->mmio_base + win->mmio_size)
		return;
	if (write)
		win->ops->mmio_write(win, addr + off - win->mmio_base, (const uint8_t *)&v, 4);
	else
		win->ops->mmio_read(win, addr + off - win->mmio_base, (uint8_t *)&v, 4);
}

static void fn_prime(void *obj)
{
	struct fn *f = obj;

	ecam_write(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	ecam_write(f, PCI_BASE_ADDRESS_2, 0, 4);
	ecam_write(f, PCI_INTERRUPT_LINE, 5, 1);
	if (!f->has_msix)
		return;
	ecam_write(f, f->msix.cap + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	bar_access(f, 0, 16 + PCI_MSIX_ENTRY_LOWER_ADDR, 0x08090040, true);
	bar_access(f, 0, 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0, true);
	msix_notify(&f->msix, 2);
}

static int fn_save(void *obj, struct state_writer *w)
{
	struct fn *f = obj;
	int ret = pci_device_save(&f->pci, w);

	return ret || !f->has_msix ? ret : msix_save(&f->msix, w);
}

static int fn_load(void *obj, struct state_reader *r)
{
	struct fn *f = obj;

	if (pci_device_load(&f->pci, r))
		return r->err;
	return f->has_msix ? msix_load(&f->msix, r) : 0;
}

static void fn_exercise(void *obj)
{
	struct fn *f = obj;
	uint32_t v;

	for (unsigned int reg = 0; reg < PCI_CFG_SPACE_SIZE; reg += 4)
		f->host.ecam.ops->mmio_read(&f->host.ecam, reg, (uint8_t *)&v, 4);
	for (int bar = 0; bar < PCI_NUM_BARS; bar++)
		bar_access(f, bar, 0, 0, false);
	if (!f->has_msix)
		return;
	for (unsigned int vec = 0; vec <= NR_VECTORS; vec++)
		msix_notify(&f->msix, vec);
	bar_access(f, 0, PCI_MSIX_ENTRY_VECTOR_CTRL, 0, true);
	bar_access(f, 0, MSIX_PBA_OFF, 0, false);
}

/*
 * A vector live and pending in a loaded state (its route had failed before)
 * is delivered by the load, which clears its pending bit: the PBA may lose
 * bits, the rest of the state stays as loaded.
 */
static bool fn_msix_same(const uint8_t *loaded, const uint8_t *saved, size_t len)
{
	const size_t pba = 1 + PCI_CFG_SPACE_EXP_SIZE + PCI_NUM_BARS * 17 + 2 +
			   NR_VECTORS * 16;

	check(len == pba + 8 + 2);
	for (size_t i = pba; i < pba + 8; i++)
		if (saved[i] & ~loaded[i])
			return false;
	return !memcmp(loaded, saved, pba) && !memcmp(loaded + pba + 8, saved + pba + 8, 2);
}

static void fn_destroy(void *obj)
{
	struct fn *f = obj;

	if (f->has_msix)
		msix_destroy(&f->msix);
	f->host.ecam.ops->destroy(&f->host.ecam);
	free(f);
}

/* ---- virtio models, on a transport that only counts */

static void t_notify_queue(struct virtio_device *vdev, unsigned int q)
{
	check(q < vdev->nr_queues);
}

static void t_notify_config(struct virtio_device *vdev)
{
}

static void t_needs_reset(struct virtio_device *vdev)
{
	__atomic_or_fetch(&vdev->status, VIRTIO_CONFIG_S_NEEDS_RESET, __ATOMIC_RELAXED);
}

static const struct virtio_transport_ops transport = {
	.notify_queue = t_notify_queue,
	.notify_config = t_notify_config,
	.needs_reset = t_needs_reset,
};

static struct virtio_device *attach(struct virtio_device *vdev)
{
	check(vdev != NULL);
	vdev->transport = &transport;
	return vdev;
}

/*
 * virtio-blk allocates megabytes of request slots, which would make it the
 * whole cost of fuzzing: two instances are made once, and "a fresh one" is
 * one put back to power-on state, as a driver's reset does.
 */
static struct virtio_device *blk_pool[2];
static bool blk_in_use[2];

static void virtio_power_on(struct virtio_device *vdev)
{
	pthread_mutex_lock(&vdev->lock);
	vdev->ops->reset(vdev);
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		vq_reset(&vdev->vqs[q]);
		vdev->vqs[q].size = vdev->queue_max_size;
	}
	vdev->guest_features = 0;
	vdev->status = 0;
	pthread_mutex_unlock(&vdev->lock);
}

static void *blk_create(void)
{
	struct disk_config cfg = { .path = disk_path };
	unsigned int i = blk_in_use[0];

	check(!blk_in_use[i]);
	if (!blk_pool[i])
		blk_pool[i] = attach(virtio_blk_create(&cfg, &ram, NULL));
	virtio_power_on(blk_pool[i]);
	blk_in_use[i] = true;
	return blk_pool[i];
}

static void blk_release(void *obj)
{
	check(virtio_device_quiesce(obj) == 0);
	blk_in_use[obj == blk_pool[1]] = false;
}

/* The net device owns its end of the socket pair; the other end (the
 * "network") stays open here until the device goes. */
static struct {
	void *vdev;
	int peer;
} net_peers[2];

static void *net_create(void)
{
	struct net_config cfg = { .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
	unsigned int i = net_peers[0].vdev != NULL;
	int sv[2];

	check(!net_peers[i].vdev);
	check(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv) == 0);
	net_peers[i].vdev = attach(virtio_net_create_fd(sv[0], &cfg, &ram, NULL));
	net_peers[i].peer = sv[1];
	return net_peers[i].vdev;
}

static void *rng_create(void)
{
	return attach(virtio_rng_create(&ram, NULL));
}

static void *console_create(void)
{
	return attach(virtio_console_create_pty(&ram, NULL));
}

/* A driver's setup, in RAM: every queue 16 entries, 4 KiB apart, live. */
static void virtio_prime(void *obj)
{
	struct virtio_device *vdev = obj;

	pthread_mutex_lock(&vdev->lock);
	vdev->guest_features = vdev->host_features;
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		struct virtqueue *vq = &vdev->vqs[q];

		vq->size = FUZZ_QSIZE;
		vq->desc_gpa = RAM_GPA + 0x1000 * q;
		vq->avail_gpa = vq->desc_gpa + 0x100;
		vq->used_gpa = vq->desc_gpa + 0x200;
		vq->event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);
		check(vq_enable(vq) == 0);
	}
	vdev->status = VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		       VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK;
	pthread_mutex_unlock(&vdev->lock);
}

static int virtio_save(void *obj, struct state_writer *w)
{
	return virtio_device_save(obj, w);
}

/* What a transport does: load, then make it live. */
static int virtio_load(void *obj, struct state_reader *r)
{
	int ret;

	if (virtio_device_load(obj, r))
		return r->err;
	ret = virtio_device_revive(obj);
	return ret < 0 ? sr_fail(r, "cannot revive: %s", strerror(-ret)) : 0;
}

/* Every queue kicked (and one that does not exist), requests finished. */
static void virtio_exercise(void *obj)
{
	struct virtio_device *vdev = obj;

	for (unsigned int q = 0; q <= vdev->nr_queues; q++)
		vdev->ops->queue_notify(vdev, q);
	check(virtio_device_quiesce(vdev) == 0);
}

static void virtio_destroy(void *obj)
{
	struct virtio_device *vdev = obj;

	vdev->ops->destroy(vdev);
}

static void net_destroy(void *obj)
{
	unsigned int i = net_peers[1].vdev == obj;

	check(net_peers[i].vdev == obj);
	virtio_destroy(obj);
	close(net_peers[i].peer);
	net_peers[i].vdev = NULL;
}

#define VIRTIO_MODEL(create_fn, destroy_fn)					\
	{ .create = create_fn, .prime = virtio_prime, .save = virtio_save,		\
	  .load = virtio_load, .exercise = virtio_exercise, .destroy = destroy_fn }
#define FN_MODEL(create_fn, same_fn)						\
	{ .create = create_fn, .prime = fn_prime, .save = fn_save, .load = fn_load,	\
	  .exercise = fn_exercise, .destroy = fn_destroy, .same = same_fn }

static const struct model models[] = {
	{ .create = uart_create, .prime = uart_prime, .save = uart_save, .load = uart_load,
	  .exercise = uart_exercise, .destroy = uart_destroy },
	FN_MODEL(fn_create_plain, NULL),
	FN_MODEL(fn_create_msix, fn_msix_same),
	VIRTIO_MODEL(blk_create, blk_release),
	VIRTIO_MODEL(net_create, net_destroy),
	VIRTIO_MODEL(rng_create, virtio_destroy),
	VIRTIO_MODEL(console_create, virtio_destroy),
	{ .create = pl011_new, .prime = pl011_prime, .save = uart_save, .load = uart_load,
	  .exercise = pl011_exercise, .destroy = uart_destroy },
	{ .create = pl031_new, .prime = pl031_prime, .save = uart_save, .load = uart_load,
	  .exercise = pl031_exercise, .destroy = uart_destroy },
	{ .create = vars_new, .prime = bank_prime, .save = bank_save, .load = bank_load,
	  .exercise = bank_exercise, .destroy = bank_destroy },
	{ .create = code_new, .prime = bank_prime, .save = bank_save, .load = bank_load,
	  .exercise = bank_exercise, .destroy = bank_destroy },
};

#define NR_MODELS (sizeof(models) / sizeof(models[0]))

/* ---------------------------------------------------------------- driver */

static struct state_writer baseline[NR_MODELS];

/* Each model's own state from a busy instance, made once. */
static const struct state_writer *good_state(unsigned int m)
{
	if (!baseline[m].len) {
		void *obj = models[m].create();

		check(obj != NULL);
		models[m].prime(obj);
		sw_init(&baseline[m]);
		check(models[m].save(obj, &baseline[m]) == 0);
		models[m].destroy(obj);
	}
	return &baseline[m];
}

/* The state to load: raw input, or the baseline with patches. */
static size_t build_state(unsigned int m, bool patched, const uint8_t **in, size_t *left,
			  uint8_t **state)
{
	const struct state_writer *good;
	size_t n, len;

	if (*left < 2)
		return 0;
	n = (*in)[0] | (*in)[1] << 8;
	*in += 2;
	*left -= 2;
	if (!patched) {
		len = n < *left ? n : *left;
		*state = malloc(len ? len : 1);
		check(*state != NULL);
		memcpy(*state, *in, len);
		*in += len;
		*left -= len;
		return len;
	}
	good = good_state(m);
	*state = malloc(good->len);
	check(*state != NULL);
	memcpy(*state, good->buf, good->len);
	for (; n && *left >= 3; n--, *in += 3, *left -= 3) {
		size_t off = ((*in)[0] | (*in)[1] << 8) % good->len;

		(*state)[off] ^= (*in)[2];
	}
	return good->len;
}

/* Whatever state the device got into, a fresh instance takes it. */
static void check_reloads(const struct model *m, void *obj)
{
	struct state_writer w;
	struct state_reader r;
	void *copy;

	sw_init(&w);
	check(m->save(obj, &w) == 0);
	copy = m->create();
	check(copy != NULL);
	sr_init(&r, w.buf, w.len);
	check(m->load(copy, &r) == 0 && sr_finish(&r) == 0);
	m->destroy(copy);
	sw_free(&w);
}

static void remove_disk(void)
{
	unlink(disk_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char zeros[4096];
	int fd;

	/* tern's messages (a queue error, a refused route) would be thousands
	 * of lines; the sanitizers and libFuzzer write to fd 2 themselves. */
	stderr = fopen("/dev/null", "w");
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	ram.gpa = RAM_GPA;
	ram.size = RAM_SIZE;
	ram.hva = malloc(RAM_SIZE);
	snprintf(disk_path, sizeof(disk_path), "/tmp/tern-fuzz-disk-XXXXXX");
	fd = mkstemp(disk_path);
	check(stderr && null_fd >= 0 && ram.hva && fd >= 0);
	atexit(remove_disk);
	for (int i = 0; i < 16; i++)
		check(write(fd, zeros, sizeof(zeros)) == sizeof(zeros));
	close(fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct model *m;
	struct state_writer again;
	struct state_reader r;
	uint8_t *state = NULL;
	const uint8_t *in;
	unsigned int which;
	size_t left, len;
	void *obj;

	if (size < 2)
		return 0;
	in = data + 2;
	left = size - 2;
	which = data[0] % NR_MODELS;
	m = &models[which];
	len = build_state(which, data[1] & 1, &in, &left, &state);
	memset(ram.hva, 0, RAM_SIZE);
	memcpy(ram.hva, in, left < RAM_SIZE ? left : RAM_SIZE);

	obj = m->create();
	check(obj != NULL);
	sr_init(&r, state, len);
	if (m->load(obj, &r) == 0 && sr_finish(&r) == 0) {
		/* Accepted: saved again, it is the same state. */
		sw_init(&again);
		check(m->save(obj, &again) == 0);
		check(again.len == len);
		check(m->same ? m->same(state, again.buf, len) : !memcmp(again.buf, state, len));
		sw_free(&again);
		m->exercise(obj);
		check_reloads(m, obj);
	} else {
		check(r.err == -EBADMSG && r.msg[0]);
	}
	m->destroy(obj);
	free(state);
	return 0;
}
