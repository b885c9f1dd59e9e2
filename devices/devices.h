/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DEVICES_H
#define TERN_DEVICES_H

#include <stdbool.h>
#include <stddef.h>

struct vm;
struct state_writer;
struct state_reader;

/* Creates every device model of the machine and wires its interrupt. */
int devices_create(struct vm *vm);
/* Starts the I/O thread once the VM is fully built. */
int devices_start(struct vm *vm);
/* Highest SPI any device uses (sizes the vGIC). */
unsigned int devices_max_spi(const struct vm *vm);
void devices_reset(struct vm *vm);
void devices_destroy(struct vm *vm);

/* true if some device's state cannot be saved or moved (a passed-through
 * host device), with what and why in @why:
 * snapshots and migrations check it before they start. */
bool devices_migration_blocker(struct vm *vm, char *why, size_t len);

/* Devices with snapshot state, in an order fixed by the configuration:
 * the UART (with --firmware: then both flash banks, the PL031, the PL011),
 * then each PCI function by slot. Names such as "uart16550" and
 * "pci 00:02.0 virtio-blk" are stable for a configuration. */
unsigned int devices_state_count(const struct vm *vm);
const char *devices_state_name(const struct vm *vm, unsigned int i);
/* Between devices_pause() and devices_resume(); -errno (-EBUSY: not
 * quiesced), logged with the device's name. */
int devices_state_save(struct vm *vm, unsigned int i, struct state_writer *w);
/* Called between devices_pause() and devices_resume(), before any vCPU runs.
 * The reader must hold device i's state and nothing else (sr_finish).
 * -errno, message logged with pr_err naming the device. A refused state may
 * leave the device half-loaded: the VM must not run then. */
int devices_state_load(struct vm *vm, unsigned int i, struct state_reader *r);
/* The I/O thread paused with nothing in flight: every device finished its
 * requests (virtio-blk's I/O completed into the used ring). On failure
 * nothing stays paused. -errno. */
int devices_pause(struct vm *vm);
void devices_resume(struct vm *vm);

#endif
