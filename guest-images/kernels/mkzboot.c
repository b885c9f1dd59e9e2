// SPDX-License-Identifier: GPL-2.0-only
/*
 * mkzboot: wraps an arm64 Image in an EFI zboot container, for the lab's
 * compressed-kernel scenarios (Debian's arm64 kernel is not a zboot build).
 * A build-machine program: guest-images/build runs it to make
 * build/guest/kernels/vmlinuz-{gzip,zstd}.efi.
 *
 *   mkzboot gzip|zstd IMAGE OUT [PE-MACHINE]
 *
 * tern's own container, not the kernel's build: the header is laid out as
 * drivers/firmware/efi/libstub/zboot-header.S lays it out ("MZ", "zimg",
 * payload offset and size, compression type, PE header for PE-MACHINE,
 * default 0xaa64 = arm64) and the payload is made as Makefile.zboot makes it
 * (the Image padded with zeros to its image_size, compressed; zstd's followed
 * by its le32 size), but there is no EFI decompressor stub in it: firmware
 * could not run it, a loader that unpacks it (tern) can.
 *
 * The kernel compresses with gzip -9 and zstd -22 --ultra; this uses zlib's
 * level 6 and zstd's level 3 (fast to make; a decompressor does not care),
 * with a checksum and no content size, as the kernel's piped zstd writes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>
#include <zstd.h>

#define PAYLOAD_OFF	0x1000
#define PE_OFF		0x40

struct buf {
	uint8_t *p;
	size_t len;
};

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static int read_image(const char *path, struct buf *img)
{
	FILE *f = fopen(path, "rb");
	uint64_t image_size = 0;
	long len;

	if (!f || fseek(f, 0, SEEK_END) || (len = ftell(f)) < 64 || fseek(f, 0, SEEK_SET)) {
		fprintf(stderr, "mkzboot: cannot read %s (or shorter than an Image header)\n", path);
		return -1;
	}
	img->p = malloc((size_t)len);
	if (!img->p || fread(img->p, 1, (size_t)len, f) != (size_t)len) {
		fprintf(stderr, "mkzboot: cannot read %s\n", path);
		return -1;
	}
	fclose(f);
	memcpy(&image_size, img->p + 16, 8);	/* little-endian host */
	if (memcmp(img->p + 56, "ARM\x64", 4) || image_size < (uint64_t)len || image_size > 1u << 30) {
		fprintf(stderr, "mkzboot: %s is not an arm64 Image with an image_size\n", path);
		return -1;
	}
	/* Makefile.zboot: the payload is the Image padded to image_size. */
	img->p = realloc(img->p, image_size);
	if (!img->p)
		return -1;
	memset(img->p + len, 0, image_size - (size_t)len);
	img->len = image_size;
	return 0;
}

static int gzip_into(const struct buf *in, struct buf *out)
{
	z_stream s;

	memset(&s, 0, sizeof(s));
	if (deflateInit2(&s, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	out->len = deflateBound(&s, in->len);
	out->p = malloc(out->len);
	if (!out->p)
		return -1;
	s.next_in = in->p;
	s.avail_in = (uInt)in->len;
	s.next_out = out->p;
	s.avail_out = (uInt)out->len;
	if (deflate(&s, Z_FINISH) != Z_STREAM_END)
		return -1;
	out->len = s.total_out;
	deflateEnd(&s);
	return 0;
}

static int zstd_into(const struct buf *in, struct buf *out)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t bound = ZSTD_compressBound(in->len);

	out->p = malloc(bound);
	if (!cc || !out->p)
		return -1;
	ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
	out->len = ZSTD_compress2(cc, out->p, bound, in->p, in->len);
	ZSTD_freeCCtx(cc);
	return ZSTD_isError(out->len) ? -1 : 0;
}

/* The container: header, PE header with one section up to the end, payload. */
static int write_zboot(const char *path, const char *comp, const struct buf *payload,
		       uint32_t unpacked, uint16_t machine)
{
	int sized = strcmp(comp, "gzip") != 0;
	size_t len = (PAYLOAD_OFF + payload->len + (sized ? 4 : 0) + 511) & ~(size_t)511;
	uint8_t *z = calloc(1, len), *pe = z + PE_OFF;
	FILE *f;

	if (!z)
		return -1;
	memcpy(z, "MZ\0\0zimg", 8);
	put_le32(z + 8, PAYLOAD_OFF);
	put_le32(z + 12, (uint32_t)payload->len);
	strcpy((char *)z + 24, sized ? "zstd22" : "gzip");
	put_le32(z + 0x38, 0x818223cd);		/* LINUX_PE_MAGIC */
	put_le32(z + 0x3c, PE_OFF);
	memcpy(pe, "PE\0\0", 4);
	put_le16(pe + 4, machine);
	put_le16(pe + 6, 1);
	memcpy(pe + 24, ".data\0\0\0", 8);
	put_le32(pe + 24 + 16, (uint32_t)(len - 0x200));
	put_le32(pe + 24 + 20, 0x200);
	memcpy(z + PAYLOAD_OFF, payload->p, payload->len);
	if (sized)
		put_le32(z + PAYLOAD_OFF + payload->len, unpacked);
	f = fopen(path, "wb");
	if (!f || fwrite(z, 1, len, f) != len || fclose(f)) {
		fprintf(stderr, "mkzboot: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	free(z);
	return 0;
}

int main(int argc, char **argv)
{
	struct buf img, payload;
	uint16_t machine = 0xaa64;
	int gzip;

	if (argc < 4 || argc > 5 || (strcmp(argv[1], "gzip") && strcmp(argv[1], "zstd"))) {
		fprintf(stderr, "usage: mkzboot gzip|zstd IMAGE OUT [PE-MACHINE]\n");
		return 2;
	}
	if (argc == 5)
		machine = (uint16_t)strtoul(argv[4], NULL, 0);
	gzip = strcmp(argv[1], "gzip") == 0;
	if (read_image(argv[2], &img) ||
	    (gzip ? gzip_into(&img, &payload) : zstd_into(&img, &payload)) ||
	    write_zboot(argv[3], argv[1], &payload, (uint32_t)img.len, machine)) {
		fprintf(stderr, "mkzboot: failed\n");
		return 1;
	}
	printf("mkzboot: %s: %s payload of %zu bytes (Image padded to %zu), PE machine 0x%04x\n",
	       argv[3], argv[1], payload.len, img.len, machine);
	return 0;
}
