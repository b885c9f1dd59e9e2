// SPDX-License-Identifier: GPL-2.0-only
/*
 * Landlock rules from the command line (Documentation/userspace-api/
 * landlock.rst): every access right the running kernel's ABI knows is
 * handled, i.e. denied unless a rule below grants it beneath a path opened
 * now, during set-up. Older kernels get the rights of their ABI; a kernel
 * without Landlock gets a notice.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "landlock.h"
#include "log.h"

#define FS(x)	LANDLOCK_ACCESS_FS_##x
/* Rights that make sense on a file (not a directory) in a path-beneath rule. */
#define FILE_RIGHTS	(FS(EXECUTE) | FS(WRITE_FILE) | FS(READ_FILE) | FS(TRUNCATE) | FS(IOCTL_DEV))

/* The first three fields of struct landlock_ruleset_attr (ABI 1-9): a kernel
 * takes a shorter structure than its own. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

static uint64_t fs_rights(int abi)
{
	uint64_t r = (FS(MAKE_SYM) << 1) - 1;	/* ABI 1: EXECUTE .. MAKE_SYM */

	if (abi >= 2)
		r |= FS(REFER);
	if (abi >= 3)
		r |= FS(TRUNCATE);
	if (abi >= 5)
		r |= FS(IOCTL_DEV);
	return r;
}

static int add_path(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
	struct landlock_path_beneath_attr rule = { .allowed_access = access & handled };
	struct stat st;
	int ret;

	rule.parent_fd = open(path, O_PATH | O_CLOEXEC);
	if (rule.parent_fd < 0) {
		int err = errno;

		/* Nothing to allow: whoever opens it later (a --restore file,
		 * a disk) reports it missing, with its own message and status. */
		if (err == ENOENT)
			return 0;
		pr_err("Landlock: cannot open %s to allow it: %s", path, strerror(err));
		return -err;
	}
	if (!fstat(rule.parent_fd, &st) && !S_ISDIR(st.st_mode))
		rule.allowed_access &= FILE_RIGHTS;
	ret = (int)syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
	if (ret < 0)
		pr_err("Landlock: cannot allow %s (access %#llx): %m", path,
		       (unsigned long long)rule.allowed_access);
	ret = ret < 0 ? -errno : 0;
	close(rule.parent_fd);
	return ret;
}

/* The directory holding @path (a socket that may not exist yet). */
static int add_parent(int ruleset, const char *path, uint64_t access, uint64_t handled)
{
	char buf[CONFIG_PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	return add_path(ruleset, dirname(buf), access, handled);
}

static int add_port(int ruleset, const char *uri, uint64_t access)
{
	char addr[CONFIG_PATH_MAX];
	const char *colon;
	struct landlock_net_port_attr rule = { .allowed_access = access };

	/* The URI without its channel options (",tls_psk=..."). */
	snprintf(addr, sizeof(addr), "%.*s", (int)strcspn(uri, ","), uri);
	colon = strrchr(addr, ':');
	if (strncmp(addr, "tcp:", 4) || !colon)
		return 0;
	rule.port = strtoull(colon + 1, NULL, 10);
	if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_NET_PORT, &rule, 0) < 0) {
		pr_err("Landlock: cannot allow TCP port %llu for %s: %m",
		       (unsigned long long)rule.port, uri);
		return -errno;
	}
	return 0;
}

static bool wants_connect_rules(const struct vm_config *cfg)
{
	return cfg->nr_migrate_to > 0;
}

static int add_file_rules(int rs, const struct vm_config *cfg, uint64_t h)
{
	int ret = 0;

	for (unsigned int i = 0; !ret && i < cfg->nr_disks; i++)
		ret = add_path(rs, cfg->disks[i].path, FS(READ_FILE) | FS(IOCTL_DEV) |
			       (cfg->disks[i].readonly ? 0 : FS(WRITE_FILE)), h);
	if (!ret && cfg->restore_path)
		ret = add_path(rs, cfg->restore_path, FS(READ_FILE), h);
	/* The socket is removed at exit. */
	if (!ret && cfg->control_path)
		ret = add_parent(rs, cfg->control_path, FS(REMOVE_FILE), h);
	if (!ret && cfg->incoming_uri && !strncmp(cfg->incoming_uri, "unix:", 5))
		ret = add_parent(rs, cfg->incoming_uri + 5, FS(MAKE_SOCK) | FS(REMOVE_FILE), h);
	/* Post-copy's userfaultfd, where the system call is not allowed. */
	if (!ret && cfg->incoming_uri && !access("/dev/userfaultfd", F_OK))
		ret = add_path(rs, "/dev/userfaultfd", FS(READ_FILE) | FS(WRITE_FILE) |
			       FS(IOCTL_DEV), h);
	if (!ret && cfg->snapshot_dir)
		ret = add_path(rs, cfg->snapshot_dir, FS(READ_FILE) | FS(WRITE_FILE) |
			       FS(MAKE_REG) | FS(REMOVE_FILE) | FS(TRUNCATE) | FS(READ_DIR) |
			       FS(REFER), h);
	if (!ret && cfg->trace)
		ret = add_path(rs, "/proc/self/status", FS(READ_FILE), h);
	/* inject-memory-error (root only) finds the host page frame there. */
	if (!ret && geteuid() == 0)
		ret = add_path(rs, "/proc/self/pagemap", FS(READ_FILE), h);
	if (!ret && geteuid() == 0 && !access("/proc/kpageflags", F_OK))
		ret = add_path(rs, "/proc/kpageflags", FS(READ_FILE), h);
	for (unsigned int i = 0; !ret && i < cfg->nr_migrate_to; i++)
		if (!strncmp(cfg->migrate_to[i], "unix:", 5))
			ret = add_parent(rs, cfg->migrate_to[i] + 5, FS(RESOLVE_UNIX), h);
	return ret;
}

static int add_net_rules(int rs, const struct vm_config *cfg)
{
	int ret = 0;

	if (cfg->incoming_uri)
		ret = add_port(rs, cfg->incoming_uri, LANDLOCK_ACCESS_NET_BIND_TCP);
	for (unsigned int i = 0; !ret && i < cfg->nr_migrate_to; i++)
		ret = add_port(rs, cfg->migrate_to[i], LANDLOCK_ACCESS_NET_CONNECT_TCP);
	return ret;
}

int landlock_build(const struct vm_config *cfg, int *abi_out)
{
	struct ruleset_attr attr = { 0 };
	int abi, rs, ret;

	*abi_out = 0;
	abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 0) {
		pr_info("notice: this kernel offers no Landlock (%m): the file system and the "
			"network stay reachable as far as the seccomp filters let them "
			"(README, \"Security model\")");
		return 0;
	}
	attr.handled_access_fs = fs_rights(abi);
	/* ABI 9: connecting to a unix socket by path is a right; handled (denied
	 * except at the --migrate-to sockets) only when migration targets are
	 * listed, as for TCP below. */
	if (abi >= 9 && wants_connect_rules(cfg))
		attr.handled_access_fs |= FS(RESOLVE_UNIX);
	if (abi >= 4)
		attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP |
			(wants_connect_rules(cfg) ? LANDLOCK_ACCESS_NET_CONNECT_TCP : 0);
	if (abi >= 6)
		attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
	rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (rs < 0) {
		pr_err("Landlock: cannot create a ruleset (ABI %d): %m", abi);
		return -errno;
	}
	ret = add_file_rules(rs, cfg, attr.handled_access_fs);
	if (!ret && attr.handled_access_net)
		ret = add_net_rules(rs, cfg);
	if (ret < 0) {
		close(rs);
		return ret;
	}
	if (abi < 4)
		pr_info("notice: Landlock ABI %d has no network rules (Linux 6.7+): TCP is "
			"not restricted", abi);
	*abi_out = abi;
	return rs;
}

int landlock_enforce(int fd)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_landlock_restrict_self, fd, 0) < 0) {
		pr_err("Landlock: cannot enforce the ruleset: %m");
		return -errno;
	}
	return 0;
}

static bool inside(const char *dir, const char *path)
{
	size_t n = strlen(dir);

	while (n > 1 && dir[n - 1] == '/')
		n--;
	return !strncmp(dir, path, n) && (path[n] == '/' || (n == 1 && dir[0] == '/'));
}

int landlock_check_snapshot(const struct vm_config *cfg, const char *path, char *err,
			    size_t errlen)
{
	char copy[CONFIG_PATH_MAX], dir_real[PATH_MAX], parent_real[PATH_MAX];

	if (!cfg->snapshot_dir) {
		snprintf(err, errlen, "snapshots are refused: tern was started without "
			 "--snapshot-dir DIR (the only place 'snapshot' may write)");
		return -EACCES;
	}
	snprintf(copy, sizeof(copy), "%s", path);
	if (!realpath(cfg->snapshot_dir, dir_real) || !realpath(dirname(copy), parent_real) ||
	    !inside(dir_real, strcat(parent_real, "/"))) {
		snprintf(err, errlen, "%s is outside --snapshot-dir %s: refused", path,
			 cfg->snapshot_dir);
		return -EACCES;
	}
	return 0;
}

int landlock_check_migrate(const struct vm_config *cfg, const char *uri, char *err,
			   size_t errlen)
{
	if (!cfg->nr_migrate_to)
		return 0;
	for (unsigned int i = 0; i < cfg->nr_migrate_to; i++) {
		size_t n = strcspn(cfg->migrate_to[i], ",");

		if (!strncmp(cfg->migrate_to[i], uri, n) && !uri[n])
			return 0;
	}
	snprintf(err, errlen, "%s is not a destination given with --migrate-to: refused", uri);
	return -EACCES;
}
