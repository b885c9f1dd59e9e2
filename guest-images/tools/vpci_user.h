/*
 * vpci_user: a virtio-pci device driven from userspace in the test guest, for
 * the hostile-guest tools (virtio-bad, logflood). Run as root.
 *
 * The device is found in sysfs by vendor 0x1af4 and device id, taken from its
 * kernel driver (sysfs unbind), given memory decoding and bus mastering, and
 * its common and notify structures (found by walking the PCI capability list
 * in sysfs config space) are mapped from the BARs. Queue 0 lives in mlock'ed
 * pages whose physical addresses come from /proc/self/pagemap.
 *
 * All state is in a struct vpci_dev that the tool owns. A function that fails
 * returns a negative errno and leaves the reason, ready to print, in err.
 * Nothing here prints or exits: the tool decides.
 */
#ifndef VPCI_USER_H
#define VPCI_USER_H

#include <stddef.h>
#include <stdint.h>

#define SYSPCI "/sys/bus/pci/devices"
#define VIRTIO_VENDOR 0x1af4

/* Device status bits and feature bits (virtio 1.x). */
#define S_ACKNOWLEDGE 0x01
#define S_DRIVER 0x02
#define S_DRIVER_OK 0x04
#define S_FEATURES_OK 0x08
#define S_NEEDS_RESET 0x40
#define S_FAILED 0x80
#define F_INDIRECT_DESC 28
#define F_VERSION_1 32

/* virtio_pci_common_cfg offsets */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_MSIX 0x10
#define C_NUMQ 0x12
#define C_STATUS 0x14
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_MSIX 0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESCLO 0x20
#define C_Q_DESCHI 0x24
#define C_Q_AVAILLO 0x28
#define C_Q_AVAILHI 0x2c
#define C_Q_USEDLO 0x30
#define C_Q_USEDHI 0x34

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2
#define DESC_F_INDIRECT 4
#define AVAIL_F_NO_INTERRUPT 1
#define NO_VECTOR 0xffff
#define QSIZE_MAX 16

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct used_elem {
	uint32_t id;
	uint32_t len;
};

/* A locked page and its physical address. */
struct page {
	void *va;
	uint64_t pa;
};

/* A virtio PCI capability (struct virtio_pci_cap, + notify_off_multiplier). */
struct cap {
	int found;
	unsigned bar;
	uint32_t offset, length, mult;
};

struct vpci_dev {
	char bdf[256];                 /* sysfs name, e.g. 0000:00:02.0 */
	struct cap common_cap, notify_cap;
	volatile uint8_t *common;      /* virtio_pci_common_cfg */
	volatile uint8_t *notify_base; /* queue N's doorbell: + its notify_off * notify_mult */
	uint32_t notify_mult;
	/* One page per ring part, plus a data page and an indirect table page. */
	struct page desc_pg, avail_pg, used_pg, data_pg, ind_pg;
	uint16_t qsize;                /* queue 0's size once set up */
	uint64_t features;             /* what the driver accepted */
	char err[512];                 /* why the last call failed */
};

/*
 * MMIO accessors. Single loads/stores without writeback, so that a hypervisor
 * trapping them gets a valid syndrome (the compiler could otherwise pick
 * addressing modes KVM cannot decode for emulated MMIO).
 */
#if defined(__aarch64__)
static inline uint8_t rd8(volatile uint8_t *p) { uint8_t v; __asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(p) : "memory"); return v; }
static inline uint16_t rd16(volatile uint8_t *p) { uint16_t v; __asm__ volatile("ldrh %w0, [%1]" : "=r"(v) : "r"(p) : "memory"); return v; }
static inline uint32_t rd32(volatile uint8_t *p) { uint32_t v; __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(p) : "memory"); return v; }
static inline void wr8(volatile uint8_t *p, uint8_t v) { __asm__ volatile("strb %w0, [%1]" : : "r"(v), "r"(p) : "memory"); }
static inline void wr16(volatile uint8_t *p, uint16_t v) { __asm__ volatile("strh %w0, [%1]" : : "r"(v), "r"(p) : "memory"); }
static inline void wr32(volatile uint8_t *p, uint32_t v) { __asm__ volatile("str %w0, [%1]" : : "r"(v), "r"(p) : "memory"); }
#define mb() __asm__ volatile("dmb sy" : : : "memory")
#else
static inline uint8_t rd8(volatile uint8_t *p) { return *p; }
static inline uint16_t rd16(volatile uint8_t *p) { return *(volatile uint16_t *)p; }
static inline uint32_t rd32(volatile uint8_t *p) { return *(volatile uint32_t *)p; }
static inline void wr8(volatile uint8_t *p, uint8_t v) { *p = v; }
static inline void wr16(volatile uint8_t *p, uint16_t v) { *(volatile uint16_t *)p = v; }
static inline void wr32(volatile uint8_t *p, uint32_t v) { *(volatile uint32_t *)p = v; }
#define mb() __sync_synchronize()
#endif

static inline void wr64(volatile uint8_t *lo, uint64_t v)
{
	wr32(lo, (uint32_t)v);
	wr32(lo + 4, (uint32_t)(v >> 32));
}

void vpci_msleep(unsigned ms);

/*
 * Finds the first virtio-pci device with ids[0], else ids[1], ... and names it
 * in d->bdf. Returns the index in ids of the id found, -ENODEV when no device
 * has any of them, or another negative errno (reason in d->err).
 */
int vpci_find(struct vpci_dev *d, const unsigned long *ids, int nids);

/*
 * Takes d's device from its kernel driver. driver gets the driver's name, or
 * "" when none was bound. 0 or a negative errno (reason in d->err).
 */
int vpci_unbind(struct vpci_dev *d, char *driver, size_t n);

/*
 * Memory decoding and bus mastering on, the common and notify capabilities
 * found (d->common_cap, d->notify_cap) and mapped (d->common, d->notify_base,
 * d->notify_mult). 0 or a negative errno (reason in d->err).
 */
int vpci_map(struct vpci_dev *d);

/* The five locked pages of d, zeroed. 0 or a negative errno (reason in d->err). */
int vpci_alloc_pages(struct vpci_dev *d);

/* Writes status 0 and waits up to ~2 s for it to read 0: 0 or -ETIMEDOUT. */
int vpci_reset(struct vpci_dev *d);

/*
 * Reset, negotiate VIRTIO_F_VERSION_1 (+ INDIRECT_DESC when offered), set
 * queue 0 up with empty rings (no interrupts) and DRIVER_OK. 0 or a negative
 * errno (reason in d->err).
 */
int vpci_init_queue0(struct vpci_dev *d);

/* Makes descriptor head available on queue 0 and notifies the device. */
void vpci_post(struct vpci_dev *d, uint16_t head);

#endif
