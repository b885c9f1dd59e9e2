// SPDX-License-Identifier: GPL-2.0-only
/*
 * What --kernel accepts (kernel_image.h): a plain arm64 Image, a gzip, zstd or
 * xz compressed one, or an EFI zboot image holding one. Told apart by content.
 *
 * Everything here works on untrusted bytes (a fuzzer feeds it too): every
 * header field is checked against the file's length before use, and the
 * decompressors (zlib, libzstd, liblzma) write into a buffer of a size fixed before
 * they start, never past it.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define ZLIB_CONST
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "kernel_image.h"

#define IMAGE_HDR_LEN		64

static const uint8_t gzip_magic[] = { 0x1f, 0x8b, 0x08 };	/* RFC 1952: ID1 ID2 CM=deflate */
static const uint8_t zstd_magic[] = { 0x28, 0xb5, 0x2f, 0xfd };	/* RFC 8878 frame magic */
static const uint8_t xz_magic[] = { 0xfd, '7', 'z', 'X', 'Z', 0x00 };	/* .xz stream header */

/*
 * EFI zboot (drivers/firmware/efi/libstub/zboot-header.S): "MZ", 2 bytes,
 * "zimg", the payload's offset and size (le32), 8 reserved bytes, the
 * compression type as a NUL-terminated string ending before 0x38 (where the
 * arm64 Image's magic would be), the PE header's offset at 0x3c. For every
 * compression but gzip the payload is followed by the le32 size of what it
 * decompresses to (Makefile.zboot, "_with_size"), not counted in its size.
 */
#define ZBOOT_TYPE_OFF		4
#define ZBOOT_PAYLOAD_OFF	8
#define ZBOOT_PAYLOAD_SIZE	12
#define ZBOOT_COMP_OFF		24
#define ZBOOT_COMP_END		0x38
#define ZBOOT_PE_OFF		0x3c
#define ZBOOT_SIZE_LEN		4

/* PE/COFF file header: "PE\0\0", then Machine (le16). */
#define PE_MACHINE_OFF		4
#define PE_MACHINE_ARM64	0xaa64

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static bool starts_with(const uint8_t *buf, size_t len, const uint8_t *magic, size_t mlen)
{
	return len >= mlen && memcmp(buf, magic, mlen) == 0;
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* zlib counts in uInt: a stream longer than 4 GiB is fed in pieces. */
static uInt zchunk(size_t n)
{
	return n > UINT_MAX ? UINT_MAX : (uInt)n;
}

/* ------------------------------------------------------------------ refusals */

static int too_big(const struct kernel_image *k, size_t cap, char *why, size_t whylen)
{
	return image_fail(-E2BIG, why, whylen,
		    "%s, corrupt: it decompresses to more than %zu bytes, but its Image header says the kernel takes %llu (image_size)",
		    k->format, cap, (unsigned long long)k->image.image_size);
}

static int truncated(const struct kernel_image *k, const char *comp, char *why, size_t whylen)
{
	return image_fail(-ENOEXEC, why, whylen,
		    "%s, truncated: its %s stream stops after %zu bytes, before its end: the copy is incomplete, copy it again",
		    k->format, comp, k->len);
}

/* The last @left bytes, after the stream's end: zero padding (which gzip(1)
 * and xz(1) skip too) or a refusal. */
static int trailing_zeros_only(const struct kernel_image *k, size_t left, const char *comp,
			       char *why, size_t whylen)
{
	for (size_t i = k->len - left; i < k->len; i++)
		if (k->data[i])
			return image_fail(-ENOEXEC, why, whylen,
				    "%s, corrupt: %zu bytes of other data after the end of its %s stream (two files joined?): pass the kernel alone",
				    k->format, left, comp);
	return 0;
}

/* ------------------------------------------------------------------ gzip */

/* Why inflate() stopped, as a refusal (0 if it finished as asked). */
static int gzip_verdict(const struct kernel_image *k, int zr, const char *msg, size_t in_left,
			size_t out_left, size_t cap, bool whole, char *why, size_t whylen)
{
	if (zr == Z_STREAM_END || (!whole && out_left == 0))
		return trailing_zeros_only(k, whole ? in_left : 0, "gzip", why, whylen);
	if (zr == Z_MEM_ERROR)
		return image_fail(-ENOMEM, why, whylen, "%s: zlib is out of memory", k->format);
	if (zr == Z_BUF_ERROR && out_left == 0)
		return too_big(k, cap, why, whylen);
	if (zr == Z_BUF_ERROR)
		return truncated(k, "gzip", why, whylen);
	return image_fail(-ENOEXEC, why, whylen,
		    "%s, corrupt: zlib says \"%s\"%s: the file is damaged, copy it again",
		    k->format, msg ? msg : "error",
		    msg && strstr(msg, "data check") ? " (its CRC-32 does not match)" :
		    msg && strstr(msg, "length check") ? " (its stored length does not match)" : "");
}

/*
 * Inflates k's gzip stream into @out: all of it (@whole: to the stream's end,
 * its CRC-32 and length checked by zlib), or just its first @cap bytes.
 */
static int gunzip(const struct kernel_image *k, uint8_t *out, size_t cap, bool whole,
		  size_t *outlen, char *why, size_t whylen)
{
	size_t in_left = k->len, out_left = cap;
	const char *msg;
	z_stream s;
	int zr;

	memset(&s, 0, sizeof(s));
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK)	/* 16: gzip wrapper only */
		return image_fail(-ENOMEM, why, whylen, "%s: zlib cannot start: out of memory", k->format);
	s.next_in = k->data;
	s.next_out = out;
	do {
		uInt in_now = zchunk(in_left), out_now = zchunk(out_left);

		s.avail_in = in_now;
		s.avail_out = out_now;
		zr = inflate(&s, Z_NO_FLUSH);
		in_left -= in_now - s.avail_in;
		out_left -= out_now - s.avail_out;
	} while (zr == Z_OK && (whole || out_left));
	msg = s.msg;
	inflateEnd(&s);
	*outlen = cap - out_left;
	return gzip_verdict(k, zr, msg, in_left, out_left, cap, whole, why, whylen);
}

/* ------------------------------------------------------------------ zstd */

static int zstd_verdict(const struct kernel_image *k, size_t r, size_t cap, char *why,
			size_t whylen)
{
	switch (ZSTD_getErrorCode(r)) {
	case ZSTD_error_memory_allocation:
		return image_fail(-ENOMEM, why, whylen, "%s: libzstd is out of memory", k->format);
	case ZSTD_error_dstSize_tooSmall:
		return too_big(k, cap, why, whylen);
	case ZSTD_error_srcSize_wrong:
		return truncated(k, "zstd", why, whylen);
	case ZSTD_error_checksum_wrong:
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt: the data does not match its zstd checksum: the file is damaged, copy it again",
			    k->format);
	default:
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt: libzstd says \"%s\": the file is damaged, copy it again",
			    k->format, ZSTD_getErrorName(r));
	}
}

/* The first @cap bytes of k's zstd stream (fewer if it ends sooner). */
static int unzstd_head(const struct kernel_image *k, uint8_t *out, size_t cap, size_t *outlen,
		       char *why, size_t whylen)
{
	ZSTD_inBuffer in = { k->data, k->len, 0 };
	ZSTD_outBuffer o = { out, cap, 0 };
	ZSTD_DStream *ds = ZSTD_createDStream();
	size_t r = 1, in_was, out_was;

	if (!ds)
		return image_fail(-ENOMEM, why, whylen, "%s: libzstd cannot start: out of memory", k->format);
	do {
		in_was = in.pos;
		out_was = o.pos;
		r = ZSTD_decompressStream(ds, &o, &in);
	} while (!ZSTD_isError(r) && r && o.pos < o.size && (in.pos > in_was || o.pos > out_was));
	ZSTD_freeDStream(ds);
	*outlen = o.pos;
	if (ZSTD_isError(r))
		return zstd_verdict(k, r, cap, why, whylen);
	if (r && o.pos < o.size)	/* no progress left to make: the input ran out */
		return zstd_verdict(k, (size_t)-ZSTD_error_srcSize_wrong, cap, why, whylen);
	return 0;
}

/* All of k's zstd stream, in one call: libzstd then needs no window buffer
 * of its own, @out is the window. */
static int unzstd(const struct kernel_image *k, uint8_t *out, size_t cap, size_t *outlen,
		  char *why, size_t whylen)
{
	ZSTD_DCtx *dc = ZSTD_createDCtx();
	size_t r;

	if (!dc)
		return image_fail(-ENOMEM, why, whylen, "%s: libzstd cannot start: out of memory", k->format);
	r = ZSTD_decompressDCtx(dc, out, cap, k->data, k->len);
	ZSTD_freeDCtx(dc);
	if (ZSTD_isError(r))
		return zstd_verdict(k, r, cap, why, whylen);
	*outlen = r;
	return 0;
}

/* ------------------------------------------------------------------ xz */

/* What liblzma may allocate (its dictionary, which a hostile header could
 * size at 4 GiB): xz_wrap.sh's "xzkern" uses 32 MiB, xz -9 64 MiB. */
#define XZ_MEMLIMIT	(256ULL << 20)

static int xz_verdict(const struct kernel_image *k, lzma_ret lr, size_t in_left, size_t out_left,
		      size_t cap, bool whole, char *why, size_t whylen)
{
	if (lr == LZMA_STREAM_END || (!whole && out_left == 0))
		return trailing_zeros_only(k, whole ? in_left : 0, "xz", why, whylen);
	if (lr == LZMA_MEM_ERROR)
		return image_fail(-ENOMEM, why, whylen, "%s: liblzma is out of memory", k->format);
	if (lr == LZMA_BUF_ERROR && out_left == 0)
		return too_big(k, cap, why, whylen);
	if (lr == LZMA_BUF_ERROR)
		return truncated(k, "xz", why, whylen);
	if (lr == LZMA_MEMLIMIT_ERROR)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s: its xz stream asks for more than %llu MiB of memory to decompress (the kernel's own build uses 32 MiB): decompress it with xz and pass the Image",
			    k->format, (unsigned long long)(XZ_MEMLIMIT >> 20));
	if (lr == LZMA_OPTIONS_ERROR)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s: its xz stream uses a filter or option liblzma %s does not know: decompress it with xz and pass the Image",
			    k->format, lzma_version_string());
	return image_fail(-ENOEXEC, why, whylen,
		    "%s, corrupt: %s (liblzma error %d): the file is damaged, copy it again",
		    k->format,
		    lr == LZMA_DATA_ERROR ? "bad data, or it does not match its check (CRC)" :
		    lr == LZMA_FORMAT_ERROR ? "not an xz stream" : "bad xz stream",
		    (int)lr);
}

/* Like gunzip(), for an .xz stream (its filters, BCJ for arm64 included,
 * are named in it: xz_wrap.sh's "xzkern"). */
static int unxz(const struct kernel_image *k, uint8_t *out, size_t cap, bool whole,
		size_t *outlen, char *why, size_t whylen)
{
	lzma_stream s = LZMA_STREAM_INIT;
	lzma_ret lr;

	if (lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK)
		return image_fail(-ENOMEM, why, whylen, "%s: liblzma cannot start: out of memory", k->format);
	s.next_in = k->data;
	s.avail_in = k->len;
	s.next_out = out;
	s.avail_out = cap;
	do
		lr = lzma_code(&s, whole ? LZMA_FINISH : LZMA_RUN);
	while (lr == LZMA_OK && (whole || s.avail_out));
	lzma_end(&s);
	*outlen = cap - s.avail_out;
	return xz_verdict(k, lr, s.avail_in, s.avail_out, cap, whole, why, whylen);
}

/* ------------------------------------------------------------------ probe */

/* Reads the Image header out of k's compressed stream. */
static int probe_compressed(struct kernel_image *k, char *why, size_t whylen)
{
	uint8_t hdr[IMAGE_HDR_LEN];
	char inner[200];
	size_t got;
	int err;

	if (k->packing == KERNEL_GZIP && !starts_with(k->data, k->len, gzip_magic, sizeof(gzip_magic)))
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt: its payload does not start with a gzip header", k->format);
	if (k->packing == KERNEL_ZSTD && !starts_with(k->data, k->len, zstd_magic, sizeof(zstd_magic)))
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt: its payload does not start with a zstd frame", k->format);
	if (k->packing == KERNEL_XZ && !starts_with(k->data, k->len, xz_magic, sizeof(xz_magic)))
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt: its payload does not start with an xz header", k->format);
	if (k->packing == KERNEL_GZIP)
		err = gunzip(k, hdr, sizeof(hdr), false, &got, why, whylen);
	else if (k->packing == KERNEL_XZ)
		err = unxz(k, hdr, sizeof(hdr), false, &got, why, whylen);
	else
		err = unzstd_head(k, hdr, sizeof(hdr), &got, why, whylen);
	if (err)
		return err;
	err = arm64_image_parse_header(hdr, got, &k->image, inner, sizeof(inner));
	if (err)
		return image_fail(err, why, whylen, "%s holding no bootable arm64 Image: %s", k->format,
			    inner);
	/* booting.rst: image_size is 0 before Linux 3.17; nothing then says
	 * how much RAM the kernel takes before it is all decompressed. */
	if (k->image.image_size == 0)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s of a kernel older than Linux 3.17 (image_size 0): decompress it and pass the Image",
			    k->format);
	k->image.file_size = k->image.image_size;
	return 0;
}

static const char *pe_machine_name(unsigned int machine)
{
	switch (machine) {
	case 0x8664: return "x86-64";
	case 0x014c: return "x86 (32-bit)";
	case 0x01c2: case 0x01c4: return "32-bit arm";
	case 0x5032: return "riscv32";
	case 0x5064: return "riscv64";
	case 0x6264: return "loongarch64";
	default: return "another architecture";
	}
}

/* A zboot image's PE header must say arm64 (Makefile.zboot: MACHINE_TYPE). */
static int zboot_check_machine(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	uint32_t pe = get_le32(buf + ZBOOT_PE_OFF);
	unsigned int machine;

	if (pe < IMAGE_HDR_LEN || (uint64_t)pe + PE_MACHINE_OFF + 2 > len ||
	    memcmp(buf + pe, "PE\0\0", 4) != 0)
		return image_fail(-ENOEXEC, why, whylen,
			    "EFI zboot image, corrupt: no PE header at offset %u (file of %zu bytes)", pe, len);
	machine = buf[pe + PE_MACHINE_OFF] | buf[pe + PE_MACHINE_OFF + 1] << 8;
	if (machine != PE_MACHINE_ARM64)
		return image_fail(-ENOEXEC, why, whylen,
			    "EFI zboot image for %s (PE machine 0x%04x), not arm64 (0xaa64): pass an arm64 kernel",
			    pe_machine_name(machine), machine);
	return 0;
}

/* The compression named in the header: gzip or zstd, or a refusal. */
static int zboot_compression(const uint8_t *buf, struct kernel_image *k, char *why, size_t whylen)
{
	const char *c = (const char *)buf + ZBOOT_COMP_OFF;
	size_t n = strnlen(c, ZBOOT_COMP_END - ZBOOT_COMP_OFF);

	if (n == 0 || n == ZBOOT_COMP_END - ZBOOT_COMP_OFF || strspn(c, "abcdefghijklmnopqrstuvwxyz0123456789") != n)
		return image_fail(-ENOEXEC, why, whylen,
			    "EFI zboot image, corrupt: no compression type at offset 0x%x", ZBOOT_COMP_OFF);
	if (strcmp(c, "gzip") == 0) {
		k->packing = KERNEL_GZIP;
		k->format = "EFI zboot image (gzip)";
	} else if (strcmp(c, "zstd22") == 0 || strcmp(c, "zstd") == 0) {
		k->packing = KERNEL_ZSTD;
		k->format = "EFI zboot image (zstd)";
	} else if (strcmp(c, "xzkern") == 0 || strcmp(c, "xz") == 0) {
		k->packing = KERNEL_XZ;
		k->format = "EFI zboot image (xz)";
	} else {
		return image_fail(-ENOEXEC, why, whylen,
			    "EFI zboot image compressed with \"%s\": tern decompresses gzip, zstd and xz only; pass the uncompressed Image, or a kernel built with CONFIG_KERNEL_GZIP, CONFIG_KERNEL_ZSTD or CONFIG_KERNEL_XZ",
			    c);
	}
	return 0;
}

static int probe_zboot(const uint8_t *buf, size_t len, struct kernel_image *k, char *why,
		       size_t whylen)
{
	uint64_t claimed = pe_claimed_size(buf, len), end;
	uint32_t off, size;
	int err;

	if (len < IMAGE_HDR_LEN)
		return image_fail(-ENOEXEC, why, whylen,
			    "EFI zboot image, truncated: %zu bytes, its header needs %d", len, IMAGE_HDR_LEN);
	err = zboot_check_machine(buf, len, why, whylen);
	if (!err)
		err = zboot_compression(buf, k, why, whylen);
	if (err)
		return err;
	if (claimed > len)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, truncated: %zu bytes, but its PE header says it has %llu: the copy is incomplete, copy it again",
			    k->format, len, (unsigned long long)claimed);
	off = get_le32(buf + ZBOOT_PAYLOAD_OFF);
	size = get_le32(buf + ZBOOT_PAYLOAD_SIZE);
	end = (uint64_t)off + size;
	if (off < IMAGE_HDR_LEN || size == 0)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt header: payload at offset %u, %u bytes", k->format, off, size);
	if (end > len)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, truncated: %zu bytes, but its header puts the compressed kernel at bytes %u to %llu",
			    k->format, len, off, (unsigned long long)end);
	k->data = buf + off;
	k->len = size;
	if (k->packing != KERNEL_GZIP && end + ZBOOT_SIZE_LEN <= len)
		k->zboot_size = get_le32(buf + end);
	return probe_compressed(k, why, whylen);
}

int kernel_image_probe(const void *file, size_t len, struct kernel_image *k, char *why,
		       size_t whylen)
{
	const uint8_t *buf = file;

	memset(k, 0, sizeof(*k));
	k->data = buf;
	k->len = len;
	if (starts_with(buf, len, (const uint8_t *)"MZ", 2) && len >= ZBOOT_TYPE_OFF + 4 &&
	    memcmp(buf + ZBOOT_TYPE_OFF, "zimg", 4) == 0)
		return probe_zboot(buf, len, k, why, whylen);
	if (starts_with(buf, len, gzip_magic, 2)) {
		k->packing = KERNEL_GZIP;
		k->format = "gzip-compressed Image";
		return probe_compressed(k, why, whylen);
	}
	if (starts_with(buf, len, zstd_magic, sizeof(zstd_magic))) {
		k->packing = KERNEL_ZSTD;
		k->format = "zstd-compressed Image";
		return probe_compressed(k, why, whylen);
	}
	if (starts_with(buf, len, xz_magic, sizeof(xz_magic))) {
		k->packing = KERNEL_XZ;
		k->format = "xz-compressed Image";
		return probe_compressed(k, why, whylen);
	}
	k->packing = KERNEL_PLAIN;
	k->format = "arm64 Image";
	return arm64_image_parse(buf, len, &k->image, why, whylen);
}

/* ------------------------------------------------------------------ unpack */

/* The Image just decompressed: the one probed, whole, of the size zboot says. */
static int check_unpacked(const struct kernel_image *k, const uint8_t *img, size_t n, char *why,
			  size_t whylen)
{
	struct arm64_image again;
	char inner[200];

	if (arm64_image_parse_header(img, n, &again, inner, sizeof(inner)) ||
	    again.image_size != k->image.image_size || again.text_offset != k->image.text_offset ||
	    again.flags != k->image.flags)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s: the Image decompressed is not the one whose header was read (the file changed?)",
			    k->format);
	if (arm64_image_check_whole(img, n, inner, sizeof(inner)))
		return image_fail(-ENOEXEC, why, whylen, "%s holding an incomplete Image: %s", k->format,
			    inner);
	if (k->zboot_size && k->zboot_size != n)
		return image_fail(-ENOEXEC, why, whylen,
			    "%s, corrupt: it decompresses to %zu bytes, its header says %llu",
			    k->format, n, (unsigned long long)k->zboot_size);
	return 0;
}

ssize_t kernel_image_unpack(const struct kernel_image *k, void *dst, size_t cap, char *why,
			    size_t whylen)
{
	size_t n = 0;
	int err;

	if (k->packing == KERNEL_PLAIN) {
		if (k->len > cap)
			return image_fail(-E2BIG, why, whylen, "%s of %zu bytes: room for %zu", k->format,
				    k->len, cap);
		memcpy(dst, k->data, k->len);
		return (ssize_t)k->len;
	}
	cap = min_size(cap, k->image.image_size);
	if (k->packing == KERNEL_GZIP)
		err = gunzip(k, dst, cap, true, &n, why, whylen);
	else if (k->packing == KERNEL_XZ)
		err = unxz(k, dst, cap, true, &n, why, whylen);
	else
		err = unzstd(k, dst, cap, &n, why, whylen);
	if (!err)
		err = check_unpacked(k, dst, n, why, whylen);
	return err ? err : (ssize_t)n;
}
