// SPDX-License-Identifier: GPL-2.0-only
/*
 * CFI NOR flash, Intel command set, two x16 chips on a 32-bit bus
 * (devices/cfi_flash.h). Program and erase complete at once: the status
 * register always reads ready (SR.7), with an error bit where the guest's
 * command sequence was wrong. Every guest write is a command or data for
 * one, checked against the bank's bounds before anything is written.
 *
 * Commands (Intel StrataFlash P30 datasheet's command set; what EDK2's
 * OvmfPkg/VirtNorFlashDxe sends): 0xFF read array, 0x70 read status, 0x50
 * clear status, 0x90 read identifier, 0x98 CFI query, 0x40/0x10 word
 * program, 0x20+0xD0 block erase, 0xE8+count+data+0xD0 buffered program,
 * 0x60+0x01/0xD0/0x2F block lock/unlock/lock-down (blocks are never locked).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>
#include <openssl/evp.h>

#include "vmm/fdt.h"
#include "vmm/log.h"
#include "cfi_flash.h"
#include "device_state.h"

#define CMD_READ_ARRAY		0xff
#define CMD_READ_STATUS		0x70
#define CMD_CLEAR_STATUS	0x50
#define CMD_READ_ID		0x90
#define CMD_CFI_QUERY		0x98
#define CMD_WORD_PROGRAM	0x40
#define CMD_WORD_PROGRAM_ALT	0x10
#define CMD_BLOCK_ERASE		0x20
#define CMD_BUFFERED_PROGRAM	0xe8
#define CMD_CONFIRM		0xd0
#define CMD_LOCK_SETUP		0x60
#define CMD_LOCK_BLOCK		0x01
#define CMD_LOCK_DOWN		0x2f

#define SR_READY		0x80
#define SR_ERASE_ERROR		0x20
#define SR_PROGRAM_ERROR	0x10
#define SR_SEQUENCE_ERROR	(SR_ERASE_ERROR | SR_PROGRAM_ERROR)

/* Identifier codes: Intel's manufacturer code and a P30-family device. */
#define ID_MANUFACTURER		0x89
#define ID_DEVICE		0x18

enum cfi_mode { MODE_ARRAY, MODE_STATUS, MODE_ID, MODE_CFI };

/* What the next write is, after a command that takes more than one. */
enum cfi_wait {
	WAIT_COMMAND,
	WAIT_PROGRAM_DATA,
	WAIT_ERASE_CONFIRM,
	WAIT_LOCK_CONFIRM,
	WAIT_BUFFER_COUNT,
	WAIT_BUFFER_DATA,
	WAIT_BUFFER_CONFIRM,
};

struct cfi_flash {
	struct device dev;
	pthread_mutex_t lock;
	uint8_t *array;
	bool readonly;
	cfi_map_fn map;
	void *map_opaque;

	enum cfi_mode mode;
	enum cfi_wait wait;
	uint8_t status;			/* error bits; SR_READY is added on read */
	uint64_t buf_base;		/* buffered program: first word's offset */
	unsigned int buf_count;		/* words announced */
	unsigned int buf_filled;	/* words received */
	uint32_t buf[CFI_BUFFER_WORDS];
	bool buf_seen[CFI_BUFFER_WORDS];
	uint8_t code_hash[CFI_HASH_SIZE];	/* a read-only bank's, made at creation */
	/* Erase blocks known to hold only zeros (a new store file's holes):
	 * a snapshot sends them without reading them, and a restore leaves
	 * them alone, since touching 64 MiB of holes page by page costs
	 * seconds of page faults during a migration's downtime. */
	uint64_t blank[CFI_MAX_BLOCKS / 64];
};

static struct cfi_flash *to_flash(struct device *dev)
{
	return (struct cfi_flash *)((char *)dev - offsetof(struct cfi_flash, dev));
}

static uint32_t dual(uint16_t v)
{
	return (uint32_t)v << 16 | v;
}

static void set_mode(struct cfi_flash *f, enum cfi_mode mode)
{
	bool was_array = f->mode == MODE_ARRAY;

	f->mode = mode;
	if (f->map && was_array != (mode == MODE_ARRAY))
		f->map(f->map_opaque, mode == MODE_ARRAY);
}

/* ---------------------------------------------------------------- reads */

/* One chip's CFI query table entry at word index @i (the table of the CFI
 * specification, JESD68.01), for a chip holding half the bank. */
static uint16_t cfi_query(const struct cfi_flash *f, uint64_t i)
{
	uint64_t chip_size = f->dev.mmio_size / 2, blocks = f->dev.mmio_size / CFI_BLOCK_SIZE;
	unsigned int size_log2 = 63 - (unsigned int)__builtin_clzll(chip_size);
	uint32_t chip_block = CFI_BLOCK_SIZE / 2 / 256;

	switch (i) {
	case 0x10: return 'Q';
	case 0x11: return 'R';
	case 0x12: return 'Y';
	case 0x13: return 0x01;			/* primary command set: Intel/Sharp */
	case 0x1b: return 0x45;			/* Vcc min 4.5 V */
	case 0x1c: return 0x55;			/* Vcc max 5.5 V */
	case 0x1f: return 0x01;			/* typical word program: 2 us */
	case 0x20: return 0x01;			/* typical buffer write: 2 us */
	case 0x21: return 0x01;			/* typical block erase: 2 ms */
	case 0x27: return (uint16_t)size_log2;	/* chip size: 2^n bytes */
	case 0x28: return 0x01;			/* x16 interface */
	case 0x2a: return 0x06;			/* write buffer: 2^6 bytes per chip */
	case 0x2c: return 0x01;			/* one erase block region */
	case 0x2d: return (uint16_t)((blocks - 1) & 0xff);
	case 0x2e: return (uint16_t)((blocks - 1) >> 8);
	case 0x2f: return (uint16_t)(chip_block & 0xff);
	case 0x30: return (uint16_t)(chip_block >> 8);
	default: return 0;
	}
}

/* What the 32-bit word at @off (aligned) reads in the current mode. */
static uint32_t word_value(const struct cfi_flash *f, uint64_t off)
{
	uint32_t w;

	switch (f->mode) {
	case MODE_ARRAY:
		memcpy(&w, f->array + off, sizeof(w));
		return w;
	case MODE_STATUS:
		return dual(SR_READY | f->status);
	case MODE_ID:
		switch ((off % CFI_BLOCK_SIZE) / 4) {
		case 0: return dual(ID_MANUFACTURER);
		case 1: return dual(ID_DEVICE);
		default: return 0;	/* word 2: the block's lock status, unlocked */
		}
	case MODE_CFI:
		return dual(cfi_query(f, off / 4));
	}
	return 0;
}

static void flash_mmio_read(struct device *dev, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct cfi_flash *f = to_flash(dev);

	pthread_mutex_lock(&f->lock);
	for (unsigned int i = 0; i < len; i++) {
		uint64_t addr = offset + i;

		data[i] = (uint8_t)(word_value(f, addr & ~3ULL) >> (8 * (addr & 3)));
	}
	pthread_mutex_unlock(&f->lock);
}

/* ---------------------------------------------------------------- writes */

static bool block_blank(const struct cfi_flash *f, uint64_t off)
{
	uint64_t b = off / CFI_BLOCK_SIZE;

	return f->blank[b / 64] >> (b % 64) & 1;
}

static void set_block_blank(struct cfi_flash *f, uint64_t off, bool blank)
{
	uint64_t b = off / CFI_BLOCK_SIZE, bit = 1ULL << (b % 64);

	f->blank[b / 64] = blank ? f->blank[b / 64] | bit : f->blank[b / 64] & ~bit;
}

/* Flash programming only clears bits. */
static void program_word(struct cfi_flash *f, uint64_t off, uint32_t value)
{
	uint32_t w;

	set_block_blank(f, off, false);
	memcpy(&w, f->array + off, sizeof(w));
	w &= value;
	memcpy(f->array + off, &w, sizeof(w));
}

static void erase_block(struct cfi_flash *f, uint64_t off)
{
	set_block_blank(f, off, false);
	memset(f->array + off - off % CFI_BLOCK_SIZE, 0xff, CFI_BLOCK_SIZE);
}

/* The count word of a buffered program: words - 1 in each chip's half. The
 * buffer may not cross its erase block nor the bank's end. */
static void buffer_count(struct cfi_flash *f, uint32_t value)
{
	unsigned int count = (value & 0xffff) + 1;
	uint64_t end = f->buf_base + 4ULL * count;

	if (count > CFI_BUFFER_WORDS || end > f->dev.mmio_size ||
	    f->buf_base / CFI_BLOCK_SIZE != (end - 1) / CFI_BLOCK_SIZE) {
		f->status |= SR_SEQUENCE_ERROR;
		f->wait = WAIT_COMMAND;
		return;
	}
	f->buf_count = count;
	f->buf_filled = 0;
	memset(f->buf_seen, 0, sizeof(f->buf_seen));
	f->wait = WAIT_BUFFER_DATA;
}

static void buffer_data(struct cfi_flash *f, uint64_t off, uint32_t value)
{
	uint64_t i = (off - f->buf_base) / 4;

	if (off < f->buf_base || i >= f->buf_count || f->buf_seen[i]) {
		f->status |= SR_SEQUENCE_ERROR;
		f->wait = WAIT_COMMAND;
		return;
	}
	f->buf[i] = value;
	f->buf_seen[i] = true;
	if (++f->buf_filled == f->buf_count)
		f->wait = WAIT_BUFFER_CONFIRM;
}

static void buffer_program(struct cfi_flash *f)
{
	for (unsigned int i = 0; i < f->buf_count; i++)
		program_word(f, f->buf_base + 4ULL * i, f->buf[i]);
}

/* A write that starts a command (nothing was waiting for data). */
static void command(struct cfi_flash *f, uint64_t off, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_STATUS:
		set_mode(f, MODE_STATUS);
		return;
	case CMD_CLEAR_STATUS:
		f->status = 0;
		return;
	case CMD_READ_ID:
		set_mode(f, MODE_ID);
		return;
	case CMD_CFI_QUERY:
		set_mode(f, MODE_CFI);
		return;
	case CMD_WORD_PROGRAM:
	case CMD_WORD_PROGRAM_ALT:
		f->wait = WAIT_PROGRAM_DATA;
		break;
	case CMD_BLOCK_ERASE:
		f->wait = WAIT_ERASE_CONFIRM;
		break;
	case CMD_LOCK_SETUP:
		f->wait = WAIT_LOCK_CONFIRM;
		break;
	case CMD_BUFFERED_PROGRAM:
		f->buf_base = off;
		f->wait = WAIT_BUFFER_COUNT;
		break;
	default:
		/* 0xFF, and commands this flash does not have (suspend,
		 * protection registers, other vendors' resets): read array. */
		set_mode(f, MODE_ARRAY);
		return;
	}
	/* The setup of a multi-cycle command reads back the status (the
	 * buffered program's "buffer available" bit among them). */
	set_mode(f, MODE_STATUS);
}

/* The write completing a multi-cycle command, or data for one. */
static void continue_command(struct cfi_flash *f, uint64_t off, uint32_t value)
{
	uint8_t cmd = (uint8_t)value;
	enum cfi_wait wait = f->wait;

	f->wait = WAIT_COMMAND;
	switch (wait) {
	case WAIT_PROGRAM_DATA:
		program_word(f, off, value);
		break;
	case WAIT_ERASE_CONFIRM:
		if (cmd == CMD_CONFIRM)
			erase_block(f, off);
		else
			f->status |= SR_SEQUENCE_ERROR;
		break;
	case WAIT_LOCK_CONFIRM:
		if (cmd != CMD_LOCK_BLOCK && cmd != CMD_CONFIRM && cmd != CMD_LOCK_DOWN)
			f->status |= SR_SEQUENCE_ERROR;
		break;
	case WAIT_BUFFER_COUNT:
		buffer_count(f, value);
		break;
	case WAIT_BUFFER_DATA:
		f->wait = WAIT_BUFFER_DATA;
		buffer_data(f, off, value);
		break;
	case WAIT_BUFFER_CONFIRM:
		if (cmd == CMD_CONFIRM)
			buffer_program(f);
		else
			f->status |= SR_SEQUENCE_ERROR;
		break;
	case WAIT_COMMAND:
		break;
	}
	set_mode(f, MODE_STATUS);
}

/*
 * Only aligned 32-bit writes reach the chips: the bus is 32 bits wide and
 * every command goes to both. Anything else is dropped with the sequence
 * error bits set, the mode unchanged.
 *
 * A read-only bank is a ROM: it ignores every write and stays in read-array
 * mode. EDK2's early code, running in place, stores to globals of its own
 * image (seen: an 8-byte store at 0x1cb20 of QEMU_EFI.fd); a command
 * value there must not take the code the vCPU is executing away.
 */
static void flash_mmio_write(struct device *dev, uint64_t offset, const uint8_t *data,
			     unsigned int len)
{
	struct cfi_flash *f = to_flash(dev);
	uint32_t value;

	if (f->readonly)
		return;
	pthread_mutex_lock(&f->lock);
	if (len != 4 || (offset & 3)) {
		f->status |= SR_SEQUENCE_ERROR;
	} else {
		memcpy(&value, data, sizeof(value));
		if (f->wait == WAIT_COMMAND)
			command(f, offset, (uint8_t)value);
		else
			continue_command(f, offset, value);
	}
	pthread_mutex_unlock(&f->lock);
}

/* ---------------------------------------------------------------- device */

static int flash_fdt_node(struct device *dev, void *fdt, uint32_t gic_phandle)
{
	char name[32];
	int node, err;

	(void)gic_phandle;
	snprintf(name, sizeof(name), "flash@%" PRIx64, dev->mmio_base);
	node = fdt_add_subnode(fdt, 0, name);
	if (node < 0) {
		pr_err("cfi flash: device tree: %s: %s", name, fdt_strerror(node));
		return node == -FDT_ERR_NOSPACE ? -ENOSPC : -EINVAL;
	}
	err = fdt_setprop_string(fdt, node, "compatible", "cfi-flash");
	if (!err)
		err = fdt_setprop_u32(fdt, node, "bank-width", 4);
	if (err) {
		pr_err("cfi flash: device tree: %s: %s", name, fdt_strerror(err));
		return -ENOSPC;
	}
	err = fdt_prop_reg(fdt, node, dev->mmio_base, dev->mmio_size);
	return err ? err : node;
}

static void flash_reset(struct device *dev)
{
	struct cfi_flash *f = to_flash(dev);

	pthread_mutex_lock(&f->lock);
	f->wait = WAIT_COMMAND;
	f->status = 0;
	set_mode(f, MODE_ARRAY);
	pthread_mutex_unlock(&f->lock);
}

static void flash_destroy(struct device *dev)
{
	struct cfi_flash *f = to_flash(dev);

	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---------------------------------------------------------------- snapshot */

/*
 * A read-only bank (the firmware) saves only its size and SHA-256: both
 * sides must run the very same firmware file, which the guest executes in
 * place and which is never in the stream. A writable bank (the variable
 * store) saves its command state and its whole contents, since the other
 * side may be another host: page by page (CFI_STATE_PAGE bytes), a page
 * that is one byte repeated (erased, or a blank file's zeros) as that byte,
 * any other as its bytes, so a 64 MiB store that holds 768 KiB of
 * variables costs well under 1 MiB.
 */
#define CFI_STATE_VERSION	1
#define CFI_STATE_PAGE		4096u
#define PAGE_UNIFORM		0
#define PAGE_DATA		1

static void save_regs(const struct cfi_flash *f, struct state_writer *w)
{
	uint32_t seen = 0;

	sw_u8(w, (uint8_t)f->mode);
	sw_u8(w, (uint8_t)f->wait);
	sw_u8(w, f->status);
	sw_u64(w, f->buf_base);
	sw_u8(w, (uint8_t)f->buf_count);
	sw_u8(w, (uint8_t)f->buf_filled);
	for (unsigned int i = 0; i < CFI_BUFFER_WORDS; i++) {
		sw_u32(w, f->buf[i]);
		seen |= (uint32_t)f->buf_seen[i] << i;
	}
	sw_u32(w, seen);
}

static bool page_uniform(const uint8_t *p)
{
	return p[0] == p[CFI_STATE_PAGE - 1] && !memcmp(p, p + 1, CFI_STATE_PAGE - 1);
}

static void save_array(const struct cfi_flash *f, struct state_writer *w)
{
	for (uint64_t off = 0; off < f->dev.mmio_size; off += CFI_STATE_PAGE) {
		const uint8_t *p = f->array + off;

		if (block_blank(f, off)) {
			sw_u8(w, PAGE_UNIFORM);
			sw_u8(w, 0);
		} else if (page_uniform(p)) {
			sw_u8(w, PAGE_UNIFORM);
			sw_u8(w, p[0]);
		} else {
			sw_u8(w, PAGE_DATA);
			sw_bytes(w, p, CFI_STATE_PAGE);
		}
	}
}

static int flash_save(struct device *dev, struct state_writer *w)
{
	struct cfi_flash *f = to_flash(dev);

	pthread_mutex_lock(&f->lock);
	dev_state_begin(w, dev->ops->name, CFI_STATE_VERSION);
	sw_u8(w, f->readonly);
	sw_u64(w, dev->mmio_size);
	if (f->readonly) {
		sw_bytes(w, f->code_hash, sizeof(f->code_hash));
	} else {
		save_regs(f, w);
		save_array(f, w);
	}
	pthread_mutex_unlock(&f->lock);
	return w->err;
}

/* The command state as read, before it is checked and applied. */
struct cfi_regs {
	uint8_t mode, wait, status, buf_count, buf_filled;
	uint64_t buf_base;
	uint32_t buf[CFI_BUFFER_WORDS];
	uint32_t seen;
};

static void read_regs(struct state_reader *r, struct cfi_regs *s)
{
	s->mode = sr_u8(r);
	s->wait = sr_u8(r);
	s->status = sr_u8(r);
	s->buf_base = sr_u64(r);
	s->buf_count = sr_u8(r);
	s->buf_filled = sr_u8(r);
	for (unsigned int i = 0; i < CFI_BUFFER_WORDS; i++)
		s->buf[i] = sr_u32(r);
	s->seen = sr_u32(r);
}

/* A buffered program under way must fit its erase block and the bank, as
 * buffer_count() made sure: buffer_program() writes there. */
static int check_buffer(const struct cfi_flash *f, const struct cfi_regs *s,
			struct state_reader *r)
{
	uint64_t end = s->buf_base + 4ULL * s->buf_count;

	if (s->wait != WAIT_BUFFER_DATA && s->wait != WAIT_BUFFER_CONFIRM)
		return 0;
	if (!s->buf_count || end > f->dev.mmio_size ||
	    s->buf_base / CFI_BLOCK_SIZE != (end - 1) / CFI_BLOCK_SIZE)
		return sr_fail(r, "write buffer of %u words at %#" PRIx64 " leaves its erase block",
			       s->buf_count, s->buf_base);
	if ((s->wait == WAIT_BUFFER_CONFIRM) != (s->buf_filled == s->buf_count))
		return sr_fail(r, "write buffer holds %u of %u words while waiting for %s",
			       s->buf_filled, s->buf_count,
			       s->wait == WAIT_BUFFER_CONFIRM ? "its confirm" : "data");
	return 0;
}

/* Refuses a command state no sequence of guest writes could produce. */
static int check_regs(const struct cfi_flash *f, const struct cfi_regs *s,
		      struct state_reader *r)
{
	uint32_t beyond = s->buf_count < 32 ? ~0u << s->buf_count : 0;

	if (s->mode > MODE_CFI)
		return sr_fail(r, "flash mode %u is not one of the 4", s->mode);
	if (s->wait > WAIT_BUFFER_CONFIRM)
		return sr_fail(r, "flash command step %u is not one of the 7", s->wait);
	if (s->status & ~SR_SEQUENCE_ERROR)
		return sr_fail(r, "flash status 0x%02x has bits other than the error bits 0x%02x",
			       s->status, SR_SEQUENCE_ERROR);
	if (s->wait != WAIT_COMMAND && s->mode != MODE_STATUS)
		return sr_fail(r, "a command under way (step %u) in mode %u, not status mode",
			       s->wait, s->mode);
	if (s->buf_base >= f->dev.mmio_size || (s->buf_base & 3))
		return sr_fail(r, "write buffer address %#" PRIx64 " is not a word of the bank",
			       s->buf_base);
	if (s->buf_count > CFI_BUFFER_WORDS || s->buf_filled > s->buf_count)
		return sr_fail(r, "write buffer of %u words holds %u; at most %u", s->buf_count,
			       s->buf_filled, CFI_BUFFER_WORDS);
	if ((unsigned int)__builtin_popcount(s->seen) != s->buf_filled || (s->seen & beyond))
		return sr_fail(r, "write buffer's word map 0x%08x does not match its %u of %u words",
			       s->seen, s->buf_filled, s->buf_count);
	return check_buffer(f, s, r);
}

/*
 * The contents are checked whole before a byte is written (@apply false),
 * then written (@apply true): the array may be the user's variable store
 * file, which a refused stream must not damage. A page already as the
 * stream has it is not written, and one of a blank block not even read: a
 * blank sparse file stays sparse. @zero: the blocks the stream leaves all
 * zero, which are blank afterwards.
 */
static int load_array(struct cfi_flash *f, struct state_reader *r, bool apply,
		      uint64_t zero[CFI_MAX_BLOCKS / 64])
{
	for (uint64_t off = 0; off < f->dev.mmio_size && sr_ok(r); off += CFI_STATE_PAGE) {
		uint8_t *dst = f->array + off, tag = sr_u8(r), fill = 0;
		uint64_t b = off / CFI_BLOCK_SIZE, bit = 1ULL << (b % 64);
		const uint8_t *src = NULL;

		if (tag == PAGE_UNIFORM)
			fill = sr_u8(r);
		else if (tag == PAGE_DATA)
			src = sr_view(r, CFI_STATE_PAGE);
		else if (sr_ok(r))
			return sr_fail(r, "flash page at %#" PRIx64 " has kind %u, not 0 or 1", off, tag);
		if (!sr_ok(r))
			break;
		if (off % CFI_BLOCK_SIZE == 0)
			zero[b / 64] |= bit;
		if (src || fill)
			zero[b / 64] &= ~bit;
		if (src && page_uniform(src))
			return sr_fail(r, "flash page at %#" PRIx64 " is sent whole but is one byte repeated",
				       off);
		if (!apply)
			continue;
		if (src && memcmp(dst, src, CFI_STATE_PAGE))
			memcpy(dst, src, CFI_STATE_PAGE);
		else if (!src && !(!fill && block_blank(f, off)) &&
			 !(dst[0] == fill && page_uniform(dst)))
			memset(dst, fill, CFI_STATE_PAGE);
	}
	return r->err;
}

static void apply_regs(struct cfi_flash *f, const struct cfi_regs *s)
{
	f->wait = s->wait;
	f->status = s->status;
	f->buf_base = s->buf_base;
	f->buf_count = s->buf_count;
	f->buf_filled = s->buf_filled;
	memcpy(f->buf, s->buf, sizeof(f->buf));
	for (unsigned int i = 0; i < CFI_BUFFER_WORDS; i++)
		f->buf_seen[i] = s->seen >> i & 1;
	/* Unmaps the bank's memslot unless it is back in read-array mode. */
	set_mode(f, s->mode);
}

static int load_store(struct cfi_flash *f, struct state_reader *r)
{
	uint64_t zero[CFI_MAX_BLOCKS / 64] = { 0 };
	struct state_reader pass;
	struct cfi_regs s;

	read_regs(r, &s);
	if (!sr_ok(r) || check_regs(f, &s, r))
		return r->err;
	pass = *r;
	if (load_array(f, &pass, false, zero))
		return sr_fail(r, "%s", pass.msg);
	load_array(f, r, true, zero);
	memcpy(f->blank, zero, sizeof(f->blank));
	apply_regs(f, &s);
	return r->err;
}

static int load_code_hash(struct cfi_flash *f, struct state_reader *r)
{
	uint8_t hash[CFI_HASH_SIZE];

	sr_bytes(r, hash, sizeof(hash));
	if (sr_ok(r) && memcmp(hash, f->code_hash, sizeof(hash)))
		return sr_fail(r, "the firmware (%" PRIu64 " KiB) differs from the saved VM's, which "
			       "runs it in place: give --firmware the same file", f->dev.mmio_size / 1024);
	return r->err;
}

static int flash_load(struct device *dev, struct state_reader *r)
{
	struct cfi_flash *f = to_flash(dev);
	const char *what = f->readonly ? "firmware" : "variable store";
	bool readonly;
	uint64_t size;
	int err;

	if (dev_state_check(r, dev->ops->name, CFI_STATE_VERSION))
		return r->err;
	readonly = dev_state_bool(r, "read-only");
	size = sr_u64(r);
	if (!sr_ok(r))
		return r->err;
	if (readonly != f->readonly)
		return sr_fail(r, "the saved flash bank is %s, this one %s",
			       readonly ? "the firmware" : "a variable store", what);
	if (size != dev->mmio_size)
		return sr_fail(r, "the saved %s is %" PRIu64 " bytes, this one %" PRIu64 " (%s)",
			       what, size, dev->mmio_size, f->readonly ? "--firmware: give the same file" :
			       "--firmware-vars: give a file of the saved size");
	pthread_mutex_lock(&f->lock);
	err = f->readonly ? load_code_hash(f, r) : load_store(f, r);
	pthread_mutex_unlock(&f->lock);
	return err;
}

static const struct device_ops cfi_flash_ops = {
	.name = "cfi-flash",
	.mmio_read = flash_mmio_read,
	.mmio_write = flash_mmio_write,
	.fdt_node = flash_fdt_node,
	.reset = flash_reset,
	.save = flash_save,
	.load = flash_load,
	.destroy = flash_destroy,
};

struct device *cfi_flash_create(uint64_t base, uint8_t *array, uint64_t size, bool readonly,
				cfi_map_fn map, void *map_opaque)
{
	struct cfi_flash *f;
	int err;

	if (!array || !size || size % CFI_BLOCK_SIZE || size / CFI_BLOCK_SIZE > CFI_MAX_BLOCKS) {
		errno = EINVAL;
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	err = pthread_mutex_init(&f->lock, NULL);
	if (err) {
		free(f);
		errno = err;
		return NULL;
	}
	f->dev.ops = &cfi_flash_ops;
	f->dev.mmio_base = base;
	f->dev.mmio_size = size;
	f->array = array;
	f->readonly = readonly;
	f->map = map;
	f->map_opaque = map_opaque;
	f->mode = MODE_ARRAY;
	if (readonly && !EVP_Digest(array, size, f->code_hash, NULL, EVP_sha256(), NULL)) {
		pthread_mutex_destroy(&f->lock);
		free(f);
		errno = EIO;
		return NULL;
	}
	return &f->dev;
}

void cfi_flash_mark_blank(struct device *dev, uint64_t offset)
{
	struct cfi_flash *f = to_flash(dev);

	if (offset < dev->mmio_size) {
		pthread_mutex_lock(&f->lock);
		set_block_blank(f, offset, true);
		pthread_mutex_unlock(&f->lock);
	}
}

bool cfi_flash_array_mode(struct device *dev)
{
	struct cfi_flash *f = to_flash(dev);
	bool array;

	pthread_mutex_lock(&f->lock);
	array = f->mode == MODE_ARRAY;
	pthread_mutex_unlock(&f->lock);
	return array;
}
