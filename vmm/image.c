// SPDX-License-Identifier: GPL-2.0-only
/*
 * The arm64 Image header (Documentation/arch/arm64/booting.rst) and where the
 * kernel, initrd and DTB go in guest RAM.
 *
 * Everything here works on untrusted bytes (the user may pass any file, and a
 * fuzzer does): every offset is checked against the length before it is read,
 * and every sum of header values is checked for overflow.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "image.h"
#include "layout.h"

#define IMAGE_HDR_SIZE		64
#define IMAGE_MAGIC_OFF		56
#define IMAGE_PE_OFF_OFF	60	/* "res5": offset of the PE header, EFI-stub kernels */
#define IMAGE_FLAG_BE		(1ULL << 0)

/* booting.rst: image_size 0 means a kernel older than 3.17, whose text_offset
 * may be in either endianness; those kernels all used 0x80000. */
#define IMAGE_OLD_TEXT_OFFSET	0x80000ULL

/* text_offset is an offset into a 2 MiB aligned block (randomised kernels
 * kept it below 2 MiB too); anything larger is not a kernel header. */
#define IMAGE_KERNEL_ALIGN	(2 * MiB)

/* The initrd is aligned for the largest arm64 page size, so that the guest
 * rounding it out to whole pages never overlaps the kernel or the DTB. */
#define BOOT_INITRD_ALIGN	(64 * KiB)

/* x86 boot protocol: "HdrS" at 0x202 of a bzImage. */
#define X86_HDRS_OFF		0x202

/* EFI zboot (drivers/firmware/efi/libstub/zboot-header.S): "MZ", 2 bytes of
 * padding, "zimg", payload offset and size, 8 reserved bytes, then the
 * compression type as a NUL-terminated string. */
#define ZBOOT_TYPE_OFF		4
#define ZBOOT_COMP_OFF		24
#define ZBOOT_COMP_MAX		8

/* PE/COFF, just enough to find where the file's sections end. */
#define PE_COFF_HDR_SIZE	24	/* "PE\0\0" + COFF file header */
#define PE_NSECT_OFF		6
#define PE_OPTHDR_SIZE_OFF	20
#define PE_SECT_SIZE		40
#define PE_SECT_RAWSIZE_OFF	16
#define PE_SECT_RAWPTR_OFF	20

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static bool has_bytes(const uint8_t *buf, size_t len, size_t off, const void *magic,
		      size_t mlen)
{
	return off <= len && mlen <= len - off && memcmp(buf + off, magic, mlen) == 0;
}

/* x rounded up to a power of two @a, saturating like add_sat(). */
static uint64_t align_up_sat(uint64_t x, uint64_t a)
{
	return x > UINT64_MAX - (a - 1) ? UINT64_MAX : (x + a - 1) & ~(a - 1);
}

static uint64_t mib_up(uint64_t bytes)
{
	return bytes / MiB + (bytes % MiB != 0);
}

/* a + b, saturating: sizes from a hostile header must not wrap into "fits". */
static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

int image_fail(int err, char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

/* The compression named in a zboot header, if it is a short printable word. */
static const char *zboot_compression(const uint8_t *buf, size_t len, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; i + 1 < outlen && ZBOOT_COMP_OFF + i < len; i++) {
		uint8_t c = buf[ZBOOT_COMP_OFF + i];

		if (c == 0)
			break;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			return NULL;
		out[i] = (char)c;
	}
	out[i] = 0;
	return i ? out : NULL;
}

/* Recognises the files people pass by mistake; 0 if @buf is none of them. */
static int identify_other_format(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *what;
	} compressed[] = {
		{ "\x1f\x8b", 2, "gzip-compressed (a vmlinuz.gz?)" },
		{ "\xfd" "7zXZ\0", 6, "xz-compressed" },
		{ "\x28\xb5\x2f\xfd", 4, "zstd-compressed" },
		{ "\x04\x22\x4d\x18", 4, "lz4-compressed" },
		{ "\x02\x21\x4c\x18", 4, "lz4-compressed (legacy format)" },
		{ "BZh", 3, "bzip2-compressed" },
		{ "\x89LZO", 4, "lzo-compressed" },
	};
	char comp[ZBOOT_COMP_MAX + 1];
	size_t i;

	for (i = 0; i < sizeof(compressed) / sizeof(compressed[0]); i++)
		if (has_bytes(buf, len, 0, compressed[i].magic, compressed[i].len))
			return image_fail(-ENOEXEC, why, whylen,
				    "%s: decompress it and pass the arm64 Image",
				    compressed[i].what);

	if (has_bytes(buf, len, 0, "MZ", 2) && has_bytes(buf, len, ZBOOT_TYPE_OFF, "zimg", 4)) {
		const char *c = zboot_compression(buf, len, comp, sizeof(comp));

		return image_fail(-ENOEXEC, why, whylen,
			    "EFI zboot compressed kernel%s%s%s: pass the uncompressed Image (arch/arm64/boot/Image)",
			    c ? " (" : "", c ? c : "", c ? ")" : "");
	}
	if (has_bytes(buf, len, 0, "\x7f" "ELF", 4))
		return image_fail(-ENOEXEC, why, whylen,
			    "ELF file (vmlinux?): pass the arm64 Image (arch/arm64/boot/Image), not the ELF vmlinux");
	if (has_bytes(buf, len, 0, "\x27\x05\x19\x56", 4))
		return image_fail(-ENOEXEC, why, whylen,
			    "U-Boot uImage: pass the arm64 Image it wraps (dumpimage -T kernel -o Image)");
	if (has_bytes(buf, len, 0, "\xd0\x0d\xfe\xed", 4))
		return image_fail(-ENOEXEC, why, whylen, "a device tree blob, not a kernel");
	if (has_bytes(buf, len, 0, "07070", 5))
		return image_fail(-ENOEXEC, why, whylen,
			    "a cpio archive (an initramfs?): pass it with --initrd, and the kernel with --kernel");
	return 0;
}

/* No whole header with the arm64 magic: name what it is, or say it is not an Image. */
static int explain_not_arm64(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	if (len < IMAGE_HDR_SIZE)
		return image_fail(-ENOEXEC, why, whylen,
			    "truncated: %zu bytes, an Image header needs %d", len, IMAGE_HDR_SIZE);
	if (has_bytes(buf, len, X86_HDRS_OFF, "HdrS", 4))
		return image_fail(-ENOEXEC, why, whylen,
			    "x86 kernel (bzImage): tern boots arm64 kernels (arch/arm64/boot/Image)");
	if (has_bytes(buf, len, 0, "MZ", 2))
		return image_fail(-ENOEXEC, why, whylen,
			    "PE/EFI executable without the arm64 Image header (an x86 kernel or an EFI application?): pass an arm64 Image");
	return image_fail(-ENOEXEC, why, whylen,
		    "not an arm64 Linux Image (no \"ARM\\x64\" magic at offset %d)", IMAGE_MAGIC_OFF);
}

/*
 * An EFI-stub kernel ("MZ" + the arm64 magic) carries a PE header whose
 * section table says how long the file is: the one case where a cut-off copy
 * of the kernel can be told apart from a whole one.
 */
uint64_t pe_claimed_size(const void *data, size_t len)
{
	const uint8_t *buf = data;
	uint64_t sect_off, claimed;
	unsigned int i, nsect;
	uint32_t pe_off;

	if (len < IMAGE_HDR_SIZE || !has_bytes(buf, len, 0, "MZ", 2))
		return 0;
	pe_off = get_le32(buf + IMAGE_PE_OFF_OFF);
	if (pe_off < IMAGE_HDR_SIZE)
		return 0;
	if ((uint64_t)pe_off + PE_COFF_HDR_SIZE > len)
		return (uint64_t)pe_off + PE_COFF_HDR_SIZE;
	if (memcmp(buf + pe_off, "PE\0\0", 4) != 0)
		return 0;

	nsect = get_le16(buf + pe_off + PE_NSECT_OFF);
	sect_off = (uint64_t)pe_off + PE_COFF_HDR_SIZE + get_le16(buf + pe_off + PE_OPTHDR_SIZE_OFF);
	claimed = sect_off + (uint64_t)nsect * PE_SECT_SIZE;
	if (claimed > len)
		return claimed;
	for (i = 0; i < nsect; i++) {
		const uint8_t *s = buf + sect_off + (uint64_t)i * PE_SECT_SIZE;
		uint64_t end = (uint64_t)get_le32(s + PE_SECT_RAWPTR_OFF) +
			       get_le32(s + PE_SECT_RAWSIZE_OFF);

		if (end > claimed)
			claimed = end;
	}
	return claimed;
}

int arm64_image_parse_header(const void *data, size_t len, struct arm64_image *img, char *why,
			     size_t whylen)
{
	const uint8_t *buf = data;
	int err;

	if (len == 0)
		return image_fail(-ENOEXEC, why, whylen, "empty file");
	err = identify_other_format(buf, len, why, whylen);
	if (err)
		return err;
	if (len < IMAGE_HDR_SIZE || !has_bytes(buf, len, IMAGE_MAGIC_OFF, "ARM\x64", 4))
		return explain_not_arm64(buf, len, why, whylen);

	img->text_offset = get_le64(buf + 8);
	img->image_size = get_le64(buf + 16);
	img->flags = get_le64(buf + 24);
	img->file_size = len;

	if (img->flags & IMAGE_FLAG_BE)
		return image_fail(-ENOEXEC, why, whylen,
			    "big-endian arm64 kernel: tern runs little-endian guests");
	if (img->image_size == 0)
		img->text_offset = IMAGE_OLD_TEXT_OFFSET;
	if (img->text_offset >= IMAGE_KERNEL_ALIGN || img->text_offset % (4 * KiB))
		return image_fail(-ENOEXEC, why, whylen,
			    "corrupt Image header: text_offset 0x%llx is not a 4 KiB aligned offset below 2 MiB",
			    (unsigned long long)img->text_offset);
	return 0;
}

int arm64_image_check_whole(const void *buf, size_t len, char *why, size_t whylen)
{
	uint64_t claimed = pe_claimed_size(buf, len);

	if (claimed > len)
		return image_fail(-ENOEXEC, why, whylen,
			    "truncated: %zu bytes, but its PE header says the kernel is %llu bytes (an incomplete copy?)",
			    len, (unsigned long long)claimed);
	return 0;
}

int arm64_image_parse(const void *data, size_t len, struct arm64_image *img, char *why,
		      size_t whylen)
{
	int err = arm64_image_parse_header(data, len, img, why, whylen);

	return err ? err : arm64_image_check_whole(data, len, why, whylen);
}

int arm64_raw_describe(size_t len, struct arm64_image *img, char *why, size_t whylen)
{
	if (len == 0)
		return image_fail(-ENOEXEC, why, whylen, "empty file");
	img->text_offset = ARM64_RAW_LOAD_OFFSET;
	img->image_size = 0;
	img->flags = 0;
	img->file_size = len;
	return 0;
}

int boot_plan_compute(const struct arm64_image *img, uint64_t ram_base, uint64_t ram_size,
		      uint64_t initrd_size, struct boot_plan *plan, char *why, size_t whylen)
{
	uint64_t kernel_span = img->image_size > img->file_size ? img->image_size : img->file_size;
	uint64_t kernel_need = add_sat(img->text_offset, kernel_span);
	uint64_t initrd_need = align_up_sat(initrd_size, BOOT_INITRD_ALIGN);
	uint64_t need = add_sat(add_sat(kernel_need, initrd_need), BOOT_DTB_MAX);

	if (ram_base % IMAGE_KERNEL_ALIGN || ram_size % LAYOUT_RAM_ALIGN ||
	    ram_size > UINT64_MAX - ram_base)
		return image_fail(-EINVAL, why, whylen,
			    "RAM at 0x%llx, %llu bytes: base and size must be 2 MiB aligned and end below 2^64",
			    (unsigned long long)ram_base, (unsigned long long)ram_size);
	if (need > ram_size) {
		if (initrd_size)
			return image_fail(-E2BIG, why, whylen,
				    "kernel (%llu MiB) and initrd (%llu MiB) need %llu MiB of RAM; --memory is %llu MiB",
				    (unsigned long long)mib_up(kernel_span),
				    (unsigned long long)mib_up(initrd_size),
				    (unsigned long long)mib_up(need),
				    (unsigned long long)(ram_size / MiB));
		return image_fail(-E2BIG, why, whylen,
			    "kernel (%llu MiB) needs %llu MiB of RAM; --memory is %llu MiB",
			    (unsigned long long)mib_up(kernel_span), (unsigned long long)mib_up(need),
			    (unsigned long long)(ram_size / MiB));
	}

	/* need <= ram_size, so none of these can wrap. */
	plan->kernel_addr = ram_base + img->text_offset;
	plan->kernel_end = plan->kernel_addr + kernel_span;
	plan->dtb_addr = ram_base + ram_size - BOOT_DTB_MAX;
	plan->initrd_size = initrd_size;
	plan->initrd_addr = initrd_size ? plan->dtb_addr - initrd_need : 0;
	return 0;
}

