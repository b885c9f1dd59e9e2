/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_UART16550_H
#define TERN_UART16550_H

#include <stddef.h>
#include <stdint.h>

#include "device.h"
#include "serial.h"	/* uart_rx_ready_fn */

/*
 * An NS16550A-compatible UART (8 registers, byte-wide, reg-shift 0), the
 * guest's console: "ns16550a" in the device tree, ttyS0 in Linux.
 * Transmitted bytes are written to @out_fd, which should be non-blocking:
 * the UART never waits for it (vCPU thread, under its lock), a byte it does
 * not take is dropped and counted, with a rate-limited notice. Received bytes come from the
 * console (uart16550_receive). The interrupt is level-triggered and follows
 * IER/IIR semantics (RX data available, THR empty, line status).
 */

/* Returns NULL (errno set) on allocation failure. */
struct device *uart16550_create(uint64_t base, unsigned int spi, int out_fd,
				uart_rx_ready_fn rx_ready, void *rx_opaque);

/* Queues up to @len input bytes into the receive FIFO and raises the
 * interrupt if the guest enabled it. Returns how many bytes were accepted
 * (0 when the FIFO is full: retry after rx_ready). */
size_t uart16550_receive(struct device *dev, const uint8_t *buf, size_t len);

/* Transmitted bytes out_fd did not take, since creation. */
uint64_t uart16550_tx_dropped(struct device *dev);

#endif
