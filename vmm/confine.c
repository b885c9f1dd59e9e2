// SPDX-License-Identifier: GPL-2.0-only
/*
 * The order of tern's confinement (README, "Security model"): everything
 * that needs privilege or a path is opened during set-up; then the jail
 * (namespaces, a new root), the user and capabilities, Landlock, and last the
 * seccomp filters, whose allowlists no longer have the calls the steps before
 * need: first each vCPU thread's, on itself, then the main thread's.
 */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "confine.h"
#include "config.h"
#include "jail.h"
#include "landlock.h"
#include "log.h"
#include "sandbox.h"
#include "vm.h"

int confine_prepare(const struct vm_config *cfg)
{
	struct rlimit none = { 0, 0 };
	int ret, fd, abi;

	if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		pr_err("cannot turn core dumps off (RLIMIT_CORE 0, PR_SET_DUMPABLE 0): %m");
		return -errno;
	}
	if (cfg->sandbox == SANDBOX_OFF) {
		pr_warn("--sandbox off: no seccomp filter and no Landlock rules; a guest that "
			"breaks a device model gets all of tern's rights (debugging only)");
		return 0;
	}
	ret = sandbox_prepare((enum sandbox_mode)cfg->sandbox);
	if (ret < 0)
		return ret;
	fd = landlock_build(cfg, &abi);
	if (fd > 0)
		sandbox_set_landlock(fd);
	return fd < 0 ? fd : 0;
}

int confine_process(struct vm *vm)
{
	const struct vm_config *cfg = vm->cfg;
	int ret = 0;

	if (cfg->jail_dir)
		ret = jail_enter(cfg);
	if (!ret)
		ret = privileges_drop(cfg);
	if (!ret && cfg->sandbox != SANDBOX_OFF)
		ret = sandbox_enforce_landlock();
	return ret;
}

int confine_main_thread(struct vm *vm)
{
	if (vm->cfg->sandbox == SANDBOX_OFF)
		return 0;
	vm_trace(vm, "sandbox: main thread confined (%s mode)",
		 sandbox_mode_name((enum sandbox_mode)vm->cfg->sandbox));
	return sandbox_enter(SANDBOX_MAIN);
}
