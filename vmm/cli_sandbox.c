// SPDX-License-Identifier: GPL-2.0-only
/*
 * The confinement options of 'tern run', kept apart from vmm/cli.c's
 * machine options.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli_sandbox.h"
#include "log.h"
#include "sandbox.h"

int cli_parse_sandbox(const char *arg, struct vm_config *cfg)
{
	static const enum sandbox_mode modes[] = { SANDBOX_KILL, SANDBOX_LOG, SANDBOX_OFF };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(arg, sandbox_mode_name(modes[i]))) {
			cfg->sandbox = (int)modes[i];
			return 0;
		}
	}
	pr_err("--sandbox '%s': must be kill, log or off", arg);
	return -EINVAL;
}

static int parse_id(const char *s, char end, unsigned int *id, const char **rest)
{
	char *e;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &e, 10);
	/* (uid_t)-1 means "unchanged" to setresuid(2): not an identity. */
	if (errno || *e != end || v >= UINT_MAX)
		return -EINVAL;
	*id = (unsigned int)v;
	*rest = e;
	return 0;
}

int cli_parse_user(const char *arg, struct vm_config *cfg)
{
	const char *rest;

	if (parse_id(arg, ':', &cfg->uid, &rest) || parse_id(rest + 1, '\0', &cfg->gid, &rest)) {
		pr_err("--user '%s': must be UID:GID, two decimal numbers (e.g. 1000:1000)", arg);
		return -EINVAL;
	}
	if (cfg->uid == 0) {
		pr_err("--user '%s': uid 0 is root; give the unprivileged user tern should become", arg);
		return -EINVAL;
	}
	cfg->user_set = true;
	return 0;
}

int cli_add_migrate_to(const char *uri, struct vm_config *cfg)
{
	if (cfg->nr_migrate_to == CONFIG_MAX_MIGRATE_TO) {
		pr_err("--migrate-to '%s': at most %d targets", uri, CONFIG_MAX_MIGRATE_TO);
		return -EINVAL;
	}
	cfg->migrate_to[cfg->nr_migrate_to++] = uri;
	return 0;
}

static int need_absolute(const char *opt, const char *path)
{
	if (path[0] == '/')
		return 0;
	pr_err("run: with --jail, %s must be an absolute path ('%s' is not): the jail shows it "
	       "at the same path", opt, path);
	return -EINVAL;
}

/* What the jail shows at run time appears at its own absolute path. */
static int check_jail_paths(const struct vm_config *cfg)
{
	int ret = need_absolute("--jail", cfg->jail_dir);

	if (!ret && cfg->snapshot_dir)
		ret = need_absolute("--snapshot-dir", cfg->snapshot_dir);
	if (!ret && cfg->restore_path)
		ret = need_absolute("--restore", cfg->restore_path);
	if (!ret && cfg->incoming_uri && !strncmp(cfg->incoming_uri, "unix:", 5))
		ret = need_absolute("--incoming unix:", cfg->incoming_uri + 5);
	for (unsigned int i = 0; !ret && i < cfg->nr_migrate_to; i++)
		if (!strncmp(cfg->migrate_to[i], "unix:", 5))
			ret = need_absolute("--migrate-to unix:", cfg->migrate_to[i] + 5);
	return ret;
}

int cli_check_sandbox(const struct vm_config *cfg)
{
	if (cfg->sandbox == SANDBOX_OFF && cfg->jail_dir) {
		pr_err("run: --jail DIR with --sandbox off: a jail without its seccomp filters "
		       "is not one; drop one of them");
		return -EINVAL;
	}
	if (cfg->jail_dir)
		return check_jail_paths(cfg);
	return 0;
}

void cli_sandbox_usage(FILE *out)
{
	fprintf(out,
"\n"
"Confinement (README, \"Security model\"), options of 'run':\n"
"  --sandbox kill|log|off\n"
"                    each thread runs under its own seccomp allowlist once the\n"
"                    VM is built. kill: a forbidden system call stops tern with\n"
"                    a message naming the thread and the call, exit status 6.\n"
"                    log: the kernel logs it (dmesg, audit type SECCOMP) and it\n"
"                    proceeds. off: no filter and no Landlock rules; for\n"
"                    debugging only, UNSAFE with an untrusted guest.\n"
"                    Default: kill (the whole lab suite runs in kill mode).\n"
"  --snapshot-dir DIR\n"
"                    the directory 'snapshot' may write into; a snapshot path\n"
"                    outside it is refused. Default: none, 'snapshot' is\n"
"                    refused (Landlock keeps the rest of the file system out\n"
"                    of reach once the VM is built).\n"
"  --migrate-to unix:PATH|tcp:HOST:PORT[,tls_psk=FILE|tls_creds=DIR[,tls_hostname=NAME]|,insecure=on]\n"
"                    a destination 'migrate' may use; repeatable (at most %d;\n"
"                    the same URI again with other keys). Once one is given,\n"
"                    'migrate' to any other is refused and Landlock lets tern\n"
"                    connect only to these (TCP by port, ABI 4+; unix sockets\n"
"                    by directory, ABI 9+). Keys given here are read at start\n"
"                    and used by a 'migrate' to that URI naming none or the\n"
"                    same; confined, tern reads no key file later. Default:\n"
"                    any destination (no connect rules), keys read by\n"
"                    'migrate' (only possible with --sandbox off).\n"
"  --user UID:GID    started as root: become UID:GID (not 0) once the files\n"
"                    and devices are open, with every capability dropped.\n"
"  --jail DIR        after opening what it needs, move into new mount, IPC\n"
"                    and UTS namespaces (and a network one, without --net,\n"
"                    --incoming tcp: and --migrate-to tcp:) whose root is DIR,\n"
"                    an empty directory. Needs root (with --user) or\n"
"                    unprivileged user namespaces. With --jail, --snapshot-dir,\n"
"                    --restore, --incoming unix: and --migrate-to unix: paths\n"
"                    must be absolute; they appear in the jail at that path.\n",
		CONFIG_MAX_MIGRATE_TO);
}
