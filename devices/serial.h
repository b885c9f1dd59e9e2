/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_SERIAL_H
#define TERN_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/log.h"

struct state_writer;
struct state_reader;

/*
 * What the console UARTs (devices/uart16550.c, devices/pl011.c) share
 * besides their registers: the lock, a 16-byte receive FIFO the console
 * feeds, and instant transmission into a non-blocking fd that never makes
 * a vCPU wait (a byte it does not take is dropped, counted, and reported
 * through the rate limiter).
 *
 * Locking: the model holds @lock around every call here except
 * serial_init/serial_destroy and serial_rx_ready, which runs without it so
 * that the console may call the model's receive from there. A FIFO holds
 * 1 byte or SERIAL_FIFO_SIZE, as the model's FIFO enable says: @capacity.
 */
#define SERIAL_FIFO_SIZE	16

/* Called (from a vCPU thread, without the UART's lock held) when the guest
 * has drained the receive FIFO, so the console may feed more input. */
typedef void (*uart_rx_ready_fn)(void *opaque);

struct serial {
	pthread_mutex_t lock;
	uint8_t rx_fifo[SERIAL_FIFO_SIZE];
	unsigned int rx_head;		/* index of the oldest byte */
	unsigned int rx_count;
	uint64_t tx_dropped;		/* bytes out_fd did not take */
	struct ratelimit tx_drop_log;
	const char *name;		/* for messages: "uart", "pl011" */
	int out_fd;
	uart_rx_ready_fn rx_ready;
	void *rx_opaque;
};

/* 0 or -errno. */
int serial_init(struct serial *s, const char *name, int out_fd, uart_rx_ready_fn rx_ready,
		void *rx_opaque);
void serial_destroy(struct serial *s);

/* Sends @byte to out_fd, or drops and counts it. */
void serial_transmit(struct serial *s, uint8_t byte);

bool serial_rx_push(struct serial *s, uint8_t byte, unsigned int capacity);
/* The oldest byte; 0 if there is none. @drained: set when this emptied it. */
uint8_t serial_rx_pop(struct serial *s, bool *drained);
/* Empties the FIFO; returns whether bytes were thrown away. */
bool serial_rx_clear(struct serial *s);
/* Queues what fits of @buf; returns how many. */
size_t serial_rx_fill(struct serial *s, const uint8_t *buf, size_t len, unsigned int capacity);
/* Without the lock: tells the console when input was drained or dropped. */
void serial_rx_ready(struct serial *s, bool drained);

/* The end of both UARTs' snapshot state: the FIFO (u8 head, u8 count, its
 * 16 bytes as they sit) and the interrupt line (u8 0 or 1). */
void serial_rx_save(const struct serial *s, struct state_writer *w, bool line);
/* Reads them back; returns the line. */
bool serial_rx_load(struct serial *s, struct state_reader *r);
/* Refuses a loaded FIFO no guest could have left (head past the ring, more
 * bytes than @capacity) or a @line other than the registers' @level;
 * sr_fail's return, 0 if fine. */
int serial_rx_check(const struct serial *s, struct state_reader *r, unsigned int capacity,
		    bool line, bool level);

#endif
