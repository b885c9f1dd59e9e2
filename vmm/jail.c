// SPDX-License-Identifier: GPL-2.0-only
/*
 * The jailer's job done in-process (README, "Security model"): namespaces
 * (unshare(2)), a new root (pivot_root(2), Documentation/filesystems/
 * sharedsubtree.rst for why "/" is made private first), the user change and
 * the capabilities (capabilities(7)).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "jail.h"
#include "log.h"

static int write_proc(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ret = 0;

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		ret = -errno;
	if (fd >= 0)
		close(fd);
	if (ret)
		pr_err("--jail: writing '%s' to %s: %s", text, path, strerror(-ret));
	return ret;
}

/* mkdir -p of @path (absolute), inside the jail's tmpfs at @root. */
static int make_dirs(const char *root, const char *path)
{
	char buf[CONFIG_PATH_MAX * 2];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "%s%s", root, path), start = strlen(root);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	for (size_t i = start + 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (i < n)
			buf[i] = '/';
	}
	return 0;
}

/* Makes @path (absolute; a directory, or a file when !@dir) appear at the
 * same path inside the jail's root @root, read-only unless @rw. */
static int bind_in(const char *root, const char *path, bool dir, bool rw)
{
	char target[CONFIG_PATH_MAX * 2], parent[CONFIG_PATH_MAX];
	int ret, fd;

	snprintf(target, sizeof(target), "%s%s", root, path);
	if (dir) {
		ret = make_dirs(root, path);
	} else {
		snprintf(parent, sizeof(parent), "%s", path);
		ret = make_dirs(root, dirname(parent));
		fd = ret ? -1 : open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		if (!ret && fd < 0)
			ret = -errno;
		if (fd >= 0)
			close(fd);
	}
	if (!ret && mount(path, target, NULL, MS_BIND, NULL) < 0)
		ret = -errno;
	if (!ret && !rw &&
	    mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL) < 0)
		ret = -errno;
	if (ret)
		pr_err("--jail: cannot make %s appear in the jail: %s", path, strerror(-ret));
	return ret;
}

static int bind_parent(const char *root, const char *path)
{
	char parent[CONFIG_PATH_MAX];

	snprintf(parent, sizeof(parent), "%s", path);
	return bind_in(root, dirname(parent), true, true);
}

static int bind_runtime_paths(const struct vm_config *cfg, const char *root)
{
	int ret = 0;

	if (cfg->snapshot_dir)
		ret = bind_in(root, cfg->snapshot_dir, true, true);
	if (!ret && cfg->restore_path)
		ret = bind_in(root, cfg->restore_path, false, false);
	if (!ret && cfg->incoming_uri && !strncmp(cfg->incoming_uri, "unix:", 5))
		ret = bind_parent(root, cfg->incoming_uri + 5);
	for (unsigned int i = 0; !ret && i < cfg->nr_migrate_to; i++)
		if (!strncmp(cfg->migrate_to[i], "unix:", 5))
			ret = bind_parent(root, cfg->migrate_to[i] + 5);
	return ret;
}

/* TCP migration needs the host's network; anything else does without. */
static bool needs_host_network(const struct vm_config *cfg)
{
	if (cfg->incoming_uri && !strncmp(cfg->incoming_uri, "tcp:", 4))
		return true;
	for (unsigned int i = 0; i < cfg->nr_migrate_to; i++)
		if (!strncmp(cfg->migrate_to[i], "tcp:", 4))
			return true;
	return false;
}

static int map_user(uid_t uid, gid_t gid)
{
	char map[64];
	int ret;

	/* A process that is not dumpable (confine_prepare) has its /proc/self
	 * files owned by root: for these writes only, it is dumpable again
	 * (proc(5), /proc/pid). */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	ret = write_proc("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "%u %u 1", uid, uid);
	ret = ret ?: write_proc("/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "%u %u 1", gid, gid);
	ret = ret ?: write_proc("/proc/self/gid_map", map);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return ret;
}

static int unshare_all(const struct vm_config *cfg)
{
	int flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS;
	bool root = geteuid() == 0;
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (!needs_host_network(cfg))
		flags |= CLONE_NEWNET;
	if (!root)
		flags |= CLONE_NEWUSER;
	if (unshare(flags) < 0) {
		pr_err("--jail: unshare: %m (needs root, or unprivileged user namespaces: "
		       "sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0)");
		return -errno;
	}
	return root ? 0 : map_user(uid, gid);
}

static int pivot_into(const char *dir)
{
	if (chdir(dir) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
	    umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
		pr_err("--jail: cannot make %s the root: %m", dir);
		return -errno;
	}
	/* Nothing more is created in the jail's root. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
		  MS_NOEXEC, NULL) < 0) {
		pr_err("--jail: cannot make the jail's root read-only: %m");
		return -errno;
	}
	return 0;
}

int jail_enter(const struct vm_config *cfg)
{
	const char *dir = cfg->jail_dir;
	int ret = unshare_all(cfg);

	if (ret)
		return ret;
	/* No mount event of ours may reach the host's namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tern-jail", dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64k,mode=0755") < 0) {
		pr_err("--jail: cannot mount the jail's root over %s: %m", dir);
		return -errno;
	}
	ret = bind_runtime_paths(cfg, dir) ?: pivot_into(dir);
	if (!ret && sethostname("tern", 4) < 0)
		pr_warn("--jail: sethostname in the new UTS namespace: %m");
	return ret;
}

/* Needs CAP_SETPCAP: before the user changes. A process without it has an
 * empty permitted set anyway (EPERM, ignored). */
static int drop_bounding_set(void)
{
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM) {
			pr_err("cannot drop capability %d from the bounding set: %m", cap);
			return -errno;
		}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	return 0;
}

static int drop_capabilities(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (syscall(SYS_capset, &hdr, data) < 0) {
		pr_err("cannot drop capabilities: %m");
		return -errno;
	}
	return 0;
}

int privileges_drop(const struct vm_config *cfg)
{
	if (!cfg->user_set && !cfg->jail_dir)
		return 0;	/* root keeps inject-memory-error's CAP_SYS_ADMIN and
				 * a post-copy destination's CAP_SYS_PTRACE */
	if (drop_bounding_set() < 0)
		return -EPERM;
	if (cfg->user_set && geteuid() == 0) {
		if (setgroups(0, NULL) < 0 || setresgid(cfg->gid, cfg->gid, cfg->gid) < 0 ||
		    setresuid(cfg->uid, cfg->uid, cfg->uid) < 0) {
			pr_err("--user %u:%u: cannot become that user: %m", cfg->uid, cfg->gid);
			return -errno;
		}
	} else if (cfg->user_set && (geteuid() != cfg->uid || getegid() != cfg->gid)) {
		pr_err("--user %u:%u: tern runs as %u:%u and is not root: it cannot change user",
		       cfg->uid, cfg->gid, geteuid(), getegid());
		return -EPERM;
	}
	return drop_capabilities();
}
