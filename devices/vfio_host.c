// SPDX-License-Identifier: GPL-2.0-only
/*
 * Opening a host PCI function with VFIO, then its regions: either through
 * the container and group with the type1 IOMMU, or through the device's
 * own node bound to an iommufd (Documentation/driver-api/vfio.rst,
 * Documentation/userspace-api/iommufd.rst, include/uapi/linux/vfio.h and
 * iommufd.h). Every refusal says what is wrong and what to do.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/iommufd.h>

#include "vmm/log.h"
#include "vfio_host.h"

#define VFIO_CONTAINER_PATH	"/dev/vfio/vfio"
#define IOMMUFD_PATH		"/dev/iommu"

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
	else if (fd == -ENOENT && !strcmp(path, IOMMUFD_PATH))
		pr_err("vfio %s: %s does not exist: the host kernel has no iommufd (CONFIG_IOMMUFD); leave iommufd=on out to use the type1 container", name, path);
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

/* What the device is, through its fd. */
static int device_info(struct vfio_host *h)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

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

/* The container and group way: the group's device fd. */
static int open_in_container(struct vfio_host *h)
{
	char path[64];
	int ret;

	h->container = open_node(h->name, VFIO_CONTAINER_PATH);
	if (h->container < 0)
		return h->container;
	snprintf(path, sizeof(path), "/dev/vfio/%d", h->group_id);
	h->group = open_node(h->name, path);
	if (h->group < 0)
		return h->group;
	ret = setup_container(h);
	if (ret)
		return ret;
	h->fd = ioctl(h->group, VFIO_GROUP_GET_DEVICE_FD, h->name);
	if (h->fd < 0) {
		pr_err("vfio %s: VFIO_GROUP_GET_DEVICE_FD: %m", h->name);
		return -errno;
	}
	return 0;
}

/* The device's own node, /dev/vfio/devices/vfioN, named in its sysfs
 * directory's vfio-dev/ (CONFIG_VFIO_DEVICE_CDEV). */
static int cdev_path(const struct vfio_host *h, const char *sysfs, char *out, size_t outlen)
{
	char dir[PATH_MAX];
	struct dirent *e;
	DIR *d;
	int ret = -ENOENT;

	snprintf(dir, sizeof(dir), "%s/vfio-dev", sysfs);
	d = opendir(dir);
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, "vfio", 4) && strlen(e->d_name) < 32) {
			snprintf(out, outlen, "/dev/vfio/devices/%s", e->d_name);
			ret = 0;
			break;
		}
	if (d)
		closedir(d);
	/* sysfs names the device even where the kernel makes no node for it. */
	if (!ret && access(out, F_OK) < 0)
		ret = -ENOENT;
	if (ret)
		pr_err("vfio %s: no node under /dev/vfio/devices for it (%s): the host kernel gives VFIO devices no node of their own (CONFIG_VFIO_DEVICE_CDEV), which iommufd=on needs; leave it out to use the type1 container",
		       h->name, dir);
	return ret;
}

/*
 * The iommufd way: bind the device's node to an iommufd, then attach it to
 * a new IO address space, where guest RAM is mapped later. Binding comes
 * first: until then the device's fd allows no other ioctl
 * (Documentation/driver-api/vfio.rst, "VFIO device cdev").
 */
static int open_with_iommufd(struct vfio_host *h, const char *sysfs)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = offsetof(struct vfio_device_bind_iommufd, out_devid) + sizeof(bind.out_devid),
	};
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = offsetof(struct vfio_device_attach_iommufd_pt, pt_id) + sizeof(attach.pt_id),
	};
	char path[64];
	int ret;

	h->iommufd = open_node(h->name, IOMMUFD_PATH);
	if (h->iommufd < 0)
		return h->iommufd;
	ret = cdev_path(h, sysfs, path, sizeof(path));
	if (ret)
		return ret;
	h->fd = open_node(h->name, path);
	if (h->fd < 0)
		return h->fd;
	bind.iommufd = h->iommufd;
	if (ioctl(h->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0) {
		ret = -errno;
		pr_err("vfio %s: VFIO_DEVICE_BIND_IOMMUFD: %s%s", h->name, strerror(-ret),
		       ret == -EBUSY ? " (another process, or this one through its group, has the device)" : "");
		return ret;
	}
	if (ioctl(h->iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0) {
		ret = -errno;
		pr_err("vfio %s: IOMMU_IOAS_ALLOC: %s", h->name, strerror(-ret));
		return ret;
	}
	h->ioas_id = alloc.out_ioas_id;
	attach.pt_id = h->ioas_id;
	if (ioctl(h->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0) {
		ret = -errno;
		pr_err("vfio %s: VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", h->name, strerror(-ret));
		return ret;
	}
	return 0;
}

int vfio_host_open(struct vfio_host *h, const char *sysfs, bool iommufd)
{
	const char *base = strrchr(sysfs, '/');
	int ret;

	memset(h, 0, sizeof(*h));
	h->container = h->group = h->fd = h->iommufd = -1;
	snprintf(h->name, sizeof(h->name), "%s", base && base[1] ? base + 1 : sysfs);
	if (access(sysfs, F_OK) < 0) {
		pr_err("vfio %s: no such PCI device (%s: %m); lspci -D lists the host's", h->name, sysfs);
		return -ENODEV;
	}
	ret = check_driver(sysfs, h->name);
	if (ret < 0)
		return ret;
	/* Either way the device needs an IOMMU group: VFIO's proof that an
	 * IOMMU confines its DMA. */
	h->group_id = find_group(sysfs, h->name);
	if (h->group_id < 0)
		return h->group_id;
	ret = iommufd ? open_with_iommufd(h, sysfs) : open_in_container(h);
	if (!ret)
		ret = device_info(h);
	return ret;
}

static void dma_map_failed(const struct vfio_host *h, const char *how, uint64_t iova,
			   uint64_t size, int err)
{
	pr_err("vfio %s: cannot map guest RAM for the device's DMA (%s, %llu MiB at IOVA %#llx): %s%s",
	       h->name, how, (unsigned long long)(size >> 20), (unsigned long long)iova,
	       strerror(-err),
	       err == -ENOMEM ? " (pinning needs RLIMIT_MEMLOCK as large as guest RAM, or root)" : "");
}

static int map_ioas(struct vfio_host *h, void *hva, uint64_t iova, uint64_t size)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = h->ioas_id,
		.user_va = (uint64_t)(uintptr_t)hva,
		.length = size,
		.iova = iova,
	};

	if (ioctl(h->iommufd, IOMMU_IOAS_MAP, &map) < 0) {
		int err = -errno;

		dma_map_failed(h, "IOMMU_IOAS_MAP", iova, size, err);
		return err;
	}
	return 0;
}

static int map_type1(struct vfio_host *h, void *hva, uint64_t iova, uint64_t size)
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

		dma_map_failed(h, "VFIO_IOMMU_MAP_DMA", iova, size, err);
		return err;
	}
	return 0;
}

int vfio_host_map_dma(struct vfio_host *h, void *hva, uint64_t iova, uint64_t size)
{
	int ret = h->iommufd >= 0 ? map_ioas(h, hva, iova, size) : map_type1(h, hva, iova, size);

	if (!ret) {
		h->dma_iova = iova;
		h->dma_size = size;
	}
	return ret;
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
	if (h->dma_size && h->iommufd >= 0) {
		struct iommu_ioas_unmap unmap = {
			.size = sizeof(unmap), .ioas_id = h->ioas_id, .iova = h->dma_iova,
			.length = h->dma_size,
		};

		if (ioctl(h->iommufd, IOMMU_IOAS_UNMAP, &unmap) < 0)
			pr_warn("vfio %s: IOMMU_IOAS_UNMAP: %m (closing the iommufd unmaps it)", h->name);
		h->dma_size = 0;
	}
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
	/* The device first: closing its fd unbinds it from the iommufd. */
	if (h->iommufd >= 0)
		close(h->iommufd);
	h->fd = h->group = h->container = h->iommufd = -1;
}
