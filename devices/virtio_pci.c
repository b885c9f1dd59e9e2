// SPDX-License-Identifier: GPL-2.0-only
/*
 * The modern virtio PCI transport (VIRTIO 1.x, 4.1). BAR 0 layout:
 *   0x0000 common configuration     0x3000 notifications, 4 bytes per queue
 *   0x1000 ISR status               0x4000 MSI-X table
 *   0x2000 device configuration     0x6000 MSI-X PBA
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>

#include "migration/state.h"
#include "msix.h"
#include "pci.h"
#include "virtio.h"
#include "virtio_pci.h"
#include "vmm/iothread.h"
#include "vmm/log.h"
#include "vmm/msi.h"
#include "vmm/vm.h"

#define VPCI_BAR		0
#define VPCI_BAR_SIZE		0x8000
#define VPCI_COMMON_OFF		0x0000
#define VPCI_ISR_OFF		0x1000
#define VPCI_DEVICE_OFF		0x2000
#define VPCI_NOTIFY_OFF		0x3000
#define VPCI_NOTIFY_MULT	4
#define VPCI_MSIX_TABLE_OFF	0x4000
#define VPCI_MSIX_PBA_OFF	0x6000
#define VPCI_REGION_SIZE	0x1000
#define VPCI_MAX_QUEUES		8
#define VPCI_MAX_VECTORS	(VPCI_MAX_QUEUES + 1)
#define VIRTIO_PCI_VENDOR	0x1af4
#define VIRTIO_PCI_DEVICE_BASE	0x1040	/* + device ID: modern devices */
/* Subsystem ID: 0x40 + device ID. The virtio spec (4.1.2.1) says a
 * non-transitional device SHOULD have one of 0x40 or more, and EDK2's
 * Virtio10Dxe binds no device that has less (a --firmware boot then finds
 * no disk). */
#define VIRTIO_PCI_SUBSYS_BASE	0x40
#define VPCI_ISR_QUEUE		0x1	/* ISR bit 0: a queue interrupt (spec 4.1.4.5) */

struct virtio_pci;

struct vpci_kick {
	struct virtio_pci *vp;
	unsigned int queue;
	int fd;
};

struct virtio_pci {
	struct pci_device pci;
	struct msix msix;
	struct vm *vm;
	struct virtio_device *vdev;
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t config_vector;
	uint16_t queue_select;
	uint16_t queue_vector[VPCI_MAX_QUEUES];
	uint8_t isr;
	uint8_t config_generation;
	uint64_t notify_addr;		/* where ioeventfds are registered; 0: none */
	struct vpci_kick kick[VPCI_MAX_QUEUES];
	int route[VPCI_MAX_VECTORS];	/* MSI route per vector, -1 until first used */
	/* Guest-triggered messages (vmm/log.h). */
	struct ratelimit ring_addr_log;	/* queue_enable with bad ring addresses */
	struct ratelimit kick_log;	/* a kick that could not be signalled */
	struct ratelimit ioeventfd_log;	/* KVM_IOEVENTFD refused (e.g. overlapping BARs) */
};

static struct virtio_pci *to_vpci(struct virtio_device *vdev)
{
	return vdev->transport_priv;
}

/* ---- interrupts ---------------------------------------------------------- */

static int vpci_msi_route(void *opaque, unsigned int vec, uint64_t addr, uint32_t data)
{
	struct virtio_pci *vp = opaque;

	if (vec >= VPCI_MAX_VECTORS)
		return -EINVAL;
	if (vp->route[vec] < 0) {
		int r = msi_route_alloc(vp->vm, pci_requester_id(&vp->pci));

		if (r < 0)
			return r;
		vp->route[vec] = r;
	}
	return msi_route_set(vp->vm, vp->route[vec], addr, data);
}

static void vpci_msi_fire(void *opaque, unsigned int vec)
{
	struct virtio_pci *vp = opaque;

	if (vec < VPCI_MAX_VECTORS)
		msi_route_fire(vp->vm, vp->route[vec]);
}

static const struct msi_sink_ops vpci_msi_sink = {
	.route = vpci_msi_route,
	.fire = vpci_msi_fire,
};

static void vpci_notify_queue(struct virtio_device *vdev, unsigned int q)
{
	struct virtio_pci *vp = to_vpci(vdev);

	__atomic_or_fetch(&vp->isr, VPCI_ISR_QUEUE, __ATOMIC_RELAXED);
	msix_notify(&vp->msix, vp->queue_vector[q]);
}

static void vpci_notify_config(struct virtio_device *vdev)
{
	struct virtio_pci *vp = to_vpci(vdev);

	__atomic_or_fetch(&vp->isr, VIRTIO_PCI_ISR_CONFIG, __ATOMIC_RELAXED);
	msix_notify(&vp->msix, vp->config_vector);
}

static void vpci_needs_reset(struct virtio_device *vdev)
{
	struct virtio_pci *vp = to_vpci(vdev);

	/* Called from the I/O thread: only flags, the driver resets us. */
	__atomic_or_fetch(&vdev->status, VIRTIO_CONFIG_S_NEEDS_RESET, __ATOMIC_RELAXED);
	__atomic_add_fetch(&vp->config_generation, 1, __ATOMIC_RELAXED);
	vpci_notify_config(vdev);
}

static const struct virtio_transport_ops vpci_transport = {
	.notify_queue = vpci_notify_queue,
	.notify_config = vpci_notify_config,
	.needs_reset = vpci_needs_reset,
};

/* ---- queue kicks ------------------------------------------------------------ */

static void vpci_kick_handler(void *opaque, uint32_t events)
{
	struct vpci_kick *k = opaque;
	struct virtio_device *vdev = k->vp->vdev;
	uint64_t n;

	if (read(k->fd, &n, sizeof(n)) < 0)
		return;
	if (!(__atomic_load_n(&vdev->status, __ATOMIC_ACQUIRE) & VIRTIO_CONFIG_S_DRIVER_OK) ||
	    (vdev->status & VIRTIO_CONFIG_S_NEEDS_RESET) || !vdev->vqs[k->queue].ready)
		return;
	vdev->ops->queue_notify(vdev, k->queue);
}

/* KVM signals the kick eventfd itself for 2-byte writes at a queue's notify
 * address, so a kick costs no exit to userspace. */
static void vpci_move_ioeventfds(struct virtio_pci *vp, uint64_t bar_addr)
{
	for (unsigned int q = 0; q < vp->vdev->nr_queues; q++) {
		uint64_t off = VPCI_NOTIFY_OFF + q * VPCI_NOTIFY_MULT;

		int ret;

		if (vp->notify_addr) {
			ret = vm_ioeventfd(vp->vm, vp->notify_addr + off, 2, vp->kick[q].fd, false);
			if (ret < 0)
				pr_warn_ratelimited(&vp->ioeventfd_log,
						    "%s: queue %u: cannot remove the kick ioeventfd at %#llx: %s",
						    vp->pci.name, q,
						    (unsigned long long)(vp->notify_addr + off),
						    strerror(-ret));
		}
		if (!bar_addr)
			continue;
		/* KVM refuses one that overlaps another device's (EEXIST): the
		 * guest placed two BARs on each other. Kicks then come as MMIO
		 * exits, which vpci_bar_access forwards to the eventfd. */
		ret = vm_ioeventfd(vp->vm, bar_addr + off, 2, vp->kick[q].fd, true);
		if (ret < 0)
			pr_warn_ratelimited(&vp->ioeventfd_log,
					    "%s: queue %u: cannot place the kick ioeventfd at %#llx: %s (kicks go through MMIO exits)",
					    vp->pci.name, q, (unsigned long long)(bar_addr + off),
					    strerror(-ret));
	}
	vp->notify_addr = bar_addr;
}

/* ---- common configuration ------------------------------------------------- */

static void vpci_reset(struct virtio_pci *vp)
{
	struct virtio_device *vdev = vp->vdev;

	vdev->ops->reset(vdev);
	for (unsigned int q = 0; q < vdev->nr_queues; q++) {
		vq_reset(&vdev->vqs[q]);
		vdev->vqs[q].size = vdev->queue_max_size;
		vp->queue_vector[q] = VIRTIO_MSI_NO_VECTOR;
	}
	vdev->guest_features = 0;
	__atomic_store_n(&vdev->status, 0, __ATOMIC_RELEASE);
	vp->config_vector = VIRTIO_MSI_NO_VECTOR;
	vp->device_feature_select = 0;
	vp->driver_feature_select = 0;
	vp->queue_select = 0;
	vp->isr = 0;
}

static void vpci_driver_ok(struct virtio_pci *vp)
{
	struct virtio_device *vdev = vp->vdev;
	bool event_idx = virtio_has_feature(vdev, VIRTIO_RING_F_EVENT_IDX);

	for (unsigned int q = 0; q < vdev->nr_queues; q++)
		vdev->vqs[q].event_idx = event_idx;
	if (vdev->ops->activate && vdev->ops->activate(vdev) < 0) {
		vdev->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
		vp->config_generation++;
	}
}

static void vpci_write_status(struct virtio_pci *vp, uint8_t status)
{
	struct virtio_device *vdev = vp->vdev;
	uint8_t old = vdev->status;

	if (status == 0) {
		vpci_reset(vp);
		return;
	}
	/* Undefined bits are not kept: a saved status is then always one a
	 * restore can tell from garbage. */
	status &= VIRTIO_STATUS_KNOWN;
	/* FEATURES_OK sticks only if every accepted feature was offered. */
	if ((status & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    ((vdev->guest_features & ~vdev->host_features) ||
	     !virtio_has_feature(vdev, VIRTIO_F_VERSION_1)))
		status &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	status |= old & VIRTIO_CONFIG_S_NEEDS_RESET;
	__atomic_store_n(&vdev->status, status, __ATOMIC_RELEASE);
	if ((status & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK))
		vpci_driver_ok(vp);
}

static struct virtqueue *selected_vq(struct virtio_pci *vp)
{
	return vp->queue_select < vp->vdev->nr_queues ? &vp->vdev->vqs[vp->queue_select] : NULL;
}

/* The common configuration structure as the guest currently sees it. */
static void common_cfg_image(struct virtio_pci *vp, struct virtio_pci_common_cfg *c)
{
	struct virtio_device *vdev = vp->vdev;
	struct virtqueue *vq = selected_vq(vp);

	memset(c, 0, sizeof(*c));
	c->device_feature_select = vp->device_feature_select;
	if (vp->device_feature_select < 2)
		c->device_feature = (uint32_t)(vdev->host_features >> (32 * vp->device_feature_select));
	c->guest_feature_select = vp->driver_feature_select;
	if (vp->driver_feature_select < 2)
		c->guest_feature = (uint32_t)(vdev->guest_features >> (32 * vp->driver_feature_select));
	c->msix_config = vp->config_vector;
	c->num_queues = (uint16_t)vdev->nr_queues;
	c->device_status = vdev->status;
	c->config_generation = vp->config_generation;
	c->queue_select = vp->queue_select;
	if (!vq)
		return;			/* a queue that does not exist reads size 0 */
	c->queue_size = vq->size;
	c->queue_msix_vector = vp->queue_vector[vp->queue_select];
	c->queue_enable = vq->ready;
	c->queue_notify_off = vp->queue_select;
	c->queue_desc_lo = (uint32_t)vq->desc_gpa;
	c->queue_desc_hi = (uint32_t)(vq->desc_gpa >> 32);
	c->queue_avail_lo = (uint32_t)vq->avail_gpa;
	c->queue_avail_hi = (uint32_t)(vq->avail_gpa >> 32);
	c->queue_used_lo = (uint32_t)vq->used_gpa;
	c->queue_used_hi = (uint32_t)(vq->used_gpa >> 32);
}

static void set_half(uint64_t *reg, bool high, uint32_t val)
{
	if (high)
		*reg = (*reg & 0xffffffffULL) | ((uint64_t)val << 32);
	else
		*reg = (*reg & ~0xffffffffULL) | val;
}

static void vpci_write_driver_features(struct virtio_pci *vp, uint32_t val)
{
	struct virtio_device *vdev = vp->vdev;
	unsigned int shift = 32 * vp->driver_feature_select;

	if (vp->driver_feature_select >= 2 || (vdev->status & VIRTIO_CONFIG_S_FEATURES_OK))
		return;
	vdev->guest_features &= ~(0xffffffffULL << shift);
	vdev->guest_features |= (uint64_t)val << shift;
}

static void vpci_write_queue_reg(struct virtio_pci *vp, uint32_t off, uint32_t val)
{
	struct virtqueue *vq = selected_vq(vp);

	/* The driver may not touch an enabled queue's setup (spec 4.1.4.3.2). */
	if (!vq || vq->ready)
		return;
	switch (off) {
	case offsetof(struct virtio_pci_common_cfg, queue_size):
		if (val && val <= vp->vdev->queue_max_size && !(val & (val - 1)))
			vq->size = (uint16_t)val;
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_msix_vector):
		vp->queue_vector[vp->queue_select] =
			val < vp->msix.nr_vectors ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_enable):
		if (val == 1 && vq_enable(vq) < 0)
			pr_warn_ratelimited(&vp->ring_addr_log,
					    "%s: queue %u: bad ring addresses (desc %#llx, avail %#llx, used %#llx, size %u); not enabled",
					    vp->vdev->ops->name, vp->queue_select,
					    (unsigned long long)vq->desc_gpa,
					    (unsigned long long)vq->avail_gpa,
					    (unsigned long long)vq->used_gpa, vq->size);
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_desc_lo):
	case offsetof(struct virtio_pci_common_cfg, queue_desc_hi):
		set_half(&vq->desc_gpa, off & 4, val);
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_avail_lo):
	case offsetof(struct virtio_pci_common_cfg, queue_avail_hi):
		set_half(&vq->avail_gpa, off & 4, val);
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_used_lo):
	case offsetof(struct virtio_pci_common_cfg, queue_used_hi):
		set_half(&vq->used_gpa, off & 4, val);
		break;
	}
}

static void vpci_common_write(struct virtio_pci *vp, uint32_t off, uint32_t val)
{
	switch (off) {
	case offsetof(struct virtio_pci_common_cfg, device_feature_select):
		vp->device_feature_select = val;
		break;
	case offsetof(struct virtio_pci_common_cfg, guest_feature_select):
		vp->driver_feature_select = val;
		break;
	case offsetof(struct virtio_pci_common_cfg, guest_feature):
		vpci_write_driver_features(vp, val);
		break;
	case offsetof(struct virtio_pci_common_cfg, msix_config):
		vp->config_vector = val < vp->msix.nr_vectors ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
		break;
	case offsetof(struct virtio_pci_common_cfg, device_status):
		vpci_write_status(vp, (uint8_t)val);
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_select):
		vp->queue_select = (uint16_t)val;
		break;
	default:
		vpci_write_queue_reg(vp, off, val);
	}
}

/* Register widths of the common configuration, by offset: the guest must
 * access each field with its own width (spec 4.1.3.1); 64-bit queue
 * addresses may also be written as two 32-bit halves. */
static unsigned int common_field_width(uint32_t off)
{
	switch (off) {
	case offsetof(struct virtio_pci_common_cfg, device_status):
	case offsetof(struct virtio_pci_common_cfg, config_generation):
		return 1;
	case offsetof(struct virtio_pci_common_cfg, msix_config):
	case offsetof(struct virtio_pci_common_cfg, num_queues):
	case offsetof(struct virtio_pci_common_cfg, queue_select):
	case offsetof(struct virtio_pci_common_cfg, queue_size):
	case offsetof(struct virtio_pci_common_cfg, queue_msix_vector):
	case offsetof(struct virtio_pci_common_cfg, queue_enable):
	case offsetof(struct virtio_pci_common_cfg, queue_notify_off):
		return 2;
	default:
		return off < sizeof(struct virtio_pci_common_cfg) ? 4 : 0;
	}
}

static void vpci_common_access(struct virtio_pci *vp, uint32_t off, void *data, unsigned int len,
			       bool write)
{
	struct virtio_pci_common_cfg img;
	uint32_t val = 0;

	if (!write) {
		common_cfg_image(vp, &img);
		memset(data, 0, len);
		if (off < sizeof(img))
			memcpy(data, (uint8_t *)&img + off, len < sizeof(img) - off ? len : sizeof(img) - off);
		return;
	}
	if (len == 8 && common_field_width(off) == 4 && common_field_width(off + 4) == 4) {
		uint64_t v;

		memcpy(&v, data, 8);
		vpci_common_write(vp, off, (uint32_t)v);
		vpci_common_write(vp, off + 4, (uint32_t)(v >> 32));
		return;
	}
	if (len != common_field_width(off))
		return;		/* not a field, or the wrong width: ignored */
	memcpy(&val, data, len);
	vpci_common_write(vp, off, val);
}

/* ---- BAR dispatch ----------------------------------------------------------- */

static void vpci_bar_access(struct pci_device *pdev, uint64_t off, void *data, unsigned int len,
			    bool is_write)
{
	struct virtio_pci *vp = pdev->priv;
	struct virtio_device *vdev = vp->vdev;
	uint32_t region = (uint32_t)(off & ~(uint64_t)(VPCI_REGION_SIZE - 1));
	uint32_t roff = (uint32_t)(off & (VPCI_REGION_SIZE - 1));

	if (!is_write)
		memset(data, 0, len);
	switch (region) {
	case VPCI_COMMON_OFF:
		pthread_mutex_lock(&vdev->lock);
		vpci_common_access(vp, roff, data, len, is_write);
		pthread_mutex_unlock(&vdev->lock);
		break;
	case VPCI_ISR_OFF:
		/* Reading the ISR clears it (spec 4.1.4.5). */
		if (!is_write && roff == 0)
			*(uint8_t *)data = __atomic_exchange_n(&vp->isr, 0, __ATOMIC_ACQ_REL);
		break;
	case VPCI_DEVICE_OFF:
		if (roff + len > vdev->ops->config_size)
			break;
		pthread_mutex_lock(&vdev->lock);
		if (is_write && vdev->ops->config_write)
			vdev->ops->config_write(vdev, roff, data, len);
		else if (!is_write)
			vdev->ops->config_read(vdev, roff, data, len);
		pthread_mutex_unlock(&vdev->lock);
		break;
	case VPCI_NOTIFY_OFF: {
		/* Only reached when no ioeventfd caught the write (another width). */
		unsigned int q = roff / VPCI_NOTIFY_MULT;
		uint64_t one = 1;

		if (is_write && q < vdev->nr_queues && write(vp->kick[q].fd, &one, sizeof(one)) < 0)
			pr_warn_ratelimited(&vp->kick_log, "%s: kick of queue %u lost: %m",
					    vdev->ops->name, q);
		break;
	}
	case VPCI_MSIX_TABLE_OFF:
	case VPCI_MSIX_TABLE_OFF + VPCI_REGION_SIZE:
		if (is_write)
			msix_table_write(&vp->msix, off - VPCI_MSIX_TABLE_OFF, data, len);
		else
			msix_table_read(&vp->msix, off - VPCI_MSIX_TABLE_OFF, data, len);
		break;
	case VPCI_MSIX_PBA_OFF:
		if (!is_write)
			msix_pba_read(&vp->msix, off - VPCI_MSIX_PBA_OFF, data, len);
		break;
	}
}

static void vpci_bar_read(struct pci_device *pdev, int bar, uint64_t off, void *data,
			  unsigned int len)
{
	vpci_bar_access(pdev, off, data, len, false);
}

static void vpci_bar_write(struct pci_device *pdev, int bar, uint64_t off, const void *data,
			   unsigned int len)
{
	vpci_bar_access(pdev, off, (void *)data, len, true);
}

static void vpci_bar_remap(struct pci_device *pdev, int bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_pci *vp = pdev->priv;

	if (bar == VPCI_BAR)
		vpci_move_ioeventfds(vp, new_addr);
}

static void vpci_config_written(struct pci_device *pdev, uint32_t off, uint32_t len)
{
	struct virtio_pci *vp = pdev->priv;

	msix_config_written(&vp->msix);
}

/* Guest reset: the driver starts from scratch, as at power-on. */
static void vpci_function_reset(struct pci_device *pdev)
{
	struct virtio_pci *vp = pdev->priv;

	pthread_mutex_lock(&vp->vdev->lock);
	vpci_reset(vp);
	pthread_mutex_unlock(&vp->vdev->lock);
	msix_reset(&vp->msix);
}

/* ---- snapshots ------------------------------------------------------------ */

/* The transport's registers that are not the model's or config space's. */
static void vpci_regs_save(struct virtio_pci *vp, struct state_writer *w)
{
	pthread_mutex_lock(&vp->vdev->lock);
	sw_u32(w, vp->device_feature_select);
	sw_u32(w, vp->driver_feature_select);
	sw_u16(w, vp->queue_select);
	sw_u16(w, vp->config_vector);
	for (unsigned int q = 0; q < vp->vdev->nr_queues; q++)
		sw_u16(w, vp->queue_vector[q]);
	sw_u8(w, __atomic_load_n(&vp->isr, __ATOMIC_RELAXED));
	sw_u8(w, __atomic_load_n(&vp->config_generation, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&vp->vdev->lock);
}

/* An MSI-X vector register holds a vector of the table or NO_VECTOR. */
static int vpci_check_vector(struct virtio_pci *vp, const char *what, uint16_t vec,
			     struct state_reader *r)
{
	if (vec != VIRTIO_MSI_NO_VECTOR && vec >= vp->msix.nr_vectors)
		return sr_fail(r, "%s vector %u is neither one of the %u MSI-X vectors nor none",
			       what, vec, vp->msix.nr_vectors);
	return 0;
}

static int vpci_regs_load(struct virtio_pci *vp, struct state_reader *r)
{
	unsigned int nr_queues = vp->vdev->nr_queues;
	uint16_t queue_vector[VPCI_MAX_QUEUES], queue_select, config_vector;
	uint32_t dev_select, drv_select;
	uint8_t isr, generation;

	dev_select = sr_u32(r);
	drv_select = sr_u32(r);
	queue_select = sr_u16(r);
	config_vector = sr_u16(r);
	for (unsigned int q = 0; q < nr_queues; q++)
		queue_vector[q] = sr_u16(r);
	isr = sr_u8(r);
	generation = sr_u8(r);
	if (!sr_ok(r) || vpci_check_vector(vp, "configuration", config_vector, r))
		return r->err;
	for (unsigned int q = 0; q < nr_queues; q++)
		if (vpci_check_vector(vp, "queue", queue_vector[q], r))
			return r->err;
	if (isr & ~(VPCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG))
		return sr_fail(r, "ISR 0x%02x has bits no interrupt sets", isr);

	pthread_mutex_lock(&vp->vdev->lock);
	vp->device_feature_select = dev_select;
	vp->driver_feature_select = drv_select;
	vp->queue_select = queue_select;
	vp->config_vector = config_vector;
	memcpy(vp->queue_vector, queue_vector, nr_queues * sizeof(queue_vector[0]));
	vp->isr = isr;
	vp->config_generation = generation;
	pthread_mutex_unlock(&vp->vdev->lock);
	return 0;
}

/*
 * The model first (its name is the state's first field, so a state of
 * another model is refused before anything else), then config space and
 * MSI-X, then the transport's registers.
 */
static int vpci_save(struct pci_device *pdev, struct state_writer *w)
{
	struct virtio_pci *vp = pdev->priv;
	int ret = virtio_device_save(vp->vdev, w);

	if (!ret)
		ret = pci_device_save(pdev, w);
	if (!ret)
		ret = msix_save(&vp->msix, w);
	if (!ret)
		vpci_regs_save(vp, w);
	return ret ? ret : w->err;
}

/* Every enabled queue looks kicked once: work the driver queued without a
 * kick (the device had promised to look) is not left waiting. */
static void vpci_replay_kicks(struct virtio_pci *vp)
{
	uint64_t one = 1;

	for (unsigned int q = 0; q < vp->vdev->nr_queues; q++)
		if (vp->vdev->vqs[q].ready && write(vp->kick[q].fd, &one, sizeof(one)) < 0)
			pr_warn_ratelimited(&vp->kick_log, "%s: queue %u: cannot kick after restore: %m",
					    vp->pci.name, q);
}

/*
 * Loading re-establishes what the guest's own accesses had set up, by the
 * same paths: BAR decoding (pci_device_load: ioeventfds move to the BAR
 * through bar_remap), MSI routes (msix_load), then the model becomes active
 * again as at DRIVER_OK, rings and indices untouched.
 */
static int vpci_load(struct pci_device *pdev, struct state_reader *r)
{
	struct virtio_pci *vp = pdev->priv;
	int ret;

	if (virtio_device_load(vp->vdev, r) || pci_device_load(pdev, r) ||
	    msix_load(&vp->msix, r) || vpci_regs_load(vp, r))
		return r->err;
	ret = virtio_device_revive(vp->vdev);
	if (ret < 0)
		return sr_fail(r, "cannot make the device live again: %s", strerror(-ret));
	vpci_replay_kicks(vp);
	return 0;
}

static int vpci_quiesce(struct pci_device *pdev)
{
	struct virtio_pci *vp = pdev->priv;

	return virtio_device_quiesce(vp->vdev);
}

static const struct pci_device_ops vpci_pci_ops = {
	.reset = vpci_function_reset,
	.bar_read = vpci_bar_read,
	.bar_write = vpci_bar_write,
	.bar_remap = vpci_bar_remap,
	.config_written = vpci_config_written,
	.save = vpci_save,
	.load = vpci_load,
	.quiesce = vpci_quiesce,
};

/* ---- creation --------------------------------------------------------------- */

static int add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
			  uint32_t notify_mult)
{
	struct virtio_pci_notify_cap cap = {
		.cap = {
			.cap_len = type == VIRTIO_PCI_CAP_NOTIFY_CFG ? sizeof(cap) : sizeof(cap.cap),
			.cfg_type = type,
			.bar = VPCI_BAR,
			.offset = off,
			.length = len,
		},
		.notify_off_multiplier = notify_mult,
	};
	int ret = pci_device_add_cap(&vp->pci, PCI_CAP_ID_VNDR, (uint8_t *)&cap + 2,
				     (uint8_t)(cap.cap.cap_len - 2));

	return ret < 0 ? ret : 0;
}

static int vpci_add_caps(struct virtio_pci *vp)
{
	struct virtio_device *vdev = vp->vdev;
	int ret;

	ret = add_virtio_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VPCI_COMMON_OFF,
			     sizeof(struct virtio_pci_common_cfg), 0);
	if (!ret)
		ret = add_virtio_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VPCI_ISR_OFF, 1, 0);
	if (!ret && vdev->ops->config_size)
		ret = add_virtio_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VPCI_DEVICE_OFF,
				     vdev->ops->config_size, 0);
	if (!ret)
		ret = add_virtio_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VPCI_NOTIFY_OFF,
				     vdev->nr_queues * VPCI_NOTIFY_MULT, VPCI_NOTIFY_MULT);
	return ret;
}

static int vpci_setup_kicks(struct virtio_pci *vp)
{
	for (unsigned int q = 0; q < vp->vdev->nr_queues; q++) {
		struct vpci_kick *k = &vp->kick[q];
		int ret;

		k->vp = vp;
		k->queue = q;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0)
			return -errno;
		ret = iothread_add(vp->vm->io, k->fd, EPOLLIN, vpci_kick_handler, k);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void virtio_pci_destroy(struct pci_device *pdev)
{
	struct virtio_pci *vp = pdev->priv;

	for (unsigned int q = 0; q < VPCI_MAX_QUEUES; q++) {
		if (vp->kick[q].fd < 0)
			continue;
		iothread_del(vp->vm->io, vp->kick[q].fd);
		close(vp->kick[q].fd);
	}
	msix_destroy(&vp->msix);
	if (vp->vdev->ops->destroy)
		vp->vdev->ops->destroy(vp->vdev);
	ratelimit_destroy(&vp->ring_addr_log);
	ratelimit_destroy(&vp->kick_log);
	ratelimit_destroy(&vp->ioeventfd_log);
	free(vp);
}

int virtio_pci_add(struct vm *vm, struct virtio_device *vdev, uint32_t class_code)
{
	struct virtio_pci *vp;
	int ret;

	if (vdev->nr_queues > VPCI_MAX_QUEUES)
		return -EINVAL;
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->vm = vm;
	vp->vdev = vdev;
	vdev->transport = &vpci_transport;
	vdev->transport_priv = vp;
	for (unsigned int i = 0; i < VPCI_MAX_VECTORS; i++)
		vp->route[i] = -1;
	for (unsigned int q = 0; q < VPCI_MAX_QUEUES; q++)
		vp->kick[q].fd = -1;
	ratelimit_init(&vp->ring_addr_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ratelimit_init(&vp->kick_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	ratelimit_init(&vp->ioeventfd_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);

	pci_device_init(&vp->pci, VIRTIO_PCI_VENDOR, VIRTIO_PCI_DEVICE_BASE + vdev->ops->device_id,
			class_code, 1, VIRTIO_PCI_VENDOR,
			VIRTIO_PCI_SUBSYS_BASE + vdev->ops->device_id);
	vp->pci.ops = &vpci_pci_ops;
	vp->pci.priv = vp;
	vp->pci.model = vdev->ops->name;
	ret = pci_device_add_bar(&vp->pci, VPCI_BAR, VPCI_BAR_SIZE, true);
	if (!ret)
		ret = vpci_add_caps(vp);
	if (!ret)
		ret = msix_init(&vp->msix, &vp->pci, vdev->nr_queues + 1, VPCI_BAR,
				VPCI_MSIX_TABLE_OFF, VPCI_MSIX_PBA_OFF, &vpci_msi_sink, vp);
	if (!ret)
		ret = vpci_setup_kicks(vp);
	if (!ret)
		ret = pci_host_add(vm->pci, &vp->pci);
	if (ret < 0) {
		pr_err("cannot add %s on PCI: %s", vdev->ops->name, strerror(-ret));
		return ret;	/* the VM is torn down; partial state goes with it */
	}
	vpci_reset(vp);
	return 0;
}
