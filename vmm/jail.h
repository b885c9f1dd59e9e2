/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_JAIL_H
#define TERN_JAIL_H

#include "config.h"

/*
 * --jail DIR: new mount, IPC and UTS namespaces (and a network one unless a
 * TCP migration endpoint is given), a user namespace too when not root; the
 * root becomes an empty, read-only tmpfs over DIR in which only the paths
 * tern still needs at run time appear, at their own absolute paths:
 * --snapshot-dir, --restore's file, --incoming unix:'s and --migrate-to
 * unix:'s directories. Called with one thread, after every other file and
 * device is open. -errno after a message.
 */
int jail_enter(const struct vm_config *cfg);

/*
 * --user UID:GID (started as root): supplementary groups cleared, then the
 * group and user changed for good. With --user or --jail every capability
 * is dropped, from the bounding set too. -errno after a message.
 */
int privileges_drop(const struct vm_config *cfg);

#endif
