// SPDX-License-Identifier: GPL-2.0-only
/*
 * Snapshots: the whole VM in one stream (docs/stream-format.md).
 *
 * Save, with the VM paused: KVM first writes what it keeps of the GIC into
 * guest RAM (LPI pending bits, ITS tables), then the stream carries, in
 * order: the machine's shape, RAM, the guest counter, each vCPU, the GIC,
 * the ITS, each device. Restore reads it back in that same order, which is
 * the order KVM needs: RAM before anything that points into it, the
 * redistributors before the ITS (its collections target them), the ITS
 * before the MSI routes the devices re-establish.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/devices.h"
#include "migration/clock.h"
#include "migration/gic_state.h"
#include "migration/machine.h"
#include "migration/ram_pages.h"
#include "migration/snapshot.h"
#include "migration/state.h"
#include "migration/stream.h"
#include "migration/vcpu_state.h"
#include "vmm/log.h"
#include "vmm/vcpu.h"
#include "vmm/vm.h"

/* Letting the guest run a little between attempts drains an ITS command
 * queue the guest was filling when it was paused. */
#define ITS_QUIESCE_ATTEMPTS	5
#define ITS_QUIESCE_WAIT_NS	20000000L

#define DEVICE_NAME_MAX		64

static uint64_t stream_features(const struct vm *vm)
{
	return STREAM_F_ITS | (vm->pmu ? STREAM_F_PMU : 0) | STREAM_F_COUNTER_OFFSET;
}

/* ------------------------------------------------------------ config */

static void config_encode(struct vm *vm, struct state_writer *w)
{
	unsigned int n = devices_state_count(vm);

	sw_u64(w, vm->ram.size);
	sw_u32(w, vm->nr_vcpus);
	sw_u32(w, vm->gic.nr_irqs);
	sw_u8(w, vm->pmu);
	sw_u32(w, n);
	for (unsigned int i = 0; i < n; i++)
		sw_str(w, devices_state_name(vm, i));
}

/* The snapshot's machine must be this one: say which part differs. */
static int config_check(struct vm *vm, struct state_reader *r)
{
	uint64_t ram = sr_u64(r);
	uint32_t vcpus = sr_u32(r), irqs = sr_u32(r);
	uint8_t pmu = sr_u8(r);
	uint32_t n = sr_u32(r);
	char name[DEVICE_NAME_MAX];

	if (!sr_ok(r))
		return r->err;
	if (ram != vm->ram.size)
		return sr_fail(r, "the saved VM has %" PRIu64 " MiB of RAM, this VM %" PRIu64
			       " MiB (--memory)", ram >> 20, vm->ram.size >> 20);
	if (vcpus != vm->nr_vcpus)
		return sr_fail(r, "the saved VM has %u vCPUs, this VM %u (--cpus)", vcpus,
			       vm->nr_vcpus);
	if (pmu != vm->pmu)
		return sr_fail(r, "the saved VM's vCPUs %s a PMU, this VM's %s (--pmu)",
			       pmu ? "have" : "do not have", vm->pmu ? "do" : "do not");
	if (irqs != vm->gic.nr_irqs)
		return sr_fail(r, "the saved VM's GIC has %u interrupts, this VM's %u", irqs,
			       vm->gic.nr_irqs);
	if (n != devices_state_count(vm))
		return sr_fail(r, "the saved VM has %u devices, this VM %u (--disk, --net, "
			       "--vconsole, --firmware)", n, devices_state_count(vm));
	for (unsigned int i = 0; i < n && sr_ok(r); i++) {
		sr_str(r, name, sizeof(name));
		if (sr_ok(r) && strcmp(name, devices_state_name(vm, i)))
			return sr_fail(r, "device %u is '%s' in the saved VM, '%s' in this VM", i,
				       name, devices_state_name(vm, i));
	}
	return sr_finish(r);
}

/* ------------------------------------------------------------ save */

static int put_state(struct stream_writer *sw, uint16_t type, uint32_t instance,
		     const struct state_writer *w)
{
	struct iovec iov = { .iov_base = w->buf, .iov_len = w->len };

	if (w->err)
		return w->err;
	return stream_write_section(sw, type, 1, instance, &iov, 1);
}

static bool page_wanted(const struct dirty_bitmap *pages, const struct page_writer *pw,
			uint64_t p)
{
	return (!pages || dirty_bitmap_test(pages, p)) &&
	       !(pw->defer && dirty_bitmap_test(pw->defer, p));
}

static uint64_t next_wanted(const struct dirty_bitmap *pages, const struct page_writer *pw,
			    uint64_t p)
{
	if (!pw->defer)
		return pages ? dirty_bitmap_next(pages, p) : p;
	if (!pages)
		return dirty_bitmap_next_clean(pw->defer, p);
	return dirty_bitmap_next_except(pages, pw->defer, p);
}

static int put_zero_run(struct stream_writer *sw, uint64_t off, uint64_t npages)
{
	uint8_t payload[STREAM_RAM_ZERO_BYTES];
	struct iovec iov = { payload, sizeof(payload) };

	stream_ram_zero_encode(payload, off, npages);
	return stream_write_section(sw, STREAM_SEC_RAM_ZERO, 1, 0, &iov, 1);
}

static int put_page_run(struct vm *vm, struct stream_writer *sw, uint64_t off, size_t len,
			uint8_t *bounce)
{
	uint64_t le_off = htole64(off);
	struct iovec iov[2] = { { &le_off, sizeof(le_off) }, { vm->ram.hva + off, len } };

	if (bounce) {
		memcpy(bounce, vm->ram.hva + off, len);
		iov[1].iov_base = bounce;
	}
	return stream_write_section(sw, STREAM_SEC_RAM, 1, 0, iov, 2);
}

/* Runs of selected pages that are all zero or all not, each one section. */
int machine_put_pages(struct vm *vm, struct stream_writer *sw, const struct dirty_bitmap *pages,
		      struct page_writer *pw)
{
	const size_t page = host_page_size();
	const uint64_t npages = vm->ram.size / page;
	const uint64_t max_run = (pw->bounce ? pw->bounce_len : STREAM_RAM_CHUNK_MAX) / page;
	const uint64_t selected = pages ? dirty_bitmap_count(pages) : npages;
	struct page_stats *stats = &pw->stats;
	uint64_t p, written = 0;

	if ((pages && pages->nr_pages != npages) || (pw->defer && pw->defer->nr_pages != npages))
		return -EINVAL;
	for (p = next_wanted(pages, pw, 0); p < npages; p = next_wanted(pages, pw, p)) {
		bool zero = ram_page_is_zero(vm->ram.hva + p * page, page);
		uint64_t start = p;
		int ret = 0;

		while (p < npages && p - start < max_run && page_wanted(pages, pw, p) &&
		       ram_page_is_zero(vm->ram.hva + p * page, page) == zero)
			p++;
		if (!zero) {
			ret = put_page_run(vm, sw, start * page, (p - start) * page, pw->bounce);
			stats->pages += p - start;
			stats->bytes += (p - start) * page;
		} else {
			if (pw->zero_markers)
				ret = put_zero_run(sw, start * page, p - start);
			stats->zero_pages += p - start;
		}
		written += p - start;
		if (!ret && pw->between)
			ret = pw->between(pw->opaque);
		if (ret)
			return ret;
	}
	stats->deferred += selected - written;
	return 0;
}

static int put_vcpus(struct vm *vm, struct stream_writer *sw)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct state_writer w;
		int ret;

		sw_init(&w);
		ret = vcpu_state_save(&vm->vcpus[i], &w);
		if (!ret)
			ret = put_state(sw, STREAM_SEC_VCPU, i, &w);
		sw_free(&w);
		if (ret)
			return ret;
	}
	return 0;
}

static int put_devices(struct vm *vm, struct stream_writer *sw)
{
	for (unsigned int i = 0; i < devices_state_count(vm); i++) {
		struct state_writer w;
		int ret;

		sw_init(&w);
		sw_str(&w, devices_state_name(vm, i));
		ret = devices_state_save(vm, i, &w);
		if (!ret)
			ret = put_state(sw, STREAM_SEC_DEVICE, i, &w);
		sw_free(&w);
		if (ret)
			return ret;
	}
	return 0;
}

int machine_put_prelude(struct vm *vm, struct stream_writer *sw)
{
	struct stream_header h = { STREAM_VERSION, STREAM_ARCH_AARCH64, (uint32_t)host_page_size(),
				   stream_features(vm) };
	struct state_writer cfg;
	int ret;

	sw_init(&cfg);
	config_encode(vm, &cfg);
	ret = stream_write_header(sw, &h);
	if (!ret)
		ret = put_state(sw, STREAM_SEC_CONFIG, 0, &cfg);
	sw_free(&cfg);
	return ret;
}

/* One producer per section kind, so the stream's order is visible here. */
int machine_put_state(struct vm *vm, struct stream_writer *sw, const struct state_writer *its)
{
	struct state_writer clk, gic;
	int ret;

	sw_init(&clk);
	sw_init(&gic);
	ret = clock_save(vm, &clk);
	if (!ret)
		ret = put_state(sw, STREAM_SEC_CLOCK, 0, &clk);
	if (!ret)
		ret = put_vcpus(vm, sw);
	if (!ret)
		ret = gic_state_save(vm, &gic);
	if (!ret)
		ret = put_state(sw, STREAM_SEC_GIC, 0, &gic);
	if (!ret)
		ret = put_state(sw, STREAM_SEC_ITS, 0, its);
	if (!ret)
		ret = put_devices(vm, sw);
	if (!ret)
		ret = stream_write_end(sw);
	sw_free(&clk);
	sw_free(&gic);
	return ret;
}

/* A snapshot: the VM is paused, so RAM is read in place, zero pages left out. */
static int put_machine(struct vm *vm, struct stream_writer *sw, const struct state_writer *its,
		       uint64_t *ram_bytes)
{
	struct page_writer pw = { .zero_markers = false };
	int ret = machine_put_prelude(vm, sw);

	if (!ret)
		ret = machine_put_pages(vm, sw, NULL, &pw);
	*ram_bytes = pw.stats.bytes;
	if (!ret)
		ret = machine_put_state(vm, sw, its);
	return ret;
}

/*
 * The vGIC's pending tables and a quiescent ITS's tables, into guest RAM.
 * An ITS with commands still queued is let run briefly and tried again; a
 * bounded number of times, then the save fails rather than record a state
 * that would replay those commands.
 */
int machine_save_gic_tables(struct vm *vm, struct state_writer *its, char *err, size_t errlen)
{
	const struct timespec wait = { 0, ITS_QUIESCE_WAIT_NS };
	int ret = -EAGAIN;

	for (int i = 0; i < ITS_QUIESCE_ATTEMPTS && ret == -EAGAIN; i++) {
		if (i) {
			vm_resume(vm);
			nanosleep(&wait, NULL);
			ret = vm_pause(vm);
			if (ret)
				break;
		}
		sw_free(its);
		ret = gic_save_tables(vm, its, err, errlen);
	}
	return ret;
}

/*
 * The file the snapshot is written to before its rename: always a new one
 * (O_EXCL), never through a symlink (O_NOFOLLOW; with O_EXCL the kernel
 * refuses a symlink in the last component even without it, open(2)), and
 * readable by tern's user only, whatever the umask: guest memory is in it.
 * Another snapshot's file, or whatever someone planted there, is left alone.
 */
static int create_part_file(const char *tmp, char *err, size_t errlen)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	int e = errno;

	if (fd >= 0 && fchmod(fd, 0600) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		fd = -1;
	}
	if (fd >= 0)
		return fd;
	if (e == EEXIST)
		snprintf(err, errlen, "%s already exists (a snapshot in progress, one that crashed, or a symlink): remove it or choose another path",
			 tmp);
	else
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(e));
	return -e;
}

/* @created: set once the .part file is ours, to be removed on failure. */
static int save_to_file(struct vm *vm, const char *path, const char *tmp, bool *created,
			char *err, size_t errlen)
{
	struct state_writer its;
	struct stream_writer sw;
	uint64_t ram_bytes = 0, t0 = monotonic_ns();
	int fd, ret;

	sw_init(&its);
	ret = machine_save_gic_tables(vm, &its, err, errlen);
	if (ret) {
		sw_free(&its);
		return ret;
	}
	fd = create_part_file(tmp, err, errlen);
	if (fd < 0) {
		sw_free(&its);
		return fd;
	}
	*created = true;
	stream_writer_init(&sw, stream_fd_writev, (void *)(intptr_t)fd);
	ret = put_machine(vm, &sw, &its, &ram_bytes);
	sw_free(&its);
	if (ret && sw.err[0])
		snprintf(err, errlen, "%s", sw.err);
	else if (ret)
		snprintf(err, errlen, "saving the VM state failed: %s (details in tern's log)",
			 strerror(-ret));
	if (!ret && fsync(fd) < 0) {
		ret = -errno;
		snprintf(err, errlen, "fsync %s: %s", tmp, strerror(errno));
	}
	if (close(fd) < 0 && !ret) {
		ret = -errno;
		snprintf(err, errlen, "close %s: %s", tmp, strerror(errno));
	}
	if (!ret && rename(tmp, path) < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	}
	if (!ret)
		pr_info("snapshot saved to %s: %" PRIu64 " bytes, %" PRIu64 " MiB of RAM in use, "
			"%" PRIu64 " ms", path, sw.offset, ram_bytes >> 20,
			(monotonic_ns() - t0) / 1000000);
	return ret;
}

int snapshot_save(struct vm *vm, const char *path, char *err, size_t errlen)
{
	bool was_paused = vm_is_paused(vm), created = false;
	char tmp[4096 + 8], why[160];
	int ret;

	/* Written aside and renamed: a failed save never leaves half a
	 * snapshot under the name the user gave. */
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.part", path) >= sizeof(tmp)) {
		snprintf(err, errlen, "snapshot path too long");
		return -ENAMETOOLONG;
	}
	if (devices_migration_blocker(vm, why, sizeof(why))) {
		snprintf(err, errlen, "cannot snapshot: %s; no snapshot taken, the VM runs on", why);
		return -EOPNOTSUPP;
	}
	ret = vm_pause(vm);
	if (ret) {
		snprintf(err, errlen, "cannot pause the VM: %s; no snapshot taken, the VM runs on",
			 ret == -ETIMEDOUT ? "a vCPU or the I/O thread did not stop in time (tern's log names it)" :
			 strerror(-ret));
		return ret;
	}
	ret = save_to_file(vm, path, tmp, &created, err, errlen);
	if (ret && created)
		unlink(tmp);
	if (!was_paused)
		vm_resume(vm);
	return ret;
}

/* ------------------------------------------------------------ restore */

/*
 * The stream's content is refused: a bad input, not a host failure (main
 * exits 2). The stream layer reports a malformed or unsupported stream with
 * -EBADMSG or -ENOTSUP (stream.h); anything else from it is the read
 * callback's -errno (a lost connection, a timeout), which stays a host error.
 */
static int refused(struct machine_loader *rs, int err)
{
	return vm_refuse_input(rs->vm, err);
}

static int stream_failed(struct machine_loader *rs, int err)
{
	pr_err("snapshot: %s", rs->sr.err);
	return err == -EBADMSG || err == -ENOTSUP ? refused(rs, err) : err;
}

static int next_section(struct machine_loader *rs)
{
	rs->have = stream_next_section(&rs->sr, &rs->sec);
	return rs->have < 0 ? stream_failed(rs, rs->have) : 0;
}

static const char *section_name(uint16_t type)
{
	const struct stream_section_rule *rule = stream_section_rule(type);

	return rule ? rule->name : "unknown";
}

/*
 * The current section must be @type (and @instance); reads its payload
 * whole. Does not read the next section's header: during a migration the
 * source sends it only after our answer to this one (CONFIG).
 */
static int take_payload(struct machine_loader *rs, uint16_t type, uint32_t instance, void **buf,
			size_t *len)
{
	int ret;

	if (rs->have != 1 || rs->sec.type != type || rs->sec.instance != instance) {
		pr_err("snapshot: expected section '%s' %u at offset %" PRIu64 ", found %s",
		       section_name(type), instance, rs->sr.offset,
		       rs->have == 1 ? section_name(rs->sec.type) : "the end");
		return refused(rs, -EBADMSG);
	}
	ret = stream_read_payload_alloc(&rs->sr, buf, len);
	return ret ? stream_failed(rs, ret) : 0;
}

typedef int (*state_load_fn)(struct machine_loader *rs, uint32_t instance, struct state_reader *r);

/* The current section through its loader, which sees a bounded reader. */
static int load_current(struct machine_loader *rs, uint16_t type, uint32_t instance,
			state_load_fn fn)
{
	struct state_reader r;
	size_t len;
	void *buf;
	int ret = take_payload(rs, type, instance, &buf, &len);

	if (ret)
		return ret;
	sr_init(&r, buf, len);
	ret = fn(rs, instance, &r);
	free(buf);
	/* The state reader failed: the payload was refused, not the host. */
	return ret && r.err ? refused(rs, ret) : ret;
}

/* The current section, then the next one's header. */
static int load_section(struct machine_loader *rs, uint16_t type, uint32_t instance, state_load_fn fn)
{
	int ret = load_current(rs, type, instance, fn);

	return ret ? ret : next_section(rs);
}

/* A machine that differs is refused (-EPROTO), naming the difference. */
static int load_config(struct machine_loader *rs, uint32_t instance, struct state_reader *r)
{
	int ret = config_check(rs->vm, r);

	if (!ret)
		return 0;
	snprintf(rs->refusal, sizeof(rs->refusal), "%s", r->msg);
	return refused(rs, -EPROTO);
}

static int load_ram_chunk(struct machine_loader *rs)
{
	struct vm *vm = rs->vm;
	uint64_t le_off, off, len = rs->sec.length - sizeof(le_off);
	char why[STREAM_ERR_MAX];
	int ret;

	if (rs->sec.length < sizeof(le_off)) {
		pr_err("snapshot: RAM section of %" PRIu64 " bytes has no offset", rs->sec.length);
		return refused(rs, -EBADMSG);
	}
	ret = stream_read_payload(&rs->sr, &le_off, sizeof(le_off));
	if (ret)
		return stream_failed(rs, ret);
	off = le64toh(le_off);
	ret = stream_ram_check(off, len, vm->ram.size, host_page_size(), why, sizeof(why));
	if (ret) {
		pr_err("snapshot: %s", why);
		return refused(rs, ret);
	}
	if (rs->loaded.words)
		ram_pages_mark(&rs->loaded, off / host_page_size(), len / host_page_size());
	/* Straight into guest memory, in one large read. */
	ret = stream_read_payload(&rs->sr, vm->ram.hva + off, len);
	return ret ? stream_failed(rs, ret) : next_section(rs);
}

/* RAM_ZERO and RAM_MISSING: the same payload, checked the same way. */
static int load_ram_run(struct machine_loader *rs, uint64_t *off, uint64_t *npages)
{
	uint8_t payload[STREAM_RAM_ZERO_BYTES];
	char why[STREAM_ERR_MAX];
	int ret;

	if (rs->sec.length != sizeof(payload)) {
		pr_err("snapshot: %s section of %" PRIu64 " bytes, not %zu",
		       section_name(rs->sec.type), rs->sec.length, sizeof(payload));
		return refused(rs, -EBADMSG);
	}
	ret = stream_read_payload(&rs->sr, payload, sizeof(payload));
	if (ret)
		return stream_failed(rs, ret);
	ret = stream_ram_zero_decode(payload, rs->vm->ram.size, host_page_size(), off, npages, why,
				     sizeof(why));
	if (ret) {
		pr_err("snapshot: %s: %s", section_name(rs->sec.type), why);
		return refused(rs, ret);
	}
	return 0;
}

/* The post-copy hooks refuse a payload with -EBADMSG (machine.h). */
static int hook_result(struct machine_loader *rs, int ret)
{
	return ret == -EBADMSG ? refused(rs, ret) : ret;
}

/* Post-copy: pages the source keeps until the destination asks. */
static int load_ram_missing(struct machine_loader *rs)
{
	uint64_t off, npages;
	int ret = load_ram_run(rs, &off, &npages);

	if (!ret)
		ret = hook_result(rs, rs->missing(rs->hook_opaque, off, npages));
	return ret ? ret : next_section(rs);
}

/* Post-copy: the source's parameters, before its RAM_MISSING runs. */
static int load_postcopy_params(struct machine_loader *rs)
{
	uint8_t payload[STREAM_POSTCOPY_BYTES];
	int ret;

	if (rs->sec.length != sizeof(payload)) {
		pr_err("snapshot: postcopy section of %" PRIu64 " bytes, not %zu", rs->sec.length,
		       sizeof(payload));
		return refused(rs, -EBADMSG);
	}
	ret = stream_read_payload(&rs->sr, payload, sizeof(payload));
	if (ret)
		return stream_failed(rs, ret);
	ret = hook_result(rs, rs->params(rs->hook_opaque, payload));
	return ret ? ret : next_section(rs);
}

static bool is_ram_section(const struct machine_loader *rs)
{
	bool postcopy = rs->sec.type == STREAM_SEC_RAM_MISSING ||
			rs->sec.type == STREAM_SEC_POSTCOPY;

	return rs->sec.type == STREAM_SEC_RAM || rs->sec.type == STREAM_SEC_RAM_ZERO ||
	       (postcopy && rs->missing) || (rs->sec.type == STREAM_SEC_SYNC && rs->sync);
}

static int load_ram_zero(struct machine_loader *rs)
{
	uint64_t off, npages;
	int ret = load_ram_run(rs, &off, &npages);

	if (ret)
		return ret;
	/* On fresh RAM only a page a RAM section wrote can be other than zero:
	 * the rest are not even read, which would fault them in (a whole huge
	 * page each on hugetlbfs). */
	ram_pages_clear(rs->vm->ram.hva, host_page_size(), rs->loaded.words ? &rs->loaded : NULL,
			off / host_page_size(), npages);
	return next_section(rs);
}

/* The stream's rule caps SYNC's payload at 0 bytes. */
static int load_sync(struct machine_loader *rs)
{
	int ret = rs->sync(rs->sync_opaque);

	if (ret)
		return ret;
	rs->syncs++;
	return next_section(rs);
}

/* Any number of RAM and RAM_ZERO sections; a later one overwrites. */
static int load_ram(struct machine_loader *rs)
{
	while (rs->have == 1 && is_ram_section(rs)) {
		int ret = rs->sec.type == STREAM_SEC_RAM ? load_ram_chunk(rs) :
			  rs->sec.type == STREAM_SEC_RAM_ZERO ? load_ram_zero(rs) :
			  rs->sec.type == STREAM_SEC_POSTCOPY ? load_postcopy_params(rs) :
			  rs->sec.type == STREAM_SEC_SYNC ? load_sync(rs) :
			  load_ram_missing(rs);

		if (ret)
			return ret;
		rs->ram_sections++;
	}
	return 0;
}

static int load_clock(struct machine_loader *rs, uint32_t instance, struct state_reader *r)
{
	int ret = clock_restore(rs->vm, r, rs->catch_up);

	if (ret && r->err)
		pr_err("snapshot: guest clock: %s", r->msg);
	return ret;
}

static int load_vcpu(struct machine_loader *rs, uint32_t instance, struct state_reader *r)
{
	return vcpu_state_load(&rs->vm->vcpus[instance], r);
}

static int load_gic(struct machine_loader *rs, uint32_t instance, struct state_reader *r)
{
	return gic_state_restore(rs->vm, r);
}

static int load_its(struct machine_loader *rs, uint32_t instance, struct state_reader *r)
{
	return gic_its_restore(rs->vm, r);
}

static int load_device(struct machine_loader *rs, uint32_t instance, struct state_reader *r)
{
	char name[DEVICE_NAME_MAX];

	sr_str(r, name, sizeof(name));
	if (sr_ok(r) && strcmp(name, devices_state_name(rs->vm, instance)))
		sr_fail(r, "device %u is '%s' in the saved VM, '%s' in this VM", instance, name,
			devices_state_name(rs->vm, instance));
	if (!sr_ok(r)) {
		pr_err("snapshot: %s", r->msg);
		return r->err;
	}
	return devices_state_load(rs->vm, instance, r);
}

static int load_header(struct machine_loader *rs)
{
	struct stream_header h;
	uint64_t want = stream_features(rs->vm) & ~STREAM_F_COUNTER_OFFSET;
	int ret = stream_read_header(&rs->sr, &h, host_page_size());

	if (ret)
		return stream_failed(rs, ret);
	if ((h.features & ~STREAM_F_COUNTER_OFFSET) != want) {
		pr_err("snapshot: its features %#" PRIx64 " do not match this VM's %#" PRIx64
		       " (ITS, PMU)", h.features, want);
		return refused(rs, -EBADMSG);
	}
	return next_section(rs);
}

void machine_loader_init(struct machine_loader *ld, struct vm *vm, stream_read_fn fn,
			 void *opaque, bool catch_up)
{
	memset(ld, 0, sizeof(*ld));
	ld->vm = vm;
	ld->catch_up = catch_up;
	stream_reader_init(&ld->sr, fn, opaque);
}

int machine_loader_fresh_ram(struct machine_loader *ld)
{
	int ret = dirty_bitmap_init(&ld->loaded, ld->vm->ram.size / host_page_size());

	if (ret)
		pr_err("snapshot: no memory for the bitmap of %" PRIu64 " pages",
		       ld->vm->ram.size / host_page_size());
	return ret;
}

void machine_loader_release(struct machine_loader *ld)
{
	dirty_bitmap_free(&ld->loaded);
}

int machine_load_prelude(struct machine_loader *rs)
{
	int ret = load_header(rs);

	if (!ret)
		ret = load_current(rs, STREAM_SEC_CONFIG, 0, load_config);
	return ret;
}

/* Every section in the one order the save wrote and KVM needs. */
int machine_load_rest(struct machine_loader *rs)
{
	struct vm *vm = rs->vm;
	int ret;

	ret = next_section(rs);
	if (!ret)
		ret = load_ram(rs);
	if (!ret && rs->before_state)
		ret = rs->before_state(rs->hook_opaque);
	if (!ret)
		ret = load_section(rs, STREAM_SEC_CLOCK, 0, load_clock);
	for (unsigned int i = 0; !ret && i < vm->nr_vcpus; i++)
		ret = load_section(rs, STREAM_SEC_VCPU, i, load_vcpu);
	if (!ret)
		ret = clock_restore_fallback(vm);
	if (!ret)
		ret = load_section(rs, STREAM_SEC_GIC, 0, load_gic);
	if (!ret)
		ret = load_section(rs, STREAM_SEC_ITS, 0, load_its);
	for (unsigned int i = 0; !ret && i < devices_state_count(vm); i++)
		ret = load_section(rs, STREAM_SEC_DEVICE, i, load_device);
	if (!ret && rs->have != 0) {
		pr_err("snapshot: section '%s' where the end was expected",
		       section_name(rs->sec.type));
		ret = refused(rs, -EBADMSG);
	}
	return ret;
}

int snapshot_restore(struct vm *vm, const char *path)
{
	struct machine_loader rs;
	uint64_t t0 = monotonic_ns();
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		pr_err("cannot open the snapshot %s: %s", path, strerror(errno));
		return vm_refuse_input(vm, ret);	/* the path the user gave */
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	machine_loader_init(&rs, vm, stream_fd_read, (void *)(intptr_t)fd,
			    vm->cfg->restore_clock == CLOCK_WALL);
	ret = vm_pause_devices(vm);
	if (!ret) {
		ret = machine_load_prelude(&rs);
		if (ret == -EPROTO)
			pr_err("snapshot does not fit this VM: %s", rs.refusal);
		/* vm_build wrote nothing into RAM: no kernel is loaded for --restore. */
		if (!ret)
			ret = machine_loader_fresh_ram(&rs);
		if (!ret)
			ret = machine_load_rest(&rs);
		machine_loader_release(&rs);
		vm_resume_devices(vm);
	}
	close(fd);
	if (ret)
		pr_err("cannot restore %s", path);
	else
		vm_trace(vm, "snapshot: %s restored in %" PRIu64 " ms", path,
			 (monotonic_ns() - t0) / 1000000);
	return ret;
}
