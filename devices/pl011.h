/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_PL011_H
#define TERN_PL011_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "serial.h"

/*
 * An ARM PrimeCell PL011 UART ("arm,pl011", "arm,primecell"): the console
 * of a firmware boot (EDK2 finds it through /chosen/stdout-path), ttyAMA0 in
 * Linux. Like the 16550, transmission is instant (the TX FIFO always reads
 * empty) into the non-blocking @out_fd, dropping what it does not take; a
 * 16-byte receive FIFO is fed by the console (pl011_receive). The one
 * interrupt line is level-triggered: RIS & IMSC.
 *
 * Its node carries the clocks Linux's amba-pl011 driver requires (a fixed
 * 24 MHz "apb-pclk" clock node at the root, phandle FDT_PL011_CLK_PHANDLE).
 */
#define FDT_PL011_CLK_PHANDLE	3

struct device *pl011_create(uint64_t base, unsigned int spi, int out_fd,
			    uart_rx_ready_fn rx_ready, void *rx_opaque);

/* Queues up to @len input bytes; returns how many fit (0: FIFO full, retry
 * after rx_ready). */
size_t pl011_receive(struct device *dev, const uint8_t *buf, size_t len);

#endif
