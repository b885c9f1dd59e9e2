// SPDX-License-Identifier: GPL-2.0-only
/*
 * Compressed kernels (vmm/kernel_image.c) against real compressed files made
 * here: an EFI-stub arm64 Image built in the test, gzip'd by zlib, zstd'd by
 * libzstd, xz'd by liblzma, and wrapped in a minimal EFI zboot container laid out as
 * drivers/firmware/efi/libstub/zboot-header.S lays it out; then the same
 * files truncated, corrupted, for another architecture, too big.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "migration/le.h"
#include "vmm/kernel_image.h"
#include "vmm/layout.h"

#define IMG_LEN		(256 * 1024)	/* the Image file */
#define IMG_SIZE	(320 * 1024)	/* its image_size: with bss */
#define PE_OFF		0x40
#define ZB_PAYLOAD_OFF	0x1000

struct blob {
	uint8_t *p;
	size_t len;
};

static char why[512];

/*
 * A PE header at PE_OFF for @machine whose one section ends at @file_len:
 * the way both an EFI-stub Image and a zboot image say how long they are.
 */
static void put_pe(uint8_t *buf, uint16_t machine, uint32_t file_len)
{
	uint8_t *pe = buf + PE_OFF, *sect;

	put_le(buf + 0x3c, PE_OFF, 4);
	memcpy(pe, "PE\0\0", 4);
	put_le(pe + 4, machine, 2);
	put_le(pe + 6, 1, 2);			/* NumberOfSections */
	put_le(pe + 20, 0, 2);			/* SizeOfOptionalHeader */
	sect = pe + 24;
	memcpy(sect, ".text\0\0\0", 8);
	put_le(sect + 16, file_len - 0x200, 4);	/* SizeOfRawData */
	put_le(sect + 20, 0x200, 4);		/* PointerToRawData */
}

/* An EFI-stub arm64 Image of @len bytes, image_size @image_size, with a
 * body that compresses but not to nothing. */
static struct blob make_image(size_t len, uint64_t image_size)
{
	struct blob b = { calloc(1, len), len };
	uint32_t x = 12345;

	assert_non_null(b.p);
	for (size_t i = 0x200; i < len; i++) {
		x = x * 1103515245 + 12345;
		b.p[i] = (uint8_t)((x >> 24) & 0x1f);
	}
	memcpy(b.p, "MZ", 2);
	put_le(b.p + 8, 0, 8);			/* text_offset */
	put_le(b.p + 16, image_size, 8);
	put_le(b.p + 24, 0xa, 8);		/* 4K pages, anywhere */
	memcpy(b.p + 56, "ARM\x64", 4);
	put_pe(b.p, 0xaa64, (uint32_t)len);
	return b;
}

static struct blob gzip_of(const uint8_t *p, size_t len)
{
	struct blob b;
	z_stream s;

	memset(&s, 0, sizeof(s));
	assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
			 Z_OK);
	b.len = deflateBound(&s, len);
	b.p = malloc(b.len);
	assert_non_null(b.p);
	s.next_in = (Bytef *)p;
	s.avail_in = (uInt)len;
	s.next_out = b.p;
	s.avail_out = (uInt)b.len;
	assert_int_equal(deflate(&s, Z_FINISH), Z_STREAM_END);
	b.len = s.total_out;
	deflateEnd(&s);
	return b;
}

/* As the zstd CLI does by default: a checksum; without the content size,
 * as when the kernel's build pipes the Image through it. */
static struct blob zstd_of(const uint8_t *p, size_t len)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	struct blob b = { malloc(ZSTD_compressBound(len)), 0 };

	assert_non_null(cc);
	assert_non_null(b.p);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	b.len = ZSTD_compress2(cc, b.p, ZSTD_compressBound(len), p, len);
	assert_false(ZSTD_isError(b.len));
	ZSTD_freeCCtx(cc);
	return b;
}

/*
 * As the kernel's xz_wrap.sh makes "xzkern": CRC-32 check, and with @bcj the
 * ARM64 branch filter before LZMA2.
 */
static struct blob xz_of(const uint8_t *p, size_t len, bool bcj)
{
	lzma_options_lzma opt;
	lzma_filter filters[3];
	struct blob b = { malloc(lzma_stream_buffer_bound(len)), 0 };
	int i = 0;

	assert_non_null(b.p);
	assert_false(lzma_lzma_preset(&opt, 6));
	if (bcj)
		filters[i++] = (lzma_filter){ LZMA_FILTER_ARM64, NULL };
	filters[i++] = (lzma_filter){ LZMA_FILTER_LZMA2, &opt };
	filters[i] = (lzma_filter){ LZMA_VLI_UNKNOWN, NULL };
	assert_int_equal(lzma_stream_buffer_encode(filters, LZMA_CHECK_CRC32, NULL, p, len, b.p,
						   &b.len, lzma_stream_buffer_bound(len)),
			 LZMA_OK);
	return b;
}

/*
 * The same stream whose first block header says its LZMA2 dictionary is
 * @dict_byte (the format's encoding: 36 = 1 GiB), its CRC-32 made right:
 * what a decoder would allocate, without an encoder allocating it here.
 */
static void xz_set_dict(struct blob *xz, uint8_t dict_byte)
{
	size_t hdr = 12, hlen = ((size_t)xz->p[hdr] + 1) * 4, i;

	for (i = hdr + 2; i + 2 < hdr + hlen - 4; i++)
		if (xz->p[i] == 0x21 && xz->p[i + 1] == 0x01)	/* LZMA2, 1 byte of props */
			break;
	assert_true(i + 2 < hdr + hlen - 4);
	xz->p[i + 2] = dict_byte;
	put_le(xz->p + hdr + hlen - 4, (uint32_t)crc32(0, xz->p + hdr, (uInt)(hlen - 4)), 4);
}

/*
 * A zboot image (zboot-header.S): "MZ", "zimg", payload offset and size,
 * the compression type, the PE header; the payload at ZB_PAYLOAD_OFF,
 * followed for zstd by the le32 size it decompresses to (Makefile.zboot).
 */
static struct blob make_zboot(const struct blob *payload, const char *comp, uint16_t machine,
			      uint32_t decompressed)
{
	bool sized = strcmp(comp, "gzip") != 0;
	struct blob b;

	b.len = ZB_PAYLOAD_OFF + payload->len + (sized ? 4 : 0);
	b.len = (b.len + 511) & ~(size_t)511;
	b.p = calloc(1, b.len);
	assert_non_null(b.p);
	memcpy(b.p, "MZ\0\0zimg", 8);
	put_le(b.p + 8, ZB_PAYLOAD_OFF, 4);
	put_le(b.p + 12, (uint32_t)payload->len, 4);
	strcpy((char *)b.p + 24, comp);
	put_le(b.p + 0x38, 0x818223cd, 4);	/* LINUX_PE_MAGIC */
	put_pe(b.p, machine, (uint32_t)b.len);
	memcpy(b.p + ZB_PAYLOAD_OFF, payload->p, payload->len);
	if (sized)
		put_le(b.p + ZB_PAYLOAD_OFF + payload->len, decompressed, 4);
	return b;
}

/* The Image padded with zeros to its image_size, as Makefile.zboot does. */
static struct blob padded(const struct blob *img, size_t to)
{
	struct blob b = { calloc(1, to), to };

	assert_non_null(b.p);
	memcpy(b.p, img->p, img->len);
	return b;
}

static int probe(const struct blob *b, struct kernel_image *k)
{
	why[0] = 0;
	return kernel_image_probe(b->p, b->len, k, why, sizeof(why));
}

static void assert_why(const char *word)
{
	if (!strstr(why, word))
		fail_msg("reason \"%s\" does not mention \"%s\"", why, word);
}

static void assert_probe_refused(const struct blob *b, int err, const char *word)
{
	struct kernel_image k;

	assert_int_equal(probe(b, &k), err);
	assert_why(word);
}

/* Probes @b, then unpacks it into exactly the room its header asks for;
 * returns what unpack returned, the output in *out (caller frees). */
static ssize_t probe_unpack(const struct blob *b, struct kernel_image *k, uint8_t **out)
{
	ssize_t n;

	assert_int_equal(probe(b, k), 0);
	*out = malloc(k->image.image_size);
	assert_non_null(*out);
	why[0] = 0;
	n = kernel_image_unpack(k, *out, k->image.image_size, why, sizeof(why));
	return n;
}

static void assert_unpack_refused(const struct blob *b, int err, const char *word)
{
	struct kernel_image k;
	uint8_t *out;

	assert_int_equal(probe_unpack(b, &k, &out), err);
	assert_why(word);
	free(out);
}

/* Unpacks to @want exactly; the format says @format. */
static void assert_unpacks_to(const struct blob *b, const struct blob *want, const char *format,
			      enum kernel_packing packing)
{
	struct kernel_image k;
	uint8_t *out;

	assert_int_equal(probe_unpack(b, &k, &out), (ssize_t)want->len);
	assert_string_equal(k.format, format);
	assert_int_equal(k.packing, packing);
	assert_int_equal(k.image.image_size, IMG_SIZE);
	assert_int_equal(k.image.text_offset, 0);
	assert_memory_equal(out, want->p, want->len);
	free(out);
}

static void test_plain_image_unchanged(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE);
	struct kernel_image k;

	assert_int_equal(probe(&img, &k), 0);
	assert_int_equal(k.packing, KERNEL_PLAIN);
	/* The file itself, not a copy: boot.c maps it and copies it once. */
	assert_ptr_equal(k.data, img.p);
	assert_int_equal(k.image.file_size, IMG_LEN);
	assert_unpacks_to(&img, &img, "arm64 Image", KERNEL_PLAIN);
	free(img.p);
}

static void test_gzip_image(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), gz = gzip_of(img.p, img.len);
	struct kernel_image k;

	assert_int_equal(probe(&gz, &k), 0);
	/* Before decompressing: room for the whole image_size. */
	assert_int_equal(k.image.file_size, IMG_SIZE);
	assert_true(gz.len < img.len);
	assert_unpacks_to(&gz, &img, "gzip-compressed Image", KERNEL_GZIP);
	free(img.p);
	free(gz.p);
}

static void test_zstd_image(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), zs = zstd_of(img.p, img.len);

	assert_unpacks_to(&zs, &img, "zstd-compressed Image", KERNEL_ZSTD);
	free(img.p);
	free(zs.p);
}

/* zboot's payload is the Image padded to image_size: it fills its room
 * exactly, the edge where a decompressor must still see the stream's end. */
static void test_zboot_gzip(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), pad = padded(&img, IMG_SIZE);
	struct blob gz = gzip_of(pad.p, pad.len), zb = make_zboot(&gz, "gzip", 0xaa64, 0);

	assert_unpacks_to(&zb, &pad, "EFI zboot image (gzip)", KERNEL_GZIP);
	free(img.p);
	free(pad.p);
	free(gz.p);
	free(zb.p);
}

static void test_zboot_zstd(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), pad = padded(&img, IMG_SIZE);
	struct blob zs = zstd_of(pad.p, pad.len);
	struct blob zb = make_zboot(&zs, "zstd22", 0xaa64, IMG_SIZE);
	struct kernel_image k;

	assert_unpacks_to(&zb, &pad, "EFI zboot image (zstd)", KERNEL_ZSTD);
	assert_int_equal(probe(&zb, &k), 0);
	assert_int_equal(k.zboot_size, IMG_SIZE);
	free(zb.p);
	/* The appended size must agree with what comes out. */
	zb = make_zboot(&zs, "zstd22", 0xaa64, IMG_SIZE - 4096);
	assert_unpack_refused(&zb, -ENOEXEC, "header says");
	free(img.p);
	free(pad.p);
	free(zs.p);
	free(zb.p);
}

static void test_xz_image(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), xz = xz_of(img.p, img.len, false);

	assert_unpacks_to(&xz, &img, "xz-compressed Image", KERNEL_XZ);
	free(img.p);
	free(xz.p);
}

static void test_zboot_xz(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), pad = padded(&img, IMG_SIZE);
	struct blob xz = xz_of(pad.p, pad.len, true);
	struct blob zb = make_zboot(&xz, "xzkern", 0xaa64, IMG_SIZE);

	assert_unpacks_to(&zb, &pad, "EFI zboot image (xz)", KERNEL_XZ);
	free(img.p);
	free(pad.p);
	free(xz.p);
	free(zb.p);
}

static void test_xz_refused(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), xz = xz_of(img.p, img.len, true), cut;

	cut = (struct blob){ xz.p, xz.len - 100 };
	assert_unpack_refused(&cut, -ENOEXEC, "xz-compressed Image, truncated");
	cut = (struct blob){ xz.p, 12 };
	assert_probe_refused(&cut, -ENOEXEC, "truncated");
	xz.p[xz.len / 2] ^= 0x55;
	assert_unpack_refused(&xz, -ENOEXEC, "corrupt");
	free(img.p);
	free(xz.p);
	img = make_image(IMG_LEN, IMG_LEN / 2);
	xz = xz_of(img.p, img.len, false);
	assert_unpack_refused(&xz, -E2BIG, "more than");
	free(xz.p);
	/* A dictionary of 1 GiB: refused, not allocated. */
	xz = xz_of(img.p, img.len, false);
	xz_set_dict(&xz, 36);
	assert_probe_refused(&xz, -ENOEXEC, "MiB of memory");
	free(img.p);
	free(xz.p);
}

static void test_truncated(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), pad = padded(&img, IMG_SIZE);
	struct blob gz = gzip_of(img.p, img.len), zs = zstd_of(img.p, img.len);
	struct blob zb = make_zboot(&gz, "gzip", 0xaa64, 0), cut;

	/* Header readable, the end missing: refused once decompressed. */
	cut = (struct blob){ gz.p, gz.len - 100 };
	assert_unpack_refused(&cut, -ENOEXEC, "truncated");
	cut = (struct blob){ gz.p, gz.len - 3 };	/* only the length field cut */
	assert_unpack_refused(&cut, -ENOEXEC, "truncated");
	cut = (struct blob){ zs.p, zs.len - 100 };
	assert_unpack_refused(&cut, -ENOEXEC, "truncated");
	/* Too short for the header: refused by the probe. */
	cut = (struct blob){ gz.p, 12 };
	assert_probe_refused(&cut, -ENOEXEC, "truncated");
	cut = (struct blob){ zs.p, 8 };
	assert_probe_refused(&cut, -ENOEXEC, "truncated");
	/* A zboot cut anywhere: its headers say how long it is. */
	cut = (struct blob){ zb.p, zb.len - 1000 };
	assert_probe_refused(&cut, -ENOEXEC, "truncated");
	cut = (struct blob){ zb.p, 40 };
	assert_probe_refused(&cut, -ENOEXEC, "truncated");
	free(img.p);
	free(pad.p);
	free(gz.p);
	free(zs.p);
	free(zb.p);
}

/* A gzip'd Image cut short before it was compressed: its PE header tells. */
static void test_incomplete_image_inside(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), gz = gzip_of(img.p, IMG_LEN / 2);

	assert_unpack_refused(&gz, -ENOEXEC, "incomplete Image");
	free(img.p);
	free(gz.p);
}

static void test_corrupt(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE);
	struct blob gz = gzip_of(img.p, img.len), zs = zstd_of(img.p, img.len);

	gz.p[gz.len - 8] ^= 1;			/* CRC-32 */
	assert_unpack_refused(&gz, -ENOEXEC, "CRC-32");
	gz.p[gz.len - 8] ^= 1;
	gz.p[gz.len - 4] ^= 1;			/* ISIZE */
	assert_unpack_refused(&gz, -ENOEXEC, "length");
	gz.p[gz.len - 4] ^= 1;
	gz.p[gz.len / 2] ^= 0x55;		/* the deflate data */
	assert_unpack_refused(&gz, -ENOEXEC, "corrupt");
	zs.p[zs.len - 1] ^= 1;			/* the content checksum */
	assert_unpack_refused(&zs, -ENOEXEC, "checksum");
	free(img.p);
	free(gz.p);
	free(zs.p);
}

static void test_trailing_data(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), gz = gzip_of(img.p, img.len), more;

	more = (struct blob){ calloc(1, gz.len + 64), gz.len + 64 };
	assert_non_null(more.p);
	memcpy(more.p, gz.p, gz.len);
	/* Zero padding after the stream is what gzip(1) ignores too. */
	assert_unpacks_to(&more, &img, "gzip-compressed Image", KERNEL_GZIP);
	more.p[gz.len + 10] = 0x42;
	assert_unpack_refused(&more, -ENOEXEC, "after the end");
	free(img.p);
	free(gz.p);
	free(more.p);
}

static void test_wrong_architecture(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), gz = gzip_of(img.p, img.len);
	struct blob zb = make_zboot(&gz, "gzip", 0x8664, 0), rv;

	assert_probe_refused(&zb, -ENOEXEC, "x86-64");
	free(zb.p);
	zb = make_zboot(&gz, "gzip", 0x5064, 0);
	assert_probe_refused(&zb, -ENOEXEC, "riscv64");
	free(zb.p);
	/* An arm64 PE header around something that is no arm64 Image. */
	memcpy(img.p + 56, "RSC\x05", 4);
	rv = gzip_of(img.p, img.len);
	zb = make_zboot(&rv, "gzip", 0xaa64, 0);
	assert_probe_refused(&zb, -ENOEXEC, "no bootable arm64 Image");
	assert_probe_refused(&rv, -ENOEXEC, "no bootable arm64 Image");
	free(img.p);
	free(gz.p);
	free(rv.p);
	free(zb.p);
}

static void test_zboot_compressions(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), gz = gzip_of(img.p, img.len), zb;
	static const char *const refused[] = { "lzo", "lz4", "lzma", "bzip2", "brotli" };

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		zb = make_zboot(&gz, refused[i], 0xaa64, IMG_LEN);
		assert_probe_refused(&zb, -ENOEXEC, refused[i]);
		assert_why("gzip, zstd and xz only");
		free(zb.p);
	}
	zb = make_zboot(&gz, "gzip", 0xaa64, 0);
	zb.p[24] = 0xff;			/* not a name */
	assert_probe_refused(&zb, -ENOEXEC, "no compression type");
	memset(zb.p + 24, 'a', 0x38 - 24);	/* no NUL before 0x38 */
	assert_probe_refused(&zb, -ENOEXEC, "no compression type");
	free(zb.p);
	/* The header says zstd, the payload is gzip. */
	zb = make_zboot(&gz, "zstd22", 0xaa64, IMG_LEN);
	assert_probe_refused(&zb, -ENOEXEC, "zstd frame");
	free(zb.p);
	/* Payload offset or size that make no sense. */
	zb = make_zboot(&gz, "gzip", 0xaa64, 0);
	put_le(zb.p + 12, 0, 4);
	assert_probe_refused(&zb, -ENOEXEC, "corrupt header");
	put_le(zb.p + 8, 0xfffffff0, 4);
	put_le(zb.p + 12, 0x100, 4);
	assert_probe_refused(&zb, -ENOEXEC, "truncated");
	free(zb.p);
	free(img.p);
	free(gz.p);
}

/* A stream that decompresses to more than its Image header's image_size. */
static void test_more_than_image_size(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_LEN / 2);
	struct blob gz = gzip_of(img.p, img.len), zs = zstd_of(img.p, img.len);

	assert_unpack_refused(&gz, -E2BIG, "more than");
	assert_unpack_refused(&zs, -E2BIG, "more than");
	free(img.p);
	free(gz.p);
	free(zs.p);
}

/* Sized from the decompressed header: too large for RAM before any
 * decompression, by the plan's own check. */
static void test_too_large_for_ram(void **state)
{
	struct blob img = make_image(IMG_LEN, 300 * MiB), gz = gzip_of(img.p, img.len);
	struct kernel_image k;
	struct boot_plan plan;

	assert_int_equal(probe(&gz, &k), 0);
	assert_int_equal(boot_plan_compute(&k.image, LAYOUT_RAM_BASE, 256 * MiB, 0, &plan, why,
					   sizeof(why)), -E2BIG);
	assert_why("kernel (300 MiB)");
	assert_int_equal(boot_plan_compute(&k.image, LAYOUT_RAM_BASE, 512 * MiB, 0, &plan, why,
					   sizeof(why)), 0);
	assert_int_equal(plan.kernel_end - plan.kernel_addr, 300 * MiB);
	free(img.p);
	free(gz.p);
}

static void test_old_kernel_refused(void **state)
{
	struct blob img = make_image(IMG_LEN, 0), gz = gzip_of(img.p, img.len);

	assert_probe_refused(&gz, -ENOEXEC, "3.17");
	free(img.p);
	free(gz.p);
}

static void test_nested_compression(void **state)
{
	struct blob img = make_image(IMG_LEN, IMG_SIZE), gz = gzip_of(img.p, img.len);
	struct blob gz2 = gzip_of(gz.p, gz.len);

	assert_probe_refused(&gz2, -ENOEXEC, "gzip-compressed Image holding no bootable arm64 Image: gzip");
	free(img.p);
	free(gz.p);
	free(gz2.p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_image_unchanged),
		cmocka_unit_test(test_gzip_image),
		cmocka_unit_test(test_zstd_image),
		cmocka_unit_test(test_zboot_gzip),
		cmocka_unit_test(test_zboot_zstd),
		cmocka_unit_test(test_xz_image),
		cmocka_unit_test(test_zboot_xz),
		cmocka_unit_test(test_xz_refused),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_incomplete_image_inside),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_trailing_data),
		cmocka_unit_test(test_wrong_architecture),
		cmocka_unit_test(test_zboot_compressions),
		cmocka_unit_test(test_more_than_image_size),
		cmocka_unit_test(test_too_large_for_ram),
		cmocka_unit_test(test_old_kernel_refused),
		cmocka_unit_test(test_nested_compression),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
