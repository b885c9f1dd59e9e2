/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MSIX_H
#define TERN_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/log.h"

struct pci_device;
struct state_writer;
struct state_reader;

/*
 * MSI-X for a PCI function: the capability, the vector table and the PBA
 * (both in one of the function's BARs), per-vector masking and the function
 * mask. Messages reach the interrupt controller through a sink (the VM's
 * KVM GSI routes + irqfds, or a test). A vector's route is updated only
 * when its address/data actually changed.
 */
struct msi_sink_ops {
	/* Vector @vec will be delivered as (@addr, @data) from now on. -errno. */
	int (*route)(void *opaque, unsigned int vec, uint64_t addr, uint32_t data);
	/* Deliver vector @vec now (its route is current). */
	void (*fire)(void *opaque, unsigned int vec);
	/*
	 * Optional, for a function whose interrupts do not pass through
	 * msix_notify (a passed-through device signals its vectors itself):
	 * vector @vec became live (@live: enabled, function and vector
	 * unmasked; its route was just made current) or stopped being live.
	 * With it, a live vector's rewritten message is routed at once.
	 */
	void (*set_live)(void *opaque, unsigned int vec, bool live);
};

struct msix_vector {
	uint64_t addr;
	uint32_t data;
	uint32_t ctrl;			/* bit 0: masked */
	uint64_t routed_addr;		/* what the sink was last told */
	uint32_t routed_data;
	bool routed;
};

#define MSIX_ENTRY_SIZE 16

struct msix {
	struct pci_device *pdev;
	unsigned int nr_vectors;
	struct msix_vector *vectors;
	uint64_t *pba;			/* pending bits */
	uint8_t cap;			/* capability offset in config space */
	const struct msi_sink_ops *sink;
	void *sink_opaque;
	bool enabled;			/* Message Control as of msix_config_written */
	bool masked;			/* function mask */
	pthread_mutex_t lock;		/* vCPU threads (table) vs I/O thread (notify) */
	struct ratelimit route_log;	/* the guest's message refused by the sink */
};

/* Adds the MSI-X capability to @pdev: @nr_vectors (1..2048) with the table
 * at @table_off and the PBA at @pba_off of BAR @bar (both 8-byte aligned).
 * Vectors start masked, MSI-X disabled. -errno. */
int msix_init(struct msix *m, struct pci_device *pdev, unsigned int nr_vectors, int bar,
	      uint32_t table_off, uint32_t pba_off, const struct msi_sink_ops *sink,
	      void *sink_opaque);
/* The same for a function whose config space already holds an MSI-X
 * capability at @cap (a passed-through device's): its Message Control's
 * Enable and Function Mask become guest-writable, the rest stays. */
int msix_init_at(struct msix *m, struct pci_device *pdev, uint8_t cap, unsigned int nr_vectors,
		 int bar, uint32_t table_off, uint32_t pba_off, const struct msi_sink_ops *sink,
		 void *sink_opaque);
void msix_destroy(struct msix *m);

/* Guest accesses to the table/PBA; @off relative to the table/PBA start.
 * Any offset and length is accepted: out of range reads 0, writes ignored. */
void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned int len);
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned int len);
void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned int len);

/* Call after a config write that touched the capability (enable/mask bits):
 * an unmask delivers what was pending. */
void msix_config_written(struct msix *m);

bool msix_enabled(struct msix *m);

/* The device wants vector @vec: delivered if enabled and unmasked, else its
 * pending bit is set (and delivered at unmask). Out-of-range @vec (e.g.
 * VIRTIO_MSI_NO_VECTOR) is ignored. */
void msix_notify(struct msix *m, unsigned int vec);

void msix_reset(struct msix *m);

/*
 * Snapshot state: the table, the PBA and the function's Enable and Mask.
 * Load after the function's config space (pci_device_load), which holds the
 * same two bits: they must agree. Every vector that is live after the load
 * gets its route from the sink, as after a guest's unmask, and a pending
 * one is delivered. Called with the guest stopped.
 */
int msix_save(struct msix *m, struct state_writer *w);
int msix_load(struct msix *m, struct state_reader *r);

#endif
