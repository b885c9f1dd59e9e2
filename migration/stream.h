/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_STREAM_H
#define TERN_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/*
 * tern's snapshot and migration stream (documented in docs/stream-format.md):
 *
 *   header   magic "TERNSNAP", format version, architecture (EM_AARCH64),
 *            host page size, feature bits, CRC of the header
 *   section* type, version, instance, payload length, payload CRC, header CRC,
 *            then the payload
 *   end      a section of type STREAM_SEC_END with no payload
 *
 * All integers little-endian. CRCs are CRC-32 (zlib's crc32()).
 * The same framing carries a snapshot file and a live migration: the stream
 * reads and writes through callbacks (a file, a socket, a test buffer).
 */
#define STREAM_MAGIC		"TERNSNAP"
#define STREAM_VERSION		1
#define STREAM_ARCH_AARCH64	183	/* EM_AARCH64 */

/* Feature bits in the header: what a reader must understand to restore. */
#define STREAM_F_ITS		(1ULL << 0)	/* an ITS section follows */
#define STREAM_F_PMU		(1ULL << 1)	/* vCPUs have PMUv3 */
#define STREAM_F_COUNTER_OFFSET	(1ULL << 2)	/* CLOCK carries a VM counter value */
#define STREAM_F_KNOWN		(STREAM_F_ITS | STREAM_F_PMU | STREAM_F_COUNTER_OFFSET)

enum stream_section_type {
	STREAM_SEC_CONFIG = 1,	/* machine shape: RAM size, vCPUs, devices */
	STREAM_SEC_RAM	  = 2,	/* u64 offset into RAM, then whole pages */
	STREAM_SEC_VCPU	  = 3,	/* instance = vCPU index */
	STREAM_SEC_GIC	  = 4,
	STREAM_SEC_ITS	  = 5,
	STREAM_SEC_DEVICE = 6,	/* instance = device index */
	STREAM_SEC_CLOCK  = 7,	/* guest counter and wall time at save */
	STREAM_SEC_RAM_ZERO = 8,	/* u64 offset into RAM, u64 pages: all zero */
	STREAM_SEC_RAM_MISSING = 9,	/* post-copy: u64 offset, u64 pages the source still has */
	STREAM_SEC_POSTCOPY = 10,	/* post-copy's parameters (migration/postcopy_proto.h) */
	STREAM_SEC_SYNC	  = 11,	/* live migration: answer "synced" once read (no payload) */
	STREAM_SEC_END	  = 0xffff,
};

struct stream_header {
	uint32_t version;
	uint32_t arch;
	uint32_t page_size;
	uint64_t features;
};

struct stream_section {
	uint16_t type;
	uint16_t version;
	uint32_t instance;
	uint64_t length;	/* payload bytes */
	uint32_t crc;		/* of the payload */
};

/* Highest version and largest payload the reader accepts, per type; NULL
 * for an unknown type. */
struct stream_section_rule {
	uint16_t type;
	const char *name;	/* "vcpu", for messages */
	uint16_t version;	/* this tern reads versions 1..version */
	uint64_t max_length;
};
const struct stream_section_rule *stream_section_rule(uint16_t type);

/* Largest RAM section payload: the offset plus this much memory. */
#define STREAM_RAM_CHUNK_MAX	(64ULL << 20)

#define STREAM_ERR_MAX 256

/* The payload of a RAM_ZERO section: a run of pages that are all zero. A
 * migration sends them as markers, since the destination's page may hold
 * an older, non-zero copy. */
#define STREAM_RAM_ZERO_BYTES	16
void stream_ram_zero_encode(uint8_t out[STREAM_RAM_ZERO_BYTES], uint64_t offset,
			    uint64_t npages);
/* Decodes and bounds-checks a RAM_ZERO payload against RAM of @ram_size
 * bytes in @page_size pages: a page-aligned offset, at least one page, the
 * run inside RAM (no sum that could overflow). -EBADMSG with a message. */
int stream_ram_zero_decode(const uint8_t in[STREAM_RAM_ZERO_BYTES], uint64_t ram_size,
			   uint32_t page_size, uint64_t *offset, uint64_t *npages, char *err,
			   size_t errlen);

/* Checks a RAM section's @offset (its first 8 bytes) and the @len bytes of
 * pages after it against RAM of @ram_size bytes in @page_size pages: whole
 * pages, page-aligned, inside RAM (no sum that could overflow). -EBADMSG
 * with a message. */
int stream_ram_check(uint64_t offset, uint64_t len, uint64_t ram_size, uint32_t page_size,
		     char *err, size_t errlen);

/* A POSTCOPY payload: migration/postcopy_proto.h (pc_params). */
#define STREAM_POSTCOPY_BYTES	8

/* A RAM_MISSING payload has RAM_ZERO's layout and checks (the same
 * functions encode and decode it). */

/* I/O callbacks: like read(2)/writev(2); short transfers are retried by the
 * stream, 0 from read is end of input, -1 with errno an error. */
typedef ssize_t (*stream_read_fn)(void *opaque, void *buf, size_t len);
typedef ssize_t (*stream_writev_fn)(void *opaque, const struct iovec *iov, int iovcnt);

struct stream_writer {
	stream_writev_fn writev;
	void *opaque;
	uint64_t offset;	/* bytes written so far (including any in @buf) */
	uint64_t writes;	/* calls of @writev that wrote (a TLS record each, at least) */
	uint8_t *buf;		/* coalescing buffer: stream_writer_set_buffer */
	size_t buf_len, buf_used;
	char err[STREAM_ERR_MAX];
};

struct stream_reader {
	stream_read_fn read;
	stream_read_fn read_needed;	/* stream_reader_set_read_needed */
	void *opaque;
	uint64_t offset;	/* bytes consumed so far */
	uint64_t reads;		/* calls of @read that read */
	uint64_t payload_left;	/* of the current section */
	uint32_t crc;		/* running CRC of the current payload */
	struct stream_section cur;
	uint8_t *buf;		/* read-ahead buffer: stream_reader_set_buffer */
	size_t buf_len, buf_pos, buf_end;
	char err[STREAM_ERR_MAX];
};

/* File descriptor adapters (opaque = (void *)(intptr_t)fd). */
ssize_t stream_fd_read(void *opaque, void *buf, size_t len);
/* recv(2) with MSG_WAITALL: for a socket, as stream_reader_set_read_needed's
 * @fn. */
ssize_t stream_fd_recv_needed(void *opaque, void *buf, size_t len);
ssize_t stream_fd_writev(void *opaque, const struct iovec *iov, int iovcnt);

void stream_writer_init(struct stream_writer *w, stream_writev_fn fn, void *opaque);
int stream_write_header(struct stream_writer *w, const struct stream_header *h);
/* One section whose payload is the concatenation of @iov (zero-copy for
 * RAM: iov can point straight into guest memory). Computes the CRC first. */
int stream_write_section(struct stream_writer *w, uint16_t type, uint16_t version,
			 uint32_t instance, const struct iovec *iov, int iovcnt);
/* The end marker; then whatever is buffered is written (stream_flush). */
int stream_write_end(struct stream_writer *w);

/*
 * Coalescing, for a socket: a section (framing and payload) that fits in
 * what is left of @buf's @len bytes is copied there; one that does not goes
 * out in one writev together with what is buffered. So the many small
 * sections of a dirty round (one page, a zero-run marker) leave in few
 * large writes: on kernel TLS each write closes at least one record, and
 * under emulation a system call costs as much as a page's copy many times
 * over. Nothing is written until the buffer fills, stream_flush or
 * stream_write_end: a writer that then waits for its peer's answer must
 * flush first. @buf belongs to the caller and must outlive the writer.
 */
void stream_writer_set_buffer(struct stream_writer *w, uint8_t *buf, size_t len);
/* Writes what is buffered. 0 or -errno (message in w->err). */
int stream_flush(struct stream_writer *w);

void stream_reader_init(struct stream_reader *r, stream_read_fn fn, void *opaque);
/*
 * Read-ahead, for a socket: reads smaller than @len bytes are served from
 * @buf, refilled by one read of up to @len (whatever has arrived), so a
 * section's framing, offset and page cost one read between them; a read
 * of @len or more still goes straight to its destination. The reader may
 * take bytes past the section it is in from the fd: after the END marker
 * the caller must not read the same fd for stream data, and a protocol
 * whose peer waits for an answer before sending more (the migration
 * handshake, the ack after END) never has any there. @buf belongs to the
 * caller and must outlive the reader.
 */
void stream_reader_set_buffer(struct stream_reader *r, uint8_t *buf, size_t len);
/*
 * With a read-ahead buffer: @fn does the reads that go straight to their
 * destination (a payload of the buffer's size or more). Those ask for no
 * more than the section still holds, bytes the peer has committed to
 * send, so @fn may wait for all of them: stream_fd_recv_needed on a socket
 * takes a RAM chunk in one call instead of one per few segments or TLS
 * records, each of which kernel TLS opens with its own fixed cost. The
 * buffer's refills, which may ask for more than is coming, stay with the
 * reader's own read function.
 */
void stream_reader_set_read_needed(struct stream_reader *r, stream_read_fn fn);
/* Reads and checks the header: magic, version, architecture, page size
 * (must equal @page_size), unknown feature bits. */
int stream_read_header(struct stream_reader *r, struct stream_header *h, uint32_t page_size);
/* Reads the next section header and checks it against its rule: known type,
 * supported version, length within bounds. Any payload of the previous
 * section must have been consumed. Returns 1 for a section, 0 at the end
 * marker, -errno on error (message in r->err). */
int stream_next_section(struct stream_reader *r, struct stream_section *s);
/* Reads @len bytes of the current payload into @buf. When the payload is
 * complete, checks its CRC. -errno (truncated, CRC mismatch). */
int stream_read_payload(struct stream_reader *r, void *buf, size_t len);
/* The whole current payload into a malloc'd buffer (the rule bounds it). */
int stream_read_payload_alloc(struct stream_reader *r, void **buf, size_t *len);

#endif
