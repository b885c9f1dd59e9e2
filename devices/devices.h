/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_DEVICES_H
#define TERN_DEVICES_H

struct vm;

/* Creates every device model of the machine and wires its interrupt. */
int devices_create(struct vm *vm);
/* Starts the I/O thread once the VM is fully built. */
int devices_start(struct vm *vm);
/* Highest SPI any device uses (sizes the vGIC). */
unsigned int devices_max_spi(const struct vm *vm);
void devices_reset(struct vm *vm);
void devices_destroy(struct vm *vm);

#endif
