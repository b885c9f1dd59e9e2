// SPDX-License-Identifier: GPL-2.0-only
/* The console UARTs' shared core (devices/serial.h). */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "device_state.h"
#include "serial.h"

/* Bound on retries of a write interrupted or making no progress. */
#define SERIAL_TX_TRIES		4

int serial_init(struct serial *s, const char *name, int out_fd, uart_rx_ready_fn rx_ready,
		void *rx_opaque)
{
	int err = pthread_mutex_init(&s->lock, NULL);

	if (err)
		return -err;
	s->name = name;
	s->out_fd = out_fd;
	s->rx_ready = rx_ready;
	s->rx_opaque = rx_opaque;
	ratelimit_init(&s->tx_drop_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);
	return 0;
}

void serial_destroy(struct serial *s)
{
	pthread_mutex_destroy(&s->lock);
	ratelimit_destroy(&s->tx_drop_log);
}

/*
 * Returns 0, or a positive errno once the byte is dropped. This runs on a
 * vCPU thread under the UART's lock, so it never waits: out_fd is
 * non-blocking (the console's buffer, drained by its writer thread), and
 * a full or broken one loses the byte. A console reader that stops reading
 * then costs bytes, never a stuck vCPU, pause or quit.
 */
static int write_byte(int fd, uint8_t byte)
{
	for (int tries = 0; tries < SERIAL_TX_TRIES; tries++) {
		ssize_t n = write(fd, &byte, 1);

		if (n == 1)
			return 0;
		if (n < 0 && errno != EINTR)
			return errno;
	}
	return EAGAIN;
}

void serial_transmit(struct serial *s, uint8_t byte)
{
	int err = write_byte(s->out_fd, byte);

	if (!err)
		return;
	s->tx_dropped++;
	pr_warn_ratelimited(&s->tx_drop_log,
			    "%s: console output dropped: %s (%" PRIu64 " bytes so far; %s)",
			    s->name, strerror(err), s->tx_dropped,
			    err == EAGAIN ? "its reader is not keeping up" : "the output is broken");
}

bool serial_rx_push(struct serial *s, uint8_t byte, unsigned int capacity)
{
	if (s->rx_count >= capacity)
		return false;
	s->rx_fifo[(s->rx_head + s->rx_count) % SERIAL_FIFO_SIZE] = byte;
	s->rx_count++;
	return true;
}

uint8_t serial_rx_pop(struct serial *s, bool *drained)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx_fifo[s->rx_head];
	s->rx_head = (s->rx_head + 1) % SERIAL_FIFO_SIZE;
	*drained = --s->rx_count == 0;
	return byte;
}

bool serial_rx_clear(struct serial *s)
{
	bool had_data = s->rx_count > 0;

	s->rx_head = 0;
	s->rx_count = 0;
	return had_data;
}

size_t serial_rx_fill(struct serial *s, const uint8_t *buf, size_t len, unsigned int capacity)
{
	size_t n = 0;

	while (n < len && serial_rx_push(s, buf[n], capacity))
		n++;
	return n;
}

void serial_rx_ready(struct serial *s, bool drained)
{
	if (drained && s->rx_ready)
		s->rx_ready(s->rx_opaque);
}

void serial_rx_save(const struct serial *s, struct state_writer *w, bool line)
{
	sw_u8(w, (uint8_t)s->rx_head);
	sw_u8(w, (uint8_t)s->rx_count);
	sw_bytes(w, s->rx_fifo, sizeof(s->rx_fifo));
	sw_u8(w, line);
}

bool serial_rx_load(struct serial *s, struct state_reader *r)
{
	s->rx_head = sr_u8(r);
	s->rx_count = sr_u8(r);
	sr_bytes(r, s->rx_fifo, sizeof(s->rx_fifo));
	return dev_state_bool(r, "interrupt line");
}

int serial_rx_check(const struct serial *s, struct state_reader *r, unsigned int capacity,
		    bool line, bool level)
{
	if (s->rx_head >= SERIAL_FIFO_SIZE)
		return sr_fail(r, "receive FIFO head %u is past the %u-byte FIFO", s->rx_head,
			       SERIAL_FIFO_SIZE);
	if (s->rx_count > capacity)
		return sr_fail(r, "receive FIFO holds %u bytes, more than its %u", s->rx_count,
			       capacity);
	if (line != level)
		return sr_fail(r, "interrupt line %s while the registers say %s",
			       line ? "high" : "low", level ? "high" : "low");
	return 0;
}
