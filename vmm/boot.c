// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libfdt.h>

#include "boot.h"
#include "fdt.h"
#include "firmware.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

/* Maps a whole file read-only. Empty files map to a NULL, 0 pair. */
static int map_file(const char *path, const char *what, uint8_t **data, size_t *size)
{
	struct stat st;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		pr_err("cannot open %s %s: %s", what, path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s %s is not a regular file", what, path);
		ret = -EINVAL;
		goto out;
	}
	*size = (size_t)st.st_size;
	*data = NULL;
	if (*size) {
		*data = mmap(NULL, *size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (*data == MAP_FAILED) {
			ret = -errno;
			*data = NULL;
			pr_err("cannot map %s %s: %s", what, path, strerror(errno));
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* What --kernel holds: an Image, plain or compressed, found by content; or,
 * only when asked (--kernel-format raw), a flat binary loaded as it is. */
static int describe_kernel(const struct vm_config *cfg, struct boot_images *b, char *why,
			   size_t whylen)
{
	if (cfg->kernel_format != KERNEL_FORMAT_RAW)
		return kernel_image_probe(b->kernel, b->kernel_size, &b->kimg, why, whylen);
	b->kimg = (struct kernel_image){ .packing = KERNEL_PLAIN, .format = "raw binary",
					 .data = b->kernel, .len = b->kernel_size };
	return arm64_raw_describe(b->kernel_size, &b->kimg.image, why, whylen);
}

int boot_images_load(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct boot_images *b = &vm->boot;
	char why[256];
	int ret;

	if (cfg->firmware_path)
		return firmware_load(vm);
	ret = map_file(cfg->kernel_path, "kernel", &b->kernel, &b->kernel_size);
	if (ret < 0)
		return ret;
	ret = describe_kernel(cfg, b, why, sizeof(why));
	if (ret < 0) {
		pr_err("cannot boot kernel %s: %s%s", cfg->kernel_path, why,
		       cfg->kernel_format == KERNEL_FORMAT_RAW ? " (--kernel-format raw)" : "");
		return ret;
	}
	if (cfg->initrd_path) {
		ret = map_file(cfg->initrd_path, "initrd", &b->initrd, &b->initrd_size);
		if (ret < 0)
			return ret;
	}
	ret = boot_plan_compute(&b->kimg.image, vm->layout.ram_base, vm->layout.ram_size,
				b->initrd_size, &b->plan, why, sizeof(why));
	if (ret < 0) {
		pr_err("cannot place the boot images in RAM: %s", why);
		return ret;
	}
	return 0;
}

static int write_dtb_out(const char *path, const void *dtb, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ssize_t n;

	if (fd < 0) {
		pr_err("cannot create --dtb-out %s: %m", path);
		return -errno;
	}
	n = write(fd, dtb, size);
	if (close(fd) < 0 || n != (ssize_t)size) {
		pr_err("cannot write --dtb-out %s", path);
		return -EIO;
	}
	return 0;
}

int boot_build_dtb(struct vm *vm)
{
	struct boot_images *b = &vm->boot;
	uint64_t mpidr[LAYOUT_MAX_CPUS];
	struct fdt_params p = {
		.layout = &vm->layout,
		.mpidr = mpidr,
		.nr_cpus = vm->nr_vcpus,
		.has_pmu = vm->pmu,
		.bootargs = vm->cfg->cmdline,
		.initrd_start = b->plan.initrd_addr,
		.initrd_size = b->plan.initrd_size,
		.devices = vm->devices,
		.nr_devices = vm->nr_devices,
		.console = vm->console.uart,
	};
	int ret;

	/* The firmware's OS loader sets the command line, not tern. */
	if (vm->cfg->firmware_path)
		p.bootargs = NULL;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		mpidr[i] = vm->vcpus[i].mpidr;
	b->dtb = malloc(BOOT_DTB_MAX);
	if (!b->dtb)
		return -ENOMEM;
	ret = fdt_build(&p, b->dtb, BOOT_DTB_MAX);
	if (ret < 0)
		return ret;
	b->dtb_size = fdt_totalsize(b->dtb);
	vm_trace(vm, "boot: device tree built, %zu bytes", b->dtb_size);
	if (vm->cfg->dtb_out)
		return write_dtb_out(vm->cfg->dtb_out, b->dtb, b->dtb_size);
	return 0;
}

/*
 * Copies a mapped file into guest RAM in chunks, dropping each chunk of the
 * file mapping once copied: the page cache keeps it for a reset, and tern's
 * own RSS does not carry a second copy of a 50 MB kernel.
 */
static int copy_to_ram(struct vm *vm, uint64_t gpa, const uint8_t *src, size_t len,
		       const char *what, bool file_backed)
{
	const size_t chunk = 4 << 20;
	uint8_t *dst = gpa_to_hva(&vm->ram, gpa, len);

	if (!dst) {
		/* boot_plan_compute() placed it; reaching this is a tern bug. */
		pr_err("%s at %#llx (+%zu) is outside guest RAM", what, (unsigned long long)gpa, len);
		return -EFAULT;
	}
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		memcpy(dst + off, src + off, n);
		if (file_backed)
			madvise((void *)(src + off), n, MADV_DONTNEED);
	}
	return 0;
}

/*
 * A compressed kernel is decompressed straight into guest RAM, into the room
 * the plan gave it (its header's image_size), at every boot: a reset reloads
 * it like a plain Image. Its file's pages are dropped once read, as in
 * copy_to_ram(). A stream that fails its checks only now is refused input.
 */
static int unpack_kernel(struct vm *vm)
{
	struct boot_images *b = &vm->boot;
	uint64_t room = b->plan.kernel_end - b->plan.kernel_addr, t0 = monotonic_ns();
	uint8_t *dst = gpa_to_hva(&vm->ram, b->plan.kernel_addr, room);
	char why[256];
	ssize_t n;

	if (!dst) {
		pr_err("kernel at %#llx (+%llu) is outside guest RAM",
		       (unsigned long long)b->plan.kernel_addr, (unsigned long long)room);
		return -EFAULT;
	}
	n = kernel_image_unpack(&b->kimg, dst, room, why, sizeof(why));
	madvise(b->kernel, b->kernel_size, MADV_DONTNEED);
	if (n < 0) {
		pr_err("cannot boot kernel %s: %s", vm->cfg->kernel_path, why);
		/* Out of memory is the host's failure, the rest the file's. */
		return n == -ENOMEM ? -ENOMEM : vm_refuse_input(vm, (int)n);
	}
	vm_trace(vm, "boot: %s of %zu bytes decompressed to %zd bytes in %llu ms",
		 b->kimg.format, b->kernel_size, n,
		 (unsigned long long)((monotonic_ns() - t0) / 1000000));
	return 0;
}

int boot_load_into_ram(struct vm *vm)
{
	struct boot_images *b = &vm->boot;
	int ret;

	if (vm->cfg->firmware_path)
		return firmware_load_into_ram(vm);
	if (b->kimg.packing == KERNEL_PLAIN)
		ret = copy_to_ram(vm, b->plan.kernel_addr, b->kernel, b->kernel_size, "kernel",
				  true);
	else
		ret = unpack_kernel(vm);
	if (!ret && b->initrd_size)
		ret = copy_to_ram(vm, b->plan.initrd_addr, b->initrd, b->initrd_size, "initrd",
				  true);
	if (!ret)
		ret = copy_to_ram(vm, b->plan.dtb_addr, b->dtb, b->dtb_size, "device tree", false);
	if (!ret)
		ret = vcpu_set_boot_regs(&vm->vcpus[0], b->plan.kernel_addr, b->plan.dtb_addr);
	if (!ret)
		vm_trace(vm, "boot: kernel at %#llx, initrd at %#llx (%zu bytes), dtb at %#llx",
			 (unsigned long long)b->plan.kernel_addr,
			 (unsigned long long)b->plan.initrd_addr, b->initrd_size,
			 (unsigned long long)b->plan.dtb_addr);
	return ret;
}

void boot_images_free(struct vm *vm)
{
	struct boot_images *b = &vm->boot;

	if (b->kernel)
		munmap(b->kernel, b->kernel_size);
	if (b->initrd)
		munmap(b->initrd, b->initrd_size);
	free(b->dtb);
	memset(b, 0, sizeof(*b));
	firmware_free(vm);
}
