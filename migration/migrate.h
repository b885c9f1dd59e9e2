/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_MIGRATE_H
#define TERN_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "migration/channel_sec.h"
#include "migration/postcopy.h"

struct vm;

#define MIGRATE_DEFAULT_DOWNTIME_MS	300
#define MIGRATE_MAX_DOWNTIME_MS		60000
#define MIGRATE_MAX_ROUNDS		30	/* default give-up limit */
#define MIGRATE_ROUNDS_LIMIT		1000	/* highest max_rounds accepted */
#define MIGRATE_MAX_BANDWIDTH_MIB	(1u << 20)	/* 1 TiB/s: highest cap accepted */
#define MIGRATE_ACK_TIMEOUT_S		30

/*
 * Outgoing live migration (pre-copy over KVM dirty rings), on its own
 * thread. Started and cancelled from the control thread; while one is
 * active, that thread alone pauses and resumes the VM (the control socket
 * refuses pause, resume and snapshot meanwhile).
 */

/* How to migrate; numbers at 0 take the defaults (docs/control.md, migrate). */
struct migrate_params {
	const char *uri;		/* unix:PATH or tcp:HOST:PORT; copied */
	struct channel_sec sec;		/* TLS or insecure=on (tcp:); checked */
	uint64_t downtime_ms;		/* target; 0: MIGRATE_DEFAULT_DOWNTIME_MS */
	uint64_t max_bandwidth_mib;	/* MiB/s the rounds may use; 0: unlimited */
	bool auto_converge;		/* throttle the vCPUs when rounds stall */
	unsigned int max_rounds;	/* give up after; 0: MIGRATE_MAX_ROUNDS */
	bool postcopy;			/* switch to post-copy after POSTCOPY_PRECOPY_ROUNDS
					 * rounds (docs/postcopy.md) */
	unsigned int recovery_s;	/* post-copy: wait for a lost page channel;
					 * 0: POSTCOPY_DEFAULT_RECOVERY_S */
	uint64_t postcopy_bandwidth_mib; /* post-copy: MiB/s for the background
					 * push (on-demand pages are never held
					 * back); 0: unlimited */
};

/* Starts a migration. -EBUSY if one is active, -ENOTSUP without dirty
 * rings, -EINVAL for parameters out of range; message in @err. */
int migrate_start(struct vm *vm, const struct migrate_params *params, char *err,
		  size_t errlen);
/* Asks the active migration to stop; the VM keeps running here. -ENOENT. */
int migrate_cancel(struct vm *vm, char *err, size_t errlen);
/* Switches a running pre-copy migration to post-copy when its current
 * round ends (docs/postcopy.md). -ENOENT with no migration, -EALREADY if
 * it is post-copy already. */
int migrate_start_postcopy(struct vm *vm, char *err, size_t errlen);
/* Post-copy: drops the page channel, which is then reopened (a connection
 * stuck on a dead path; tests of the recovery). -ENOENT with no migration,
 * -EINVAL before post-copy. */
int migrate_reconnect(struct vm *vm, char *err, size_t errlen);
bool migrate_active(struct vm *vm);

/* The current or last migration, as 'status' shows it (docs/control.md). */
struct migrate_stats {
	const char *state;		/* "active", "completed", ... */
	char uri[256];
	char error[400];		/* "": none */
	const char *dirty_tracking;	/* "ring", "bitmap" */
	/* As started, defaults filled in: */
	uint64_t downtime_target_ms, max_bandwidth_mib;
	unsigned int max_rounds;
	bool auto_converge;
	bool postcopy_asked;		/* postcopy=on; then: */
	unsigned int recovery_s;
	uint64_t postcopy_bandwidth_mib;
	unsigned int rounds;
	uint64_t bytes_sent, bandwidth;	/* bytes, bytes/s */
	uint64_t dirty_rate;		/* pages/s, last round */
	uint64_t expected_downtime_ms, fixed_cost_ms;
	unsigned int throttle_pct;
	uint64_t pages_sent, pages_resent;
	uint64_t elapsed_ms;
	bool completed;			/* then: */
	uint64_t downtime_ms, final_work_ms;
	bool postcopy;			/* switched to post-copy; then: */
	struct postcopy_source_stats pc;
};
/* -ENOENT if there was none. */
int migrate_stats(struct vm *vm, struct migrate_stats *st);
/* Cancels an active migration and waits for its thread (tern is exiting).
 * Returns true if the guest moved: a post-copy destination acknowledged,
 * so nothing here may run the guest or its devices again, even if the
 * migration failed afterwards. A committed post-copy is not cancelled:
 * this waits until it ends. */
bool migrate_finish(struct vm *vm);

#endif
