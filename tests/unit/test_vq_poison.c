// SPDX-License-Identifier: GPL-2.0-only
/*
 * A virtqueue whose ring page is replaced under the device while it reads
 * or writes it (issue 18). In tern, the SIGBUS handler of memfault_service.c
 * maps a zeroed page over a poisoned one, notes the loss on the thread
 * (memfault_thread_note_loss) and the access is retried on zeros. Here the
 * ring page is made inaccessible and a SIGSEGV handler does the same: zeroes
 * it, notes the loss, and returns so the access is retried. The virtqueue
 * must then answer -EHWPOISON (the device reports NEEDS_RESET) instead of
 * acting on zeros, and work again on that page once the driver sets it up
 * again.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/virtio_ring.h>

#include "devices/virtqueue.h"
#include "vmm/memfault.h"

#define RAM_GPA 0x40000000ULL
#define QSIZE 8

/* One host page per ring part and one for data: desc, avail, used, data. */
struct fixture {
	struct guest_memory mem;
	struct virtqueue vq;
	struct vq_elem elem;
	size_t page;
	uint8_t *lost;			/* the page the handler "replaces" */
	unsigned int replaced;
};

static struct fixture f;

static uint64_t part_gpa(unsigned int n)
{
	return RAM_GPA + n * f.page;
}

static void *part(unsigned int n)
{
	return f.mem.hva + n * f.page;
}

/* What replace_touched_page() does, for a page we made inaccessible. */
static void replace_handler(int sig, siginfo_t *si, void *uctx)
{
	uint8_t *addr = si->si_addr;

	(void)uctx;
	if (!f.lost || addr < f.lost || addr >= f.lost + f.page) {
		signal(sig, SIG_DFL);
		return;		/* a real crash: the access faults again, by default */
	}
	mprotect(f.lost, f.page, PROT_READ | PROT_WRITE);
	memset(f.lost, 0, f.page);
	f.lost = NULL;
	f.replaced++;
	memfault_thread_note_loss();
}

static int setup(void **state)
{
	(void)state;
	memset(&f, 0, sizeof(f));
	f.page = (size_t)sysconf(_SC_PAGESIZE);
	f.mem.gpa = RAM_GPA;
	f.mem.size = 4 * f.page;
	f.mem.fd = -1;
	f.mem.hva = mmap(NULL, f.mem.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return f.mem.hva == MAP_FAILED ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	munmap(f.mem.hva, f.mem.size);
	return 0;
}

/* Queue 0 set up on the four pages, one writable 64-byte buffer posted. */
static void driver_init_and_post(void)
{
	struct vring_desc d = { .addr = part_gpa(3), .len = 64, .flags = VRING_DESC_F_WRITE };
	struct vring_avail *avail = part(1);

	memset(f.mem.hva, 0, 3 * f.page);
	vq_reset(&f.vq);
	f.vq.mem = &f.mem;
	f.vq.size = QSIZE;
	f.vq.desc_gpa = part_gpa(0);
	f.vq.avail_gpa = part_gpa(1);
	f.vq.used_gpa = part_gpa(2);
	assert_int_equal(vq_enable(&f.vq), 0);
	memcpy(part(0), &d, sizeof(d));
	avail->ring[0] = 0;
	__atomic_store_n(&avail->idx, 1, __ATOMIC_RELEASE);
}

/* Installed here, in the test: cmocka sets its own SIGSEGV handler around it. */
static void poison(unsigned int n)
{
	struct sigaction sa = { .sa_sigaction = replace_handler, .sa_flags = SA_SIGINFO };

	assert_int_equal(sigaction(SIGSEGV, &sa, NULL), 0);
	f.lost = part(n);
	assert_int_equal(mprotect(f.lost, f.page, PROT_NONE), 0);
}

static void assert_works_again(void)
{
	struct vring_used *used = part(2);

	driver_init_and_post();
	assert_int_equal(vq_pop(&f.vq, &f.elem), 1);
	assert_int_equal(vq_push(&f.vq, &f.elem, 64), 0);
	assert_int_equal(used->idx, 1);
	assert_int_equal(used->ring[0].len, 64);
}

/* The avail ring read as zeros would look empty: the loss must show. */
static void test_avail_lost(void **state)
{
	(void)state;
	driver_init_and_post();
	poison(1);
	assert_int_equal(vq_pop(&f.vq, &f.elem), -EHWPOISON);
	assert_int_equal(f.replaced, 1);
	assert_works_again();
}

/* Zeros in the descriptor table would be a chain at gpa 0: refused anyway,
 * but as a lost ring, not as a driver's bad descriptor. */
static void test_desc_lost(void **state)
{
	(void)state;
	driver_init_and_post();
	poison(0);
	assert_int_equal(vq_pop(&f.vq, &f.elem), -EHWPOISON);
	assert_int_equal(f.replaced, 1);
	assert_works_again();
}

/* The used element written into a replaced page: the driver never sees it. */
static void test_used_lost(void **state)
{
	(void)state;
	driver_init_and_post();
	assert_int_equal(vq_pop(&f.vq, &f.elem), 1);
	poison(2);
	assert_int_equal(vq_push(&f.vq, &f.elem, 64), -EHWPOISON);
	assert_int_equal(f.replaced, 1);
	assert_works_again();
}

/* A poisoned buffer page is not the ring: taking the chain does not touch it. */
static void test_other_page_lost(void **state)
{
	(void)state;
	driver_init_and_post();
	poison(3);
	assert_int_equal(vq_pop(&f.vq, &f.elem), 1);
	assert_int_equal(f.replaced, 0);
	assert_int_equal(mprotect(f.lost, f.page, PROT_READ | PROT_WRITE), 0);
	f.lost = NULL;
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_avail_lost),
		T(test_desc_lost),
		T(test_used_lost),
		T(test_other_page_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
