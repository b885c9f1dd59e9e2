// SPDX-License-Identifier: GPL-2.0-only
/*
 * Booting UEFI firmware (vmm/firmware.h). What EDK2's ArmVirtQemu needs
 * from the machine, read from its sources (ArmVirtPkg/ArmVirtQemu.dsc and
 * the libraries it names), and where tern provides it:
 *  - code executed in place at 0 (PcdFvBaseAddress): flash bank 0, a
 *    read-only memslot, so that fetches never exit;
 *  - its device tree at 0x40000000 (PcdDeviceTreeInitialBaseAddress), RAM
 *    at 0x40000000 (PcdSystemMemoryBase), at least its 64 MiB UEFI region
 *    (PcdSystemMemoryUefiRegionSize) plus what it loads;
 *  - a "cfi-flash" node for the variable store (NorFlashQemuLib, 256 KiB
 *    blocks) outside the code's bank: flash bank 1, devices/cfi_flash.c;
 *  - an "arm,pl011" console, found through /chosen/stdout-path;
 *  - an "arm,pl031" RTC (ArmVirtPL031FdtClientLib; without one the RTC
 *    architectural protocol is missing);
 *  - PSCI, the GICv3 and the architected timer: the nodes tern always has;
 *  - a "pci-host-ecam-generic" whose "ranges" hold an I/O window
 *    (FdtPciHostBridgeLib of its time refuses a bridge without one).
 * fw_cfg ("qemu,fw-cfg-mmio") is optional to it and tern has none: no
 * boot order, kernel or ACPI tables come from the host.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/cfi_flash.h"
#include "firmware.h"
#include "kvm.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

/* The variable store of ArmVirtQemu: variables, FTW working and spare
 * areas, 256 KiB each (ArmVirtPkg/VarStore.fdf.inc). */
#define VARS_MIN_SIZE	(3ULL * CFI_BLOCK_SIZE)
/* The firmware wants its 64 MiB UEFI region and room to load an OS. */
#define FIRMWARE_MIN_RAM	(128 * MiB)

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Reads the whole firmware into anonymous memory padded with 0xff (erased
 * flash) to whole erase blocks, then made read-only. */
static int read_code(struct firmware *fw, const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t done = 0;
	int ret = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		pr_err("cannot open --firmware %s: %m", path);
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > LAYOUT_FLASH_BANK_SIZE) {
		pr_err("--firmware %s: must be a regular file of 1 byte to %llu MiB (the flash bank), not %lld bytes",
		       path, LAYOUT_FLASH_BANK_SIZE / MiB, (long long)st.st_size);
		ret = -EINVAL;
		goto out;
	}
	fw->code_size = round_up((uint64_t)st.st_size, CFI_BLOCK_SIZE);
	fw->code = mmap(NULL, fw->code_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	if (fw->code == MAP_FAILED) {
		fw->code = NULL;
		ret = -errno;
		pr_err("cannot allocate %llu bytes for --firmware: %m",
		       (unsigned long long)fw->code_size);
		goto out;
	}
	memset(fw->code, 0xff, fw->code_size);
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, fw->code + done, (size_t)st.st_size - done);

		if (n <= 0) {
			pr_err("cannot read --firmware %s: %s", path, n ? strerror(errno) : "file shrank");
			ret = n ? -errno : -EIO;
			goto out;
		}
		done += (size_t)n;
	}
	if (mprotect(fw->code, fw->code_size, PROT_READ) < 0)
		ret = -errno;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

/* A new or empty file becomes a blank 64 MiB store (zeros; sparse), which
 * the firmware erases and formats at its first boot. An existing one must
 * be whole erase blocks, at least the store's three areas. */
static int check_vars_size(int fd, const char *path, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		pr_err("--firmware-vars %s is not a regular file", path);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		if (ftruncate(fd, (off_t)LAYOUT_FLASH_BANK_SIZE) < 0) {
			pr_err("cannot size --firmware-vars %s to 64 MiB: %m", path);
			return -errno;
		}
		pr_info("--firmware-vars %s: created, blank; the firmware formats it", path);
		*size = LAYOUT_FLASH_BANK_SIZE;
		return 0;
	}
	*size = (uint64_t)st.st_size;
	if (*size % CFI_BLOCK_SIZE || *size < VARS_MIN_SIZE || *size > LAYOUT_FLASH_BANK_SIZE) {
		pr_err("--firmware-vars %s: %llu bytes; a variable store is whole 256 KiB blocks, 768 KiB to 64 MiB (remove it to start blank, or copy a template such as Debian's AAVMF_VARS.fd)",
		       path, (unsigned long long)*size);
		return -EINVAL;
	}
	return 0;
}

/* The store's file mapped shared: what the guest programs is the file's. */
static int open_vars(struct firmware *fw, const char *path)
{
	int ret;

	fw->vars_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fw->vars_fd < 0) {
		pr_err("cannot open or create --firmware-vars %s: %m", path);
		return -errno;
	}
	if (flock(fw->vars_fd, LOCK_EX | LOCK_NB) < 0) {
		pr_err("--firmware-vars %s is in use by another process (flock: %m): one VM per variable store",
		       path);
		return -EBUSY;
	}
	ret = check_vars_size(fw->vars_fd, path, &fw->vars_size);
	if (ret < 0)
		return ret;
	fw->vars = mmap(NULL, fw->vars_size, PROT_READ | PROT_WRITE, MAP_SHARED, fw->vars_fd, 0);
	if (fw->vars == MAP_FAILED) {
		fw->vars = NULL;
		pr_err("cannot map --firmware-vars %s: %m", path);
		return -errno;
	}
	return 0;
}

/* Without --firmware-vars: a blank store that lives as long as tern. */
static int volatile_vars(struct firmware *fw)
{
	fw->vars_size = LAYOUT_FLASH_BANK_SIZE;
	fw->vars = mmap(NULL, fw->vars_size, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (fw->vars == MAP_FAILED) {
		fw->vars = NULL;
		pr_err("cannot allocate the variable store: %m");
		return -errno;
	}
	return 0;
}

int firmware_load(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	struct firmware *fw = &vm->fw;
	int ret;

	fw->vars_fd = -1;
	if (vm->layout.ram_size < FIRMWARE_MIN_RAM) {
		pr_err("--firmware needs --memory of at least %llu MiB (the firmware keeps 64 MiB for itself)",
		       FIRMWARE_MIN_RAM / MiB);
		return -EINVAL;
	}
	ret = read_code(fw, cfg->firmware_path);
	if (!ret)
		ret = cfg->firmware_vars_path ? open_vars(fw, cfg->firmware_vars_path)
					      : volatile_vars(fw);
	return ret;
}

/* ---- devices ---------------------------------------------------------- */

static void flash_map(void *opaque, bool mapped)
{
	struct flash_slot *s = opaque;
	struct kvm_userspace_memory_region region = {
		.slot = s->slot,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = s->gpa,
		.memory_size = mapped ? s->size : 0,
		.userspace_addr = (uint64_t)(uintptr_t)s->hva,
	};
	long ret = kvm_ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &region);

	/* Not fatal: the bank's reads then trap and are served the same way,
	 * only slower (and code fetches from it fail in the guest). */
	if (ret < 0 && !s->failed_once) {
		s->failed_once = true;
		pr_warn("flash at %#llx: cannot %s its memslot: %s",
			(unsigned long long)s->gpa, mapped ? "map" : "unmap", strerror((int)-ret));
	}
}

/* The store's erase blocks that are holes of its file (all of a new or an
 * anonymous store) hold zeros: the bank need not read them to save them
 * (cfi_flash_mark_blank). A file system without SEEK_DATA marks none. */
static void mark_blank_blocks(const struct firmware *fw, struct device *dev)
{
	for (uint64_t off = 0; off < fw->vars_size; off += CFI_BLOCK_SIZE) {
		off_t data = fw->vars_fd < 0 ? -1 : lseek(fw->vars_fd, (off_t)off, SEEK_DATA);

		if (fw->vars_fd < 0 || (data < 0 && errno == ENXIO) ||
		    (data >= 0 && (uint64_t)data >= off + CFI_BLOCK_SIZE))
			cfi_flash_mark_blank(dev, off);
	}
}

static int add_bank(struct vm *vm, struct flash_slot *s, uint64_t gpa, uint8_t *hva,
		    uint64_t size, bool readonly)
{
	struct device *dev;

	*s = (struct flash_slot){ .vm_fd = vm->vm_fd, .slot = vm_reserve_memslot(vm), .gpa = gpa,
				  .hva = hva, .size = size };
	dev = cfi_flash_create(gpa, hva, size, readonly, flash_map, s);
	if (!dev) {
		pr_err("cannot create the flash bank at %#llx: %m", (unsigned long long)gpa);
		return -ENOMEM;
	}
	flash_map(s, true);
	if (s->failed_once) {
		dev->ops->destroy(dev);
		return -EINVAL;
	}
	if (!readonly)
		mark_blank_blocks(&vm->fw, dev);
	return vm_add_device(vm, dev);
}

int firmware_flash_create(struct vm *vm)
{
	struct firmware *fw = &vm->fw;
	int ret;

	ret = add_bank(vm, &fw->code_slot, LAYOUT_FLASH_CODE_BASE, fw->code, fw->code_size, true);
	if (!ret)
		ret = add_bank(vm, &fw->vars_slot, LAYOUT_FLASH_VARS_BASE, fw->vars, fw->vars_size,
			       false);
	return ret;
}

int firmware_load_into_ram(struct vm *vm)
{
	uint8_t *dst = gpa_to_hva(&vm->ram, vm->layout.ram_base, vm->boot.dtb_size);

	if (!dst) {
		pr_err("the device tree (%zu bytes) does not fit in RAM", vm->boot.dtb_size);
		return -E2BIG;
	}
	memcpy(dst, vm->boot.dtb, vm->boot.dtb_size);
	vm_trace(vm, "boot: firmware at %#llx (%llu KiB), dtb at %#llx",
		 LAYOUT_FLASH_CODE_BASE, (unsigned long long)(vm->fw.code_size / KiB),
		 (unsigned long long)vm->layout.ram_base);
	return vcpu_set_boot_regs(&vm->vcpus[0], LAYOUT_FLASH_CODE_BASE, vm->layout.ram_base);
}

void firmware_free(struct vm *vm)
{
	struct firmware *fw = &vm->fw;

	if (!vm->cfg->firmware_path)
		return;		/* nothing was loaded; vars_fd is not set */
	if (fw->code)
		munmap(fw->code, fw->code_size);
	if (fw->vars)
		munmap(fw->vars, fw->vars_size);
	if (fw->vars_fd >= 0)
		close(fw->vars_fd);
	memset(fw, 0, sizeof(*fw));
	fw->vars_fd = -1;
}
