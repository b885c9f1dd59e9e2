// SPDX-License-Identifier: GPL-2.0-only
/*
 * Opening a host PCI function with VFIO: container, group, IOMMU, device,
 * regions (Documentation/driver-api/vfio.rst, include/uapi/linux/vfio.h).
 * Every refusal says what is wrong and what to do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"
#include "vfio_host.h"

#define VFIO_CONTAINER_PATH	"/dev/vfio/vfio"

/* The last path component of symlink @dir/@link into @out; -errno. */
static int link_name(const char *dir, const char *link, char *out, size_t outlen)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, link) >= sizeof(path))
		return -ENAMETOOLONG;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= outlen)
		return -ENAMETOOLONG;
	memcpy(out, base, strlen(base) + 1);
	return 0;
}

static int check_driver(const char *sysfs, const char *name)
{
	char driver[64];
	int ret = link_name(sysfs, "driver", driver, sizeof(driver));

	if (ret == -ENOENT) {
		pr_err("vfio %s: no driver is bound to it; bind it to vfio-pci: echo vfio-pci > %s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
		       name, sysfs, name);
		return -ENODEV;
	}
	if (ret < 0) {
		pr_err("vfio %s: cannot read %s/driver: %s", name, sysfs, strerror(-ret));
		return ret;
	}
	if (strcmp(driver, "vfio-pci")) {
		pr_err("vfio %s: bound to %s, not vfio-pci; hand it over: echo %s > %s/driver/unbind; echo vfio-pci > %s/driver_override; echo %s > /sys/bus/pci/drivers_probe",
		       name, driver, name, sysfs, sysfs, name);
		return -EBUSY;
	}
	return 0;
}

static int find_group(const char *sysfs, const char *name)
{
	char group[32];
	int ret = link_name(sysfs, "iommu_group", group, sizeof(group));

	if (ret == -ENOENT) {
		pr_err("vfio %s: the device has no IOMMU group: the host has no IOMMU for it (none in /sys/class/iommu, or it is off; e.g. arm-smmu-v3 must probe, or iommu.passthrough=1 left it out). VFIO needs one to confine the device's DMA",
		       name);
		return -ENODEV;
	}
	if (ret < 0) {
		pr_err("vfio %s: cannot read %s/iommu_group: %s", name, sysfs, strerror(-ret));
		return ret;
	}
	return atoi(group);
}

/* Which user may open @path, for the permission message. */
static void explain_access(const char *name, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		pr_err("vfio %s: permission denied opening %s (owner %u:%u, mode %03o; tern runs as %u:%u): give the user running tern that node, e.g. chown USER %s, or run tern as root",
		       name, path, st.st_uid, st.st_gid, st.st_mode & 0777, getuid(), getgid(), path);
	else
		pr_err("vfio %s: permission denied opening %s", name, path);
}

static int open_node(const char *name, const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd >= 0)
		return fd;
	fd = -errno;
	if (fd == -EACCES || fd == -EPERM)
		explain_access(name, path);
	else if (fd == -ENOENT)
		pr_err("vfio %s: %s does not exist: is the vfio module loaded (modprobe vfio-pci)?", name, path);
	else if (fd == -EBUSY)
		pr_err("vfio %s: %s is busy: another process (a VMM) holds the group", name, path);
	else
		pr_err("vfio %s: cannot open %s: %s", name, path, strerror(-fd));
	return fd;
}

/* Names the group's other devices and their drivers. */
static void explain_not_viable(const struct vfio_host *h)
{
	char dir[PATH_MAX], others[1024] = "", drv[64], devdir[PATH_MAX];
	struct dirent *e;
	size_t used = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/sys/kernel/iommu_groups/%d/devices", h->group_id);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, h->name))
			continue;
		if ((size_t)snprintf(devdir, sizeof(devdir), "%s/%s", dir, e->d_name) >= sizeof(devdir) ||
		    link_name(devdir, "driver", drv, sizeof(drv)) < 0)
			snprintf(drv, sizeof(drv), "no driver");
		used += (size_t)snprintf(others + used, used < sizeof(others) ? sizeof(others) - used : 0,
					 "%s%s (%s)", used ? ", " : "", e->d_name, drv);
		if (used >= sizeof(others))
			break;
	}
	if (d)
		closedir(d);
	pr_err("vfio %s: IOMMU group %d is not viable: every device in it must be bound to vfio-pci (or to no driver); the others are: %s",
	       h->name, h->group_id, used ? others : "(none listed)");
}

static int setup_container(struct vfio_host *h)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int type;

	if (ioctl(h->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION) {
		pr_err("vfio %s: the kernel's VFIO API version is not %d", h->name, VFIO_API_VERSION);
		return -ENOTSUP;
	}
	if (ioctl(h->group, VFIO_GROUP_GET_STATUS, &status) < 0) {
		pr_err("vfio %s: VFIO_GROUP_GET_STATUS: %m", h->name);
		return -errno;
	}
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		explain_not_viable(h);
		return -EBUSY;
	}
	if (ioctl(h->group, VFIO_GROUP_SET_CONTAINER, &h->container) < 0) {
		pr_err("vfio %s: VFIO_GROUP_SET_CONTAINER: %m", h->name);
		return -errno;
	}
	type = ioctl(h->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) > 0 ? VFIO_TYPE1v2_IOMMU
		: ioctl(h->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) > 0 ? VFIO_TYPE1_IOMMU
		: -1;
	if (type < 0) {
		pr_err("vfio %s: the host offers no type1 IOMMU backend (load vfio_iommu_type1)", h->name);
		return -ENOTSUP;
	}
	if (ioctl(h->container, VFIO_SET_IOMMU, type) < 0) {
		pr_err("vfio %s: VFIO_SET_IOMMU (type1%s): %m", h->name, type == VFIO_TYPE1v2_IOMMU ? "v2" : "");
		return -errno;
	}
	return 0;
}

static int get_device(struct vfio_host *h)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	h->fd = ioctl(h->group, VFIO_GROUP_GET_DEVICE_FD, h->name);
	if (h->fd < 0) {
		pr_err("vfio %s: VFIO_GROUP_GET_DEVICE_FD: %m", h->name);
		return -errno;
	}
	if (ioctl(h->fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
		pr_err("vfio %s: VFIO_DEVICE_GET_INFO: %m", h->name);
		return -errno;
	}
	if (!(info.flags & VFIO_DEVICE_FLAGS_PCI) || info.num_regions <= VFIO_PCI_CONFIG_REGION_INDEX ||
	    info.num_irqs <= VFIO_PCI_MSIX_IRQ_INDEX) {
		pr_err("vfio %s: not a PCI device as VFIO describes one (flags %#x, %u regions)", h->name,
		       info.flags, info.num_regions);
		return -ENOTSUP;
	}
	h->flags = info.flags;
	return 0;
}

int vfio_host_open(struct vfio_host *h, const char *sysfs)
{
	const char *base = strrchr(sysfs, '/');
	char path[64];
	int ret;

	memset(h, 0, sizeof(*h));
	h->container = h->group = h->fd = -1;
	snprintf(h->name, sizeof(h->name), "%s", base && base[1] ? base + 1 : sysfs);
	if (access(sysfs, F_OK) < 0) {
		pr_err("vfio %s: no such PCI device (%s: %m); lspci -D lists the host's", h->name, sysfs);
		return -ENODEV;
	}
	ret = check_driver(sysfs, h->name);
	if (ret < 0)
		return ret;
	h->group_id = find_group(sysfs, h->name);
	if (h->group_id < 0)
		return h->group_id;
	h->container = open_node(h->name, VFIO_CONTAINER_PATH);
	if (h->container < 0)
		return h->container;
	snprintf(path, sizeof(path), "/dev/vfio/%d", h->group_id);
	h->group = open_node(h->name, path);
	if (h->group < 0)
		return h->group;
	ret = setup_container(h);
	if (!ret)
		ret = get_device(h);
	return ret;
}

int vfio_host_map_dma(struct vfio_host *h, void *hva, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uint64_t)(uintptr_t)hva,
		.iova = iova,
		.size = size,
	};

	if (ioctl(h->container, VFIO_IOMMU_MAP_DMA, &map) < 0) {
		int err = -errno;

		pr_err("vfio %s: cannot map guest RAM for the device's DMA (VFIO_IOMMU_MAP_DMA, %llu MiB at IOVA %#llx): %s%s",
		       h->name, (unsigned long long)(size >> 20), (unsigned long long)iova, strerror(-err),
		       err == -ENOMEM ? " (pinning needs RLIMIT_MEMLOCK as large as guest RAM, or root)" : "");
		return err;
	}
	h->dma_iova = iova;
	h->dma_size = size;
	return 0;
}

/* The sparse mmap capability of @info, if any, into @r's areas. */
static void read_sparse(const struct vfio_region_info *info, struct vfio_region *r)
{
	const struct vfio_info_cap_header *hdr;
	uint32_t off = info->cap_offset;
	unsigned int hops = 0;

	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return;
	while (off && off + sizeof(*hdr) <= info->argsz && hops++ < 16) {
		hdr = (const void *)((const char *)info + off);
		if (hdr->id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			const struct vfio_region_info_cap_sparse_mmap *sp = (const void *)hdr;

			r->nr_areas = 0;
			for (uint32_t i = 0; i < sp->nr_areas && r->nr_areas < VFIO_MAX_AREAS; i++)
				if (sp->areas[i].size)
					r->areas[r->nr_areas++] = (struct vfio_span){
						sp->areas[i].offset, sp->areas[i].size };
			return;
		}
		off = hdr->next;
	}
}

static int read_region(struct vfio_host *h, uint32_t index, struct vfio_region *r)
{
	struct vfio_region_info *info = calloc(1, sizeof(*info));
	size_t argsz = sizeof(*info);

	for (int tries = 0; info && tries < 2; tries++) {
		info->argsz = (uint32_t)argsz;
		info->index = index;
		if (ioctl(h->fd, VFIO_DEVICE_GET_REGION_INFO, info) < 0) {
			int err = -errno;

			free(info);
			pr_err("vfio %s: VFIO_DEVICE_GET_REGION_INFO %u: %s", h->name, index, strerror(-err));
			return err;
		}
		if (info->argsz <= argsz)
			break;
		argsz = info->argsz;	/* room for the capabilities, then again */
		free(info);
		info = calloc(1, argsz);
	}
	if (!info)
		return -ENOMEM;
	*r = (struct vfio_region){ .index = index, .flags = info->flags, .size = info->size,
				   .offset = info->offset };
	if (info->flags & VFIO_REGION_INFO_FLAG_MMAP) {
		r->areas[0] = (struct vfio_span){ 0, info->size };
		r->nr_areas = 1;
		read_sparse(info, r);
	}
	free(info);
	return 0;
}

int vfio_host_read_regions(struct vfio_host *h)
{
	int ret = read_region(h, VFIO_PCI_CONFIG_REGION_INDEX, &h->config);

	for (uint32_t i = 0; !ret && i < 6; i++)
		ret = read_region(h, VFIO_PCI_BAR0_REGION_INDEX + i, &h->bars[i]);
	return ret;
}

static bool region_span_ok(const struct vfio_region *r, uint64_t off, unsigned int len)
{
	return len <= r->size && off <= r->size - len;
}

int vfio_host_region_read(const struct vfio_host *h, const struct vfio_region *r, uint64_t off,
			  void *data, unsigned int len)
{
	ssize_t n;

	if (!region_span_ok(r, off, len))
		return -EINVAL;
	n = pread(h->fd, data, len, (off_t)(r->offset + off));
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

int vfio_host_region_write(const struct vfio_host *h, const struct vfio_region *r, uint64_t off,
			   const void *data, unsigned int len)
{
	ssize_t n;

	if (!region_span_ok(r, off, len))
		return -EINVAL;
	n = pwrite(h->fd, data, len, (off_t)(r->offset + off));
	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

int vfio_host_set_vectors(const struct vfio_host *h, uint32_t index, const int *efds,
			  unsigned int nr)
{
	size_t size = sizeof(struct vfio_irq_set) + nr * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, size);
	int ret = 0;

	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)size;
	set->flags = (nr ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) |
		     VFIO_IRQ_SET_ACTION_TRIGGER;
	set->index = index;
	set->start = 0;
	set->count = nr;
	for (unsigned int i = 0; i < nr; i++)
		((int32_t *)set->data)[i] = efds[i];
	if (ioctl(h->fd, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = -errno;
	free(set);
	return ret;
}

bool vfio_host_has_intx(const struct vfio_host *h)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = VFIO_PCI_INTX_IRQ_INDEX };

	return ioctl(h->fd, VFIO_DEVICE_GET_IRQ_INFO, &info) == 0 && info.count == 1 &&
	       (info.flags & VFIO_IRQ_INFO_EVENTFD);
}

/* One eventfd (or none, @efd -1) for @action of INTx. */
static int intx_irqs(const struct vfio_host *h, uint32_t action, int efd)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} s = {
		.set = {
			.argsz = sizeof(s),
			.flags = (efd >= 0 ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE) | action,
			.index = VFIO_PCI_INTX_IRQ_INDEX,
			.start = 0,
			.count = efd >= 0 ? 1 : 0,
		},
		.fd = efd,
	};

	return ioctl(h->fd, VFIO_DEVICE_SET_IRQS, &s) < 0 ? -errno : 0;
}

int vfio_host_set_intx(const struct vfio_host *h, int trigger, int unmask)
{
	int ret;

	if (trigger < 0)
		return intx_irqs(h, VFIO_IRQ_SET_ACTION_TRIGGER, -1);
	/* The unmask eventfd only once the trigger exists (vfio-pci's
	 * vfio_pci_set_intx_unmask needs INTx enabled). */
	ret = intx_irqs(h, VFIO_IRQ_SET_ACTION_TRIGGER, trigger);
	if (!ret)
		ret = intx_irqs(h, VFIO_IRQ_SET_ACTION_UNMASK, unmask);
	if (ret)
		intx_irqs(h, VFIO_IRQ_SET_ACTION_TRIGGER, -1);
	return ret;
}

int vfio_host_reset(const struct vfio_host *h)
{
	if (h->fd < 0 || !(h->flags & VFIO_DEVICE_FLAGS_RESET))
		return 0;
	return ioctl(h->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
}

void vfio_host_close(struct vfio_host *h)
{
	if (h->dma_size && h->container >= 0) {
		struct vfio_iommu_type1_dma_unmap unmap = {
			.argsz = sizeof(unmap), .iova = h->dma_iova, .size = h->dma_size,
		};

		if (ioctl(h->container, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
			pr_warn("vfio %s: VFIO_IOMMU_UNMAP_DMA: %m (closing the container unmaps it)", h->name);
		h->dma_size = 0;
	}
	if (h->fd >= 0)
		close(h->fd);
	if (h->group >= 0)
		close(h->group);
	if (h->container >= 0)
		close(h->container);
	h->fd = h->group = h->container = -1;
}
