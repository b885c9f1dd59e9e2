// SPDX-License-Identifier: GPL-2.0-only
/*
 * runas UID GID PROG [ARGS...]: runs PROG as UID:GID with no supplementary
 * groups and no capabilities, for the lab's unprivileged-tern scenario
 * (busybox's setpriv cannot change the user). Exit 127 if it cannot.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	unsigned long uid, gid;
	char *end;

	if (argc < 4) {
		fprintf(stderr, "usage: runas UID GID PROG [ARGS...]\n");
		return 127;
	}
	uid = strtoul(argv[1], &end, 10);
	if (*end)
		return 127;
	gid = strtoul(argv[2], &end, 10);
	if (*end)
		return 127;
	if (setgroups(0, NULL) || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid)) {
		perror("runas");
		return 127;
	}
	execv(argv[3], argv + 3);
	perror(argv[3]);
	return 127;
}
