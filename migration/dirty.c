// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dirty page tracking wired to the VM, by rings or by the slot's bitmap
 * (dirty.h): enabling, logging on and off, harvesting from the migration
 * thread, and the vCPU side of a full ring. The public calls switch on
 * dl->mode; ring_* and bitmap_* below are each mode's own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "migration/dirty.h"
#include "vmm/kvm.h"
#include "vmm/log.h"
#include "vmm/runstate.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

#define RAM_SLOT	0
/* Pages per KVM_CLEAR_DIRTY_LOG at most (1 GiB of 4 KiB pages): KVM holds
 * its MMU lock for one whole call. */
#define CLEAR_CHUNK_PAGES	(1u << 18)

static int enable_cap(int vm_fd, uint32_t cap, uint64_t arg)
{
	struct kvm_enable_cap ec = { .cap = cap, .args = { arg } };

	return (int)kvm_ioctl(vm_fd, KVM_ENABLE_CAP, &ec);
}

/* The ring size KVM accepts: a power of two of bytes, at least a page, at
 * most what the capability reports. */
static uint32_t ring_entries_for(uint32_t want, int max_bytes)
{
	uint32_t max = (uint32_t)max_bytes / sizeof(struct kvm_dirty_gfn);
	uint32_t min = (uint32_t)(host_page_size() / sizeof(struct kvm_dirty_gfn));

	if (want > max)
		want = max;
	return want < min ? min : want;
}

static int ring_enable(struct vm *vm, uint32_t entries)
{
	struct dirty_log *dl = vm->dirty;
	int max_bytes, ret;

	if (!entries) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "dirty rings are off (--dirty-ring 0)");
		return 0;
	}
	/* On a VM fd the capability reports the largest ring in bytes. */
	max_bytes = kvm_check_extension(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	if (max_bytes <= 0) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "KVM_CAP_DIRTY_LOG_RING_ACQ_REL missing: host kernel 6.x needed "
			 "for live migration with dirty rings (or try --dirty-tracking bitmap)");
		vm_trace(vm, "dirty rings: %s", dl->unavailable);
		return 0;
	}
	entries = ring_entries_for(entries, max_bytes);
	ret = enable_cap(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
			 (uint64_t)entries * sizeof(struct kvm_dirty_gfn));
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_ENABLE_CAP(DIRTY_LOG_RING_ACQ_REL)", ret);
	/* Without the bitmap, what KVM writes with no vCPU running (ITS and
	 * GIC tables) is recorded nowhere. It must precede any memslot. */
	if (!kvm_check_extension(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP)) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP missing: host kernel 6.x needed "
			 "for live migration with dirty rings (or try --dirty-tracking bitmap)");
		return 0;
	}
	ret = enable_cap(vm->vm_fd, KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP, 0);
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_ENABLE_CAP(DIRTY_LOG_RING_WITH_BITMAP)", ret);
	dl->with_bitmap = true;
	dl->ring_entries = entries;
	dl->ring_bytes = (size_t)entries * sizeof(struct kvm_dirty_gfn);
	dl->available = true;
	vm_trace(vm, "dirty rings: %u entries per vCPU, with bitmap", entries);
	return 0;
}

/*
 * Manual re-protection: KVM_GET_DIRTY_LOG then only copies the bitmap out,
 * and KVM_CLEAR_DIRTY_LOG clears bits and write-protects their pages. With
 * INITIALLY_SET (when offered) turning logging on marks every page dirty
 * instead of write-protecting the whole slot at once; dirty_log_start()
 * handles both. Enabled before any memslot: KVM applies the flags when a
 * slot's bitmap is created, and so every bitmap this VM gets has them.
 */
static int bitmap_enable(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;
	/* On a VM fd the capability reports the flags KVM accepts. */
	int offered = kvm_check_extension(vm->vm_fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	uint64_t flags;
	int ret;

	if (offered <= 0 || !(offered & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)) {
		snprintf(dl->unavailable, sizeof(dl->unavailable),
			 "KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 missing: host kernel 5.2+ needed "
			 "for live migration with --dirty-tracking bitmap");
		vm_trace(vm, "dirty bitmap: %s", dl->unavailable);
		return 0;
	}
	flags = (uint64_t)offered &
		(KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
	ret = enable_cap(vm->vm_fd, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, flags);
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2)", ret);
	dl->manual_flags = flags;
	dl->available = true;
	vm_trace(vm, "dirty bitmap: manual protect%s",
		 flags & KVM_DIRTY_LOG_INITIALLY_SET ? ", initially set" : "");
	return 0;
}

int dirty_log_enable(struct vm *vm, enum dirty_tracking mode, uint32_t ring_entries)
{
	vm->dirty->mode = mode;
	if (mode == DIRTY_TRACKING_BITMAP)
		return bitmap_enable(vm);
	return ring_enable(vm, ring_entries);
}

const char *dirty_log_mode_name(const struct dirty_log *dl)
{
	return dl->mode == DIRTY_TRACKING_BITMAP ? "bitmap" : "ring";
}

static int ring_map(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;

	dl->rings = calloc(vm->nr_vcpus, sizeof(*dl->rings));
	if (!dl->rings)
		return -ENOMEM;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		void *p = mmap(NULL, dl->ring_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			       vm->vcpus[i].fd, KVM_DIRTY_LOG_PAGE_OFFSET * host_page_size());

		if (p == MAP_FAILED) {
			pr_err("%s: cannot map its dirty ring: %m", vm->vcpus[i].name);
			return -errno;
		}
		dirty_ring_init(&dl->rings[i], p, dl->ring_entries);
	}
	return 0;
}

int dirty_log_attach(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;
	int ret;

	if (!dl->available)
		return 0;
	dl->slot = (struct dirty_slot){ .as_id = 0, .id = RAM_SLOT,
					.npages = vm->ram.size / host_page_size() };
	ret = dirty_bitmap_init(&dl->collected, dl->slot.npages);
	if (!ret)
		ret = written_log_init(&dl->written, dl->slot.npages,
				       (unsigned int)__builtin_ctzl(host_page_size()));
	if (!ret)
		vm->ram.written = &dl->written;
	if (!ret && dl->mode == DIRTY_TRACKING_BITMAP)
		ret = dirty_bitmap_init(&dl->fetched, dl->slot.npages);
	if (!ret && dl->mode == DIRTY_TRACKING_RING)
		ret = ring_map(vm);
	return ret;
}

void dirty_log_destroy(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;

	for (unsigned int i = 0; dl->rings && i < vm->nr_vcpus; i++)
		if (dl->rings[i].gfns)
			munmap(dl->rings[i].gfns, dl->ring_bytes);
	free(dl->rings);
	dl->rings = NULL;
	dirty_bitmap_free(&dl->collected);
	dirty_bitmap_free(&dl->fetched);
	vm->ram.written = NULL;
	written_log_free(&dl->written);
}

/* ---- ring tracking ---- */

static int reset_rings(void *opaque)
{
	struct vm *vm = opaque;

	return (int)kvm_ioctl_val(vm->vm_fd, KVM_RESET_DIRTY_RINGS, 0);
}

static int ring_harvest(struct vm *vm, uint64_t *entries)
{
	struct dirty_log *dl = vm->dirty;
	struct dirty_slots slots = { &dl->slot, 1 };
	uint64_t n = 0;
	int ret;

	ret = dirty_rings_harvest(dl->rings, vm->nr_vcpus, &slots, &dl->collected, &n);
	*entries += n;
	if (ret) {
		for (unsigned int i = 0; i < vm->nr_vcpus; i++)
			if (dl->rings[i].err[0])
				pr_err("%s: dirty ring: %s", vm->vcpus[i].name, dl->rings[i].err);
		return ret;
	}
	/* Same thread as the harvest: the RESET stores above are ordered
	 * before the ioctl that relies on them. */
	ret = dirty_rings_reset(dl->rings, vm->nr_vcpus, reset_rings, vm);
	if (ret < 0)
		return (int)kvm_report("vm", "KVM_RESET_DIRTY_RINGS", ret);
	runstate_harvested(&vm->rs);
	return 0;
}

/* KVM_GET_DIRTY_LOG of the rings' backup bitmap, or'ed into collected.
 * Without manual protect, the ioctl also clears what it returns. */
static int ring_collect_backup_bitmap(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;
	size_t words = (dl->slot.npages + 63) / 64;
	uint64_t *bits = calloc(words, sizeof(*bits));
	struct kvm_dirty_log log = { .slot = RAM_SLOT, .dirty_bitmap = bits };
	long ret;

	if (!bits)
		return -ENOMEM;
	ret = kvm_ioctl_checked("vm", vm->vm_fd, KVM_GET_DIRTY_LOG, &log);
	for (size_t i = 0; !ret && i < words; i++)
		dl->collected.words[i] |= bits[i];
	free(bits);
	return (int)ret;
}

/* ---- bitmap tracking ---- */

/* dl->fetched = the slot's dirty bitmap. Bits past the slot's end are
 * zero in KVM's bitmap; masking them keeps the dirty_bitmap invariant even
 * so. */
static int bitmap_fetch(struct vm *vm)
{
	struct dirty_bitmap *f = &vm->dirty->fetched;
	struct kvm_dirty_log log = { .slot = RAM_SLOT, .dirty_bitmap = f->words };
	long ret = kvm_ioctl_checked("vm", vm->vm_fd, KVM_GET_DIRTY_LOG, &log);

	if (ret)
		return (int)ret;
	if (f->nr_pages % 64)
		f->words[f->nr_pages / 64] &= (1ULL << (f->nr_pages % 64)) - 1;
	return 0;
}

/* KVM_CLEAR_DIRTY_LOG of exactly the pages in dl->fetched, in aligned
 * chunks that skip clean stretches (dirty_bitmap_clear_range()). */
static int bitmap_reprotect_fetched(struct vm *vm)
{
	struct dirty_bitmap *f = &vm->dirty->fetched;
	struct dirty_range r = { 0, 0 };
	int ret;

	while ((ret = dirty_bitmap_clear_range(f, r.first + r.count, CLEAR_CHUNK_PAGES, &r)) > 0) {
		struct kvm_clear_dirty_log clear = {
			.slot = RAM_SLOT, .first_page = r.first, .num_pages = (uint32_t)r.count,
			/* Bit 0 of what KVM reads is page first_page. */
			.dirty_bitmap = &f->words[r.first / 64],
		};
		long err = kvm_ioctl(vm->vm_fd, KVM_CLEAR_DIRTY_LOG, &clear);

		if (err) {
			pr_err("KVM_CLEAR_DIRTY_LOG of pages %llu..%llu of the RAM slot: %s",
			       (unsigned long long)r.first,
			       (unsigned long long)(r.first + r.count - 1), strerror((int)-err));
			return (int)err;
		}
	}
	return ret;
}

/*
 * Why this order is enough (get, clear, and only then does the caller read
 * the pages): a page in the fetched bitmap is re-protected by the clear,
 * so a guest write to it after the clear faults and sets its bit again; one
 * that landed between the get and the clear went to a page whose bit was
 * already set, and the caller's read, after the clear, sees it. A page not
 * in the fetched bitmap and written after the get has its bit set by that
 * write, and the clear, given only the fetched bits, leaves it for the next
 * harvest. Nothing written after the get is lost, and nothing is cleared
 * that we did not collect.
 */
static int bitmap_harvest(struct vm *vm, uint64_t *pages)
{
	struct dirty_log *dl = vm->dirty;
	int ret = bitmap_fetch(vm);

	if (ret)
		return ret;
	/* Collected before the clear, so that no page the get returned is
	 * dropped, whatever becomes of the clear. */
	for (uint64_t i = 0; i < (dl->slot.npages + 63) / 64; i++)
		dl->collected.words[i] |= dl->fetched.words[i];
	*pages += dirty_bitmap_count(&dl->fetched);
	return bitmap_reprotect_fetched(vm);
}

/*
 * Logging was just turned on. With INITIALLY_SET every page reads dirty and
 * none is write-protected; without it KVM write-protected the whole slot,
 * and the bits show what was written since. Either way one harvest, thrown
 * away, leaves the slot write-protected with clean bits — before round 0
 * reads any page. Round 0 then reads every page after its protection, so a
 * write after that read is logged and goes in a later round; and a write
 * before it is in what round 0 reads. Keeping the harvest instead would
 * resend all of RAM in round 1.
 */
static int bitmap_protect_all(struct vm *vm)
{
	uint64_t pages = 0;
	int ret = bitmap_harvest(vm, &pages);

	dirty_bitmap_clear_all(&vm->dirty->collected);
	vm_trace(vm, "dirty bitmap: %llu pages write-protected before round 0",
		 (unsigned long long)pages);
	return ret;
}

/* ---- both ---- */

/* A vCPU whose ring fills waits for a harvest only while logging is on
 * (runstate_wait_harvest): after that no harvest comes. */
static void set_logging(struct vm *vm, bool on)
{
	vm->dirty->logging = on;
	runstate_set_harvesting(&vm->rs, on);
}

int dirty_log_start(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;
	int ret;

	if (!dl->available)
		return -ENOTSUP;
	dirty_bitmap_clear_all(&dl->collected);
	ret = guest_memory_set_dirty_log(&vm->ram, vm->vm_fd, RAM_SLOT, true);
	if (!ret && dl->mode == DIRTY_TRACKING_BITMAP)
		ret = bitmap_protect_all(vm);
	if (ret) {
		guest_memory_set_dirty_log(&vm->ram, vm->vm_fd, RAM_SLOT, false);
		return ret;
	}
	written_log_set(&dl->written, true);
	set_logging(vm, true);
	pr_info("migration: dirty tracking by %s", dl->mode == DIRTY_TRACKING_BITMAP ?
		"bitmap (KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG)" : "dirty rings");
	return 0;
}

void dirty_log_stop(struct vm *vm)
{
	struct dirty_log *dl = vm->dirty;
	uint64_t n = 0;

	if (!dl->logging)
		return;
	guest_memory_set_dirty_log(&vm->ram, vm->vm_fd, RAM_SLOT, false);
	/* Recycle what KVM pushed before logging went off, so that no vCPU is
	 * left with a full ring; then nothing more is pushed. (No rings in
	 * bitmap tracking: KVM dropped the slot's bitmap with the flag.) */
	if (dl->mode == DIRTY_TRACKING_RING)
		ring_harvest(vm, &n);
	set_logging(vm, false);
	written_log_set(&dl->written, false);
	written_log_take(&dl->written, dl->collected.words);
	dirty_bitmap_clear_all(&dl->collected);
}

/* What tern's own device threads wrote, which no KVM log shows. */
static void take_written(struct dirty_log *dl)
{
	written_log_take(&dl->written, dl->collected.words);
}

int dirty_log_harvest(struct vm *vm, uint64_t *entries)
{
	int ret;

	if (vm->dirty->mode == DIRTY_TRACKING_BITMAP)
		ret = bitmap_harvest(vm, entries);
	else
		ret = ring_harvest(vm, entries);
	if (!ret)
		take_written(vm->dirty);
	return ret;
}

int dirty_log_collect_bitmap(struct vm *vm)
{
	uint64_t pages = 0;
	int ret;

	if (vm->dirty->mode == DIRTY_TRACKING_BITMAP)
		ret = bitmap_harvest(vm, &pages);
	else
		ret = ring_collect_backup_bitmap(vm);
	if (!ret)
		take_written(vm->dirty);
	return ret;
}
