// SPDX-License-Identifier: GPL-2.0-only
/*
 * MSI-X: the capability, the vector table and the PBA of one PCI function.
 *
 * A vector is live when MSI-X is enabled, the function is not masked and the
 * vector's own mask bit is clear. msix_notify() delivers a live vector at
 * once and sets the pending bit of any other; a vector that becomes live
 * (per-vector unmask, function unmask, enable) delivers what was pending.
 *
 * Routes: the sink (KVM's GSI routing) is told a vector's message only when
 * that message differs from what it was last told, and only when the vector
 * is about to be used: at delivery, or when it becomes live. Rewriting the
 * table, which Linux does with the vector masked, costs nothing until then.
 * A route that fails leaves the interrupt pending (a warning says why); the
 * next delivery or unmask tries again.
 *
 * Function state: the Enable and Function Mask bits live in config space,
 * which the guest writes under the host's lock; msix_config_written() copies
 * them into m->enabled and m->masked, which is what delivery looks at. So
 * msix_config_written() and msix_reset(), which touch pdev->cfg, are called
 * with the host's lock held (from ops->config_written) or with the guest
 * stopped; the table and notify paths never touch pdev->cfg.
 *
 * Locking: m->lock covers the table, the PBA and the function state. The
 * sink's route and fire are called with it held, so they reach the sink in
 * the order the state changed; they must not call back into this msix.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "migration/state.h"
#include "vmm/log.h"
#include "device_state.h"
#include "msix.h"
#include "pci.h"

#define MSIX_MAX_VECTORS	2048
#define MSIX_CTRL_MASKED	PCI_MSIX_ENTRY_CTRL_MASKBIT
/* Enable and Function Mask: the upper byte of Message Control. */
#define MSIX_FLAGS_HI_WMASK	((PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8)

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint64_t table_bytes(unsigned int nr_vectors)
{
	return (uint64_t)nr_vectors * MSIX_ENTRY_SIZE;
}

static unsigned int pba_words(unsigned int nr_vectors)
{
	return (nr_vectors + 63) / 64;
}

/* 4 or 8 bytes, naturally aligned, inside a region of @size (a multiple of 8). */
static bool access_ok(uint64_t off, unsigned int len, uint64_t size)
{
	return (len == 4 || len == 8) && off % len == 0 && off < size;
}

/* ---------------------------------------------------------------- vectors */

static bool is_pending(const struct msix *m, unsigned int vec)
{
	return m->pba[vec / 64] & (1ULL << (vec % 64));
}

static void set_pending(struct msix *m, unsigned int vec)
{
	m->pba[vec / 64] |= 1ULL << (vec % 64);
}

static void clear_pending(struct msix *m, unsigned int vec)
{
	m->pba[vec / 64] &= ~(1ULL << (vec % 64));
}

static bool function_live(const struct msix *m)
{
	return m->enabled && !m->masked;
}

static bool vector_live(const struct msix *m, unsigned int vec)
{
	return function_live(m) && !(m->vectors[vec].ctrl & MSIX_CTRL_MASKED);
}

/* Tells the sink @vec's message if it changed since last time. -errno. */
static int route_if_changed(struct msix *m, unsigned int vec)
{
	struct msix_vector *v = &m->vectors[vec];
	int err;

	if (v->routed && v->routed_addr == v->addr && v->routed_data == v->data)
		return 0;
	err = m->sink->route(m->sink_opaque, vec, v->addr, v->data);
	if (err) {
		pr_warn_ratelimited(&m->route_log, "msix: %s: routing vector %u (address %#llx, data %#x) refused (KVM_SET_GSI_ROUTING): %s",
				    m->pdev->name, vec, (unsigned long long)v->addr, v->data, strerror(-err));
		v->routed = false;
		return err;
	}
	v->routed = true;
	v->routed_addr = v->addr;
	v->routed_data = v->data;
	return 0;
}

/* Delivers live vector @vec; if its route cannot be set, keeps it pending. */
static void deliver(struct msix *m, unsigned int vec)
{
	if (route_if_changed(m, vec)) {
		set_pending(m, vec);
		return;
	}
	clear_pending(m, vec);
	m->sink->fire(m->sink_opaque, vec);
}

/* @vec just became live: deliver what was pending, else just get its route
 * ready (a failure is retried at delivery). A sink that delivers by itself
 * hears of it once the route is current. */
static void vector_went_live(struct msix *m, unsigned int vec)
{
	if (is_pending(m, vec))
		deliver(m, vec);
	else
		route_if_changed(m, vec);
	if (m->sink->set_live)
		m->sink->set_live(m->sink_opaque, vec, true);
}

static void vector_went_dead(struct msix *m, unsigned int vec)
{
	if (m->sink->set_live)
		m->sink->set_live(m->sink_opaque, vec, false);
}

/* ---------------------------------------------------------------- API */

/* Checks the geometry and allocates the table; cap -1: append one. */
static int msix_setup(struct msix *m, struct pci_device *pdev, int cap, unsigned int nr_vectors,
		      int bar, uint32_t table_off, uint32_t pba_off,
		      const struct msi_sink_ops *sink, void *sink_opaque)
{
	uint8_t body[PCI_CAP_MSIX_SIZEOF - 2];
	uint64_t tsize, psize, bar_size;
	int err;

	if (!pdev || !sink || !sink->route || !sink->fire)
		return -EINVAL;
	if (nr_vectors < 1 || nr_vectors > MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_NUM_BARS)
		return -EINVAL;
	if (table_off % 8 || pba_off % 8)
		return -EINVAL;
	tsize = table_bytes(nr_vectors);
	psize = pba_words(nr_vectors) * 8ULL;
	if (table_off < pba_off + psize && pba_off < table_off + tsize)
		return -EINVAL;
	bar_size = pdev->bars[bar].size;
	if (bar_size && (table_off + tsize > bar_size || pba_off + psize > bar_size))
		return -EINVAL;

	memset(m, 0, sizeof(*m));
	m->vectors = calloc(nr_vectors, sizeof(*m->vectors));
	m->pba = calloc(pba_words(nr_vectors), sizeof(*m->pba));
	if (!m->vectors || !m->pba) {
		err = -ENOMEM;
		goto fail;
	}
	err = -pthread_mutex_init(&m->lock, NULL);
	if (err)
		goto fail;
	ratelimit_init(&m->route_log, RATELIMIT_BURST, RATELIMIT_PERIOD_MS);

	/* Body: Message Control, Table Offset/BIR, PBA Offset/BIR. */
	body[0] = (nr_vectors - 1) & 0xff;
	body[1] = (nr_vectors - 1) >> 8;
	put32(body + PCI_MSIX_TABLE - 2, table_off | bar);
	put32(body + PCI_MSIX_PBA - 2, pba_off | bar);
	if (cap < 0)
		cap = pci_device_add_cap(pdev, PCI_CAP_ID_MSIX, body, sizeof(body));
	if (cap < 0) {
		pthread_mutex_destroy(&m->lock);
		err = cap;
		goto fail;
	}
	pdev->wmask[cap + PCI_MSIX_FLAGS + 1] = MSIX_FLAGS_HI_WMASK;

	m->pdev = pdev;
	m->cap = (uint8_t)cap;
	m->nr_vectors = nr_vectors;
	m->sink = sink;
	m->sink_opaque = sink_opaque;
	for (unsigned int i = 0; i < nr_vectors; i++)
		m->vectors[i].ctrl = MSIX_CTRL_MASKED;
	return 0;

fail:
	free(m->vectors);
	free(m->pba);
	m->vectors = NULL;
	m->pba = NULL;
	return err;
}

int msix_init(struct msix *m, struct pci_device *pdev, unsigned int nr_vectors, int bar,
	      uint32_t table_off, uint32_t pba_off, const struct msi_sink_ops *sink,
	      void *sink_opaque)
{
	return msix_setup(m, pdev, -1, nr_vectors, bar, table_off, pba_off, sink, sink_opaque);
}

int msix_init_at(struct msix *m, struct pci_device *pdev, uint8_t cap, unsigned int nr_vectors,
		 int bar, uint32_t table_off, uint32_t pba_off, const struct msi_sink_ops *sink,
		 void *sink_opaque)
{
	if (cap < PCI_STD_HEADER_SIZEOF || cap > PCI_CFG_SPACE_SIZE - PCI_CAP_MSIX_SIZEOF)
		return -EINVAL;
	return msix_setup(m, pdev, cap, nr_vectors, bar, table_off, pba_off, sink, sink_opaque);
}

void msix_destroy(struct msix *m)
{
	if (!m->vectors)
		return;
	pthread_mutex_destroy(&m->lock);
	free(m->vectors);
	free(m->pba);
	m->vectors = NULL;
	m->pba = NULL;
}

static void entry_bytes(const struct msix_vector *v, uint8_t e[MSIX_ENTRY_SIZE])
{
	put32(e + PCI_MSIX_ENTRY_LOWER_ADDR, v->addr);
	put32(e + PCI_MSIX_ENTRY_UPPER_ADDR, v->addr >> 32);
	put32(e + PCI_MSIX_ENTRY_DATA, v->data);
	put32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, v->ctrl);
}

void msix_table_read(struct msix *m, uint64_t off, void *data, unsigned int len)
{
	uint8_t e[MSIX_ENTRY_SIZE];

	memset(data, 0, len);
	if (!access_ok(off, len, table_bytes(m->nr_vectors)))
		return;
	pthread_mutex_lock(&m->lock);
	entry_bytes(&m->vectors[off / MSIX_ENTRY_SIZE], e);
	pthread_mutex_unlock(&m->lock);
	memcpy(data, e + off % MSIX_ENTRY_SIZE, len);
}

/*
 * Address bits 1:0 read as 0 (DWORD-aligned messages) and Vector Control
 * keeps only its mask bit; the rest of an entry is read-write.
 */
void msix_table_write(struct msix *m, uint64_t off, const void *data, unsigned int len)
{
	unsigned int vec = off / MSIX_ENTRY_SIZE;
	struct msix_vector *v;
	uint8_t e[MSIX_ENTRY_SIZE];
	bool was_masked, was_live;

	if (!access_ok(off, len, table_bytes(m->nr_vectors)))
		return;
	pthread_mutex_lock(&m->lock);
	v = &m->vectors[vec];
	was_masked = v->ctrl & MSIX_CTRL_MASKED;
	was_live = vector_live(m, vec);
	entry_bytes(v, e);
	memcpy(e + off % MSIX_ENTRY_SIZE, data, len);
	v->addr = (get32(e + PCI_MSIX_ENTRY_LOWER_ADDR) & ~3u) |
		  (uint64_t)get32(e + PCI_MSIX_ENTRY_UPPER_ADDR) << 32;
	v->data = get32(e + PCI_MSIX_ENTRY_DATA);
	v->ctrl = get32(e + PCI_MSIX_ENTRY_VECTOR_CTRL) & MSIX_CTRL_MASKED;
	if (was_masked && vector_live(m, vec))
		vector_went_live(m, vec);
	else if (was_live && !vector_live(m, vec))
		vector_went_dead(m, vec);
	else if (was_live && m->sink->set_live)
		route_if_changed(m, vec);	/* a live vector's new message */
	pthread_mutex_unlock(&m->lock);
}

void msix_pba_read(struct msix *m, uint64_t off, void *data, unsigned int len)
{
	uint8_t words[8];
	uint64_t w;

	memset(data, 0, len);
	if (!access_ok(off, len, pba_words(m->nr_vectors) * 8ULL))
		return;
	pthread_mutex_lock(&m->lock);
	w = m->pba[off / 8];
	pthread_mutex_unlock(&m->lock);
	put32(words, w);
	put32(words + 4, w >> 32);
	memcpy(data, words + off % 8, len);
}

void msix_config_written(struct msix *m)
{
	uint8_t flags_hi = m->pdev->cfg[m->cap + PCI_MSIX_FLAGS + 1];
	bool was_live;

	pthread_mutex_lock(&m->lock);
	was_live = function_live(m);
	m->enabled = flags_hi & (PCI_MSIX_FLAGS_ENABLE >> 8);
	m->masked = flags_hi & (PCI_MSIX_FLAGS_MASKALL >> 8);
	if (!was_live && function_live(m))
		for (unsigned int vec = 0; vec < m->nr_vectors; vec++)
			if (vector_live(m, vec))
				vector_went_live(m, vec);
	if (was_live && !function_live(m))
		for (unsigned int vec = 0; vec < m->nr_vectors; vec++)
			if (!(m->vectors[vec].ctrl & MSIX_CTRL_MASKED))
				vector_went_dead(m, vec);
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool enabled;

	pthread_mutex_lock(&m->lock);
	enabled = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return enabled;
}

void msix_notify(struct msix *m, unsigned int vec)
{
	if (vec >= m->nr_vectors)
		return;
	pthread_mutex_lock(&m->lock);
	if (vector_live(m, vec))
		deliver(m, vec);
	else
		set_pending(m, vec);
	pthread_mutex_unlock(&m->lock);
}

/* Table, PBA and function state to power-on values; caller holds m->lock.
 * What the sink was told stays recorded: its routes outlive a reset. */
static void clear_state(struct msix *m)
{
	for (unsigned int i = 0; i < m->nr_vectors; i++) {
		m->vectors[i].addr = 0;
		m->vectors[i].data = 0;
		m->vectors[i].ctrl = MSIX_CTRL_MASKED;
	}
	memset(m->pba, 0, pba_words(m->nr_vectors) * sizeof(*m->pba));
	m->enabled = false;
	m->masked = false;
}

void msix_reset(struct msix *m)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int vec = 0; vec < m->nr_vectors; vec++)
		if (vector_live(m, vec))
			vector_went_dead(m, vec);
	clear_state(m);
	m->pdev->cfg[m->cap + PCI_MSIX_FLAGS + 1] &= ~MSIX_FLAGS_HI_WMASK;
	pthread_mutex_unlock(&m->lock);
}

/* ---------------------------------------------------------------- snapshot */

int msix_save(struct msix *m, struct state_writer *w)
{
	pthread_mutex_lock(&m->lock);
	sw_u16(w, (uint16_t)m->nr_vectors);
	for (unsigned int i = 0; i < m->nr_vectors; i++) {
		sw_u64(w, m->vectors[i].addr);
		sw_u32(w, m->vectors[i].data);
		sw_u32(w, m->vectors[i].ctrl);
	}
	for (unsigned int i = 0; i < pba_words(m->nr_vectors); i++)
		sw_u64(w, m->pba[i]);
	sw_u8(w, m->enabled);
	sw_u8(w, m->masked);
	pthread_mutex_unlock(&m->lock);
	return w->err;
}

/* Reads the table and PBA into @m, refusing what a guest cannot write. */
static int load_table(struct msix *m, struct state_reader *r)
{
	unsigned int last = pba_words(m->nr_vectors) - 1;
	uint64_t beyond = m->nr_vectors % 64 ? ~0ULL << (m->nr_vectors % 64) : 0;

	for (unsigned int i = 0; sr_ok(r) && i < m->nr_vectors; i++) {
		struct msix_vector *v = &m->vectors[i];

		v->addr = sr_u64(r);
		v->data = sr_u32(r);
		v->ctrl = sr_u32(r);
		if (v->addr & 3)
			return sr_fail(r, "MSI-X vector %u: address 0x%llx is not DWORD-aligned", i,
				       (unsigned long long)v->addr);
		if (v->ctrl & ~MSIX_CTRL_MASKED)
			return sr_fail(r, "MSI-X vector %u: control 0x%x has reserved bits", i,
				       v->ctrl);
	}
	for (unsigned int i = 0; i <= last; i++)
		m->pba[i] = sr_u64(r);
	if (sr_ok(r) && (m->pba[last] & beyond))
		return sr_fail(r, "MSI-X PBA has pending bits past vector %u", m->nr_vectors - 1);
	return r->err;
}

/* The function's Enable and Mask, which config space holds too. */
static int load_function_state(struct msix *m, struct state_reader *r)
{
	uint8_t flags_hi = m->pdev->cfg[m->cap + PCI_MSIX_FLAGS + 1];
	bool cfg_enabled = flags_hi & (PCI_MSIX_FLAGS_ENABLE >> 8);
	bool cfg_masked = flags_hi & (PCI_MSIX_FLAGS_MASKALL >> 8);

	m->enabled = dev_state_bool(r, "MSI-X enable");
	m->masked = dev_state_bool(r, "MSI-X function mask");
	if (!sr_ok(r))
		return r->err;
	if (m->enabled != cfg_enabled || m->masked != cfg_masked)
		return sr_fail(r, "MSI-X enable %d, mask %d, but config space says %d, %d",
			       m->enabled, m->masked, cfg_enabled, cfg_masked);
	return 0;
}

int msix_load(struct msix *m, struct state_reader *r)
{
	unsigned int nr = sr_u16(r);
	int err;

	if (!sr_ok(r))
		return r->err;
	if (nr != m->nr_vectors)
		return sr_fail(r, "%u MSI-X vectors, this function has %u", nr, m->nr_vectors);
	pthread_mutex_lock(&m->lock);
	err = load_table(m, r);
	if (!err)
		err = load_function_state(m, r);
	if (err)
		clear_state(m);
	for (unsigned int vec = 0; !err && vec < m->nr_vectors; vec++)
		if (vector_live(m, vec))
			vector_went_live(m, vec);
	pthread_mutex_unlock(&m->lock);
	return err;
}
