// SPDX-License-Identifier: GPL-2.0-only
/*
 * MSI of a passed-through function (devices/vfio_msi.h). vfio-pci
 * virtualises the device's MSI capability (drivers/vfio/pci/vfio_pci_config.c)
 * and programs the real one itself when VFIO_DEVICE_SET_IRQS enables MSI
 * (drivers/vfio/pci/vfio_pci_intrs.c), so the guest's address and data
 * never reach the device: they become KVM routes. Everything here runs
 * under the PCI host's lock (config writes, reset) or at exit.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "vfio_host.h"
#include "vfio_msi.h"
#include "vmm/log.h"
#include "vmm/vm.h"

int vfio_msi_init(struct vfio_msi *m, const struct msi_cap *cap)
{
	memset(m, 0, sizeof(*m));
	ratelimit_init(&m->log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	if (!cap->cap)
		return 0;
	m->cap = *cap;
	return vfio_vectors_init(&m->vec, cap->max_vectors);
}

static void unbind_all(struct vfio_msi *m, struct vm *vm, const char *name)
{
	for (unsigned int v = 0; v < m->vec.nr; v++) {
		int ret = vfio_vectors_attach(&m->vec, vm, v, false);

		if (ret < 0)
			pr_warn_ratelimited(&m->log, "%s: MSI vector %u: cannot unbind its irqfd (KVM_IRQFD): %s",
					    name, v, strerror(-ret));
	}
}

void vfio_msi_off(struct vfio_msi *m, struct vm *vm, const struct vfio_host *h, const char *name)
{
	int ret;

	if (!m->cap.cap)
		return;
	unbind_all(m, vm, name);
	if (!m->on)
		return;
	ret = vfio_host_set_vectors(h, VFIO_PCI_MSI_IRQ_INDEX, NULL, 0);
	vm_trace(vm, "%s: device MSI off: %s", name, ret < 0 ? strerror(-ret) : "ok");
	if (ret < 0) {
		pr_warn_ratelimited(&m->log, "%s: cannot switch the device's MSI off (VFIO_DEVICE_SET_IRQS): %s",
				    name, strerror(-ret));
		return;
	}
	m->on = 0;
}

static void device_on(struct vfio_msi *m, struct vm *vm, const struct vfio_host *h,
		      unsigned int nr, bool msix_on, const char *name)
{
	int ret;

	if (msix_on) {
		pr_warn_ratelimited(&m->log, "%s: the guest enabled MSI while MSI-X is on (PCI forbids both): MSI stays off",
				    name);
		return;
	}
	/* What a previous enable left unread is not an interrupt of this one. */
	for (unsigned int v = 0; v < nr; v++) {
		uint64_t stale;

		if (read(m->vec.efd[v], &stale, sizeof(stale)) < 0 && errno != EAGAIN)
			pr_warn_ratelimited(&m->log, "%s: MSI vector %u: eventfd: %m", name, v);
	}
	ret = vfio_host_set_vectors(h, VFIO_PCI_MSI_IRQ_INDEX, m->vec.efd, nr);
	vm_trace(vm, "%s: device MSI on (%u vectors): %s", name, nr, ret < 0 ? strerror(-ret) : "ok");
	if (ret < 0) {
		pr_warn_ratelimited(&m->log, "%s: cannot switch the device's MSI on with %u vectors (VFIO_DEVICE_SET_IRQS): %s",
				    name, nr, strerror(-ret));
		return;
	}
	m->on = nr;
}

/* Vector @v live: routed to the guest's message, then bound; else unbound. */
static void sync_vector(struct vfio_msi *m, struct vm *vm, uint32_t devid, unsigned int v,
			const struct msi_cap_state *s, const char *name)
{
	bool live = msi_cap_vector_live(s, v);
	int ret = 0;

	if (live) {
		ret = vfio_vectors_route(&m->vec, vm, devid, v, s->addr, msi_cap_vector_data(s, v));
		if (ret < 0) {
			pr_warn_ratelimited(&m->log, "%s: MSI vector %u (address %#llx, data %#x): routing refused (KVM_SET_GSI_ROUTING): %s",
					    name, v, (unsigned long long)s->addr,
					    msi_cap_vector_data(s, v), strerror(-ret));
			live = false;
		}
	}
	ret = vfio_vectors_attach(&m->vec, vm, v, live);
	if (ret < 0)
		pr_warn_ratelimited(&m->log, "%s: MSI vector %u: cannot %s its irqfd (KVM_IRQFD): %s",
				    name, v, live ? "bind" : "unbind", strerror(-ret));
}

void vfio_msi_apply(struct vfio_msi *m, struct vm *vm, const struct vfio_host *h, uint32_t devid,
		    const struct msi_cap_state *s, bool msix_on, const char *name)
{
	unsigned int want = s->enabled ? s->nr_vectors : 0;

	if (!m->cap.cap)
		return;
	if (m->on && m->on != want)
		vfio_msi_off(m, vm, h, name);
	if (want && !m->on)
		device_on(m, vm, h, want, msix_on, name);
	for (unsigned int v = 0; v < m->on; v++)
		sync_vector(m, vm, devid, v, s, name);
}

uint32_t vfio_msi_pending(const struct vfio_msi *m, const struct msi_cap_state *s)
{
	uint32_t bits = 0;

	for (unsigned int v = 0; v < m->on && v < m->vec.nr; v++)
		if (!msi_cap_vector_live(s, v) && vfio_vectors_waiting(&m->vec, v))
			bits |= 1u << v;
	return bits;
}

void vfio_msi_destroy(struct vfio_msi *m)
{
	vfio_vectors_destroy(&m->vec);
}
