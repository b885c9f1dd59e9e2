/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A flat arm64 binary for tern --kernel-format raw (the lab's raw-load
 * scenario): linked at RAM base + 0x80000 (0x40080000, vmm/layout.h), where a
 * raw load must put it. Entered like an Image: x0 holds the DTB's address
 * (Documentation/arch/arm64/booting.rst). It prints on the 16550 UART at
 * 0x09000000 whether it runs where it was linked and whether x0 points at a
 * flattened device tree (magic 0xd00dfeed, big-endian), then
 * "EXIT: STATUS=1" (kvm-unit-tests' line for a pass; 3 if a check failed)
 * and asks PSCI for SYSTEM_OFF over HVC (the DTB's psci method).
 */
#define UART		0x09000000
#define UART_LSR	5
#define LSR_THRE	0x20
#define PSCI_SYSTEM_OFF	0x84000008
#define FDT_MAGIC_LE	0xedfe0dd0	/* 0xd00dfeed read as little-endian */

	.text
	.globl	_start
_start:
	mov	x19, x0			/* the DTB */
	mov	x20, #0			/* checks failed */
	adr	x0, msg_hello
	bl	puts

	adr	x1, _start
	ldr	x2, =_start		/* the link address */
	adr	x0, msg_where_ok
	cmp	x1, x2
	b.eq	1f
	adr	x0, msg_where_bad
	add	x20, x20, #1
1:	bl	puts

	adr	x0, msg_dtb_bad
	cbz	x19, 2f
	ldr	w1, [x19]
	ldr	w2, =FDT_MAGIC_LE
	cmp	w1, w2
	b.ne	2f
	adr	x0, msg_dtb_ok
	b	3f
2:	add	x20, x20, #1
3:	bl	puts

	adr	x0, msg_pass
	cbz	x20, 4f
	adr	x0, msg_fail
4:	bl	puts
	ldr	x0, =PSCI_SYSTEM_OFF
	hvc	#0
5:	wfi				/* SYSTEM_OFF does not return */
	b	5b

/* Prints the NUL-terminated string at x0; clobbers x0-x3. */
puts:
	ldr	x1, =UART
6:	ldrb	w2, [x0], #1
	cbz	w2, 8f
7:	ldrb	w3, [x1, #UART_LSR]
	tbz	w3, #5, 7b		/* LSR_THRE: room in the transmitter */
	strb	w2, [x1]
	b	6b
8:	ret

msg_hello:	.asciz	"tern raw: hello from a flat binary\n"
msg_where_ok:	.asciz	"tern raw: running at its link address, RAM base + 0x80000\n"
msg_where_bad:	.asciz	"tern raw: NOT at its link address\n"
msg_dtb_ok:	.asciz	"tern raw: x0 points at a device tree\n"
msg_dtb_bad:	.asciz	"tern raw: x0 does NOT point at a device tree\n"
msg_pass:	.asciz	"EXIT: STATUS=1\n"
msg_fail:	.asciz	"EXIT: STATUS=3\n"
	.balign	8
	.ltorg
