/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef TERN_CONFIG_H
#define TERN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#define CONFIG_MAX_DISKS	8
#define CONFIG_MAX_NETS		4
#define CONFIG_PATH_MAX		4096	/* PATH_MAX, with the NUL */
#define CONFIG_IFNAME_MAX	16	/* IFNAMSIZ, with the NUL */
#define CONFIG_MAX_MIGRATE_TO	8
#define CONFIG_MAX_VFIO		4

/* --disk: a virtio-blk device on a raw image file or a block device. */
struct disk_config {
	const char *path;
	bool readonly;
	bool direct;			/* open with O_DIRECT */
};

/* --net: a virtio-net device on an existing tap interface. */
struct net_config {
	const char *tap;
	uint8_t mac[6];			/* a unicast address, if mac_set */
	bool mac_set;
};

/* --vfio: a host PCI function passed through with VFIO (devices/vfio.c). */
struct vfio_config {
	const char *sysfs;		/* its sysfs directory, /sys/bus/pci/devices/DDDD:BB:DD.F */
	bool iommufd;			/* iommufd=on: through /dev/iommu, not the container */
};

/* --memory SIZE,backend=...: what holds guest RAM (README, "Guest memory"). */
enum mem_backend {
	MEM_BACKEND_ANON,		/* private anonymous memory (the default) */
	MEM_BACKEND_MEMFD,		/* memfd_create(), MAP_SHARED */
	MEM_BACKEND_HUGETLB,		/* memfd_create(MFD_HUGETLB), MAP_SHARED */
	MEM_BACKEND_GUEST_MEMFD,	/* KVM_CREATE_GUEST_MEMFD, mmapped */
	MEM_BACKEND_NR,
};

/* --memory-errors: what a poisoned page the guest touches becomes. */
enum mem_error_policy {
	MEM_ERRORS_INJECT,		/* an external data abort into that vCPU */
	MEM_ERRORS_STOP,		/* nothing injected: the repeat guard stops the VM */
};

/* --dirty-tracking: how a live migration learns which pages the guest wrote
 * (migration/dirty.h). */
enum dirty_tracking {
	DIRTY_TRACKING_RING,		/* KVM's per-vCPU dirty rings (the default) */
	DIRTY_TRACKING_BITMAP,		/* KVM_GET_DIRTY_LOG + KVM_CLEAR_DIRTY_LOG */
};

/* --kernel-format: how --kernel is read (vmm/image.h). */
enum kernel_format {
	KERNEL_FORMAT_IMAGE,		/* an arm64 Linux Image, header checked (the default) */
	KERNEL_FORMAT_RAW,		/* a flat binary, no header: loaded at RAM base + 0x80000 */
};

/*
 * What the user asked for on the command line; validated by cli_parse().
 * The strings point into argv, or into this structure's own storage for the
 * values cut out of "key=value,..." lists: don't copy a vm_config by value.
 */
/* --console-buffer: the console's output buffer (vmm/console.h). The most
 * an unprivileged user gets is /proc/sys/fs/pipe-max-size, 1 MiB by default. */
#define CONFIG_DEFAULT_CONSOLE_BUFFER	(128u * 1024)
#define CONFIG_MIN_CONSOLE_BUFFER	4096u
#define CONFIG_MAX_CONSOLE_BUFFER	(1024u * 1024)

struct vm_config {
	const char *kernel_path;
	enum kernel_format kernel_format;	/* --kernel-format */
	const char *initrd_path;	/* NULL: none */
	const char *cmdline;		/* never NULL after cli_parse() */
	const char *dtb_out;		/* NULL: don't write the DTB */
	const char *firmware_path;	/* --firmware: boot UEFI firmware, not a kernel */
	const char *firmware_vars_path;	/* --firmware-vars: its variable store; NULL: volatile */
	unsigned int nr_cpus;
	uint64_t ram_size;
	enum mem_backend mem_backend;
	enum mem_error_policy mem_errors;
	unsigned int mem_fault_retries;	/* --memory-fault-retries: the repeat guard */
	bool allow_fault_injection;	/* --allow-fault-injection: inject-memory-error */
	bool no_reboot;
	bool strict_mmio;
	unsigned int console_buffer;	/* --console-buffer, bytes */
	enum { PMU_AUTO, PMU_ON, PMU_OFF } pmu;	/* --pmu; AUTO: if the host has PMUv3 */
	bool trace;
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned int nr_disks;
	struct net_config nets[CONFIG_MAX_NETS];
	unsigned int nr_nets;
	bool vconsole_pty;		/* --vconsole pty */
	bool pci_testdev;		/* --pci-testdev */
	struct vfio_config vfio[CONFIG_MAX_VFIO];	/* --vfio */
	unsigned int nr_vfio;

	/* Control and snapshots (docs/control.md). */
	const char *control_path;	/* --control PATH: unix socket; NULL: none */
	const char *restore_path;	/* --restore FILE: no kernel boot; NULL: boot */
	bool start_paused;		/* --paused: vCPUs wait for "resume" */
	enum { CLOCK_CONTINUE, CLOCK_WALL } restore_clock;	/* --restore-clock */
	const char *incoming_uri;	/* --incoming unix:PATH|tcp:HOST:PORT; NULL: none */
	enum dirty_tracking dirty_tracking;	/* --dirty-tracking */
	uint32_t dirty_ring_entries;	/* --dirty-ring, ring tracking only; 0: no
					 * rings, no migration */

	/* Confinement (README, "Security model"; vmm/cli_sandbox.c). */
	int sandbox;			/* --sandbox: enum sandbox_mode (vmm/sandbox.h) */
	const char *snapshot_dir;	/* --snapshot-dir DIR: where 'snapshot' writes; NULL: nowhere */
	const char *migrate_to[CONFIG_MAX_MIGRATE_TO];	/* --migrate-to URI: allowed targets */
	unsigned int nr_migrate_to;
	bool user_set;			/* --user UID:GID given */
	unsigned int uid, gid;
	const char *jail_dir;		/* --jail DIR; NULL: no jail */

	/* tern ctl SOCKET COMMAND [ARGS...]; all of it points into argv. */
	const char *ctl_socket;
	const char *ctl_command;
	char **ctl_args;		/* KEY=VALUE words, or one JSON object */
	int nr_ctl_args;

	/* cli_parse()'s storage for disks[].path and nets[].tap. */
	char disk_path_buf[CONFIG_MAX_DISKS][CONFIG_PATH_MAX];
	char tap_name_buf[CONFIG_MAX_NETS][CONFIG_IFNAME_MAX];
	char vfio_path_buf[CONFIG_MAX_VFIO][CONFIG_PATH_MAX];
};

#define CONFIG_DEFAULT_CPUS	1
#define CONFIG_DEFAULT_RAM	(512ULL << 20)
#define CONFIG_DEFAULT_FAULT_RETRIES	3
#define CONFIG_MAX_FAULT_RETRIES	1000
#define DIRTY_RING_DEFAULT	4096
#define CONFIG_DEFAULT_CMDLINE	"console=ttyS0 earlycon"
/* --sandbox: kill (enum sandbox_mode's SANDBOX_KILL): the whole lab suite
 * passes in kill mode (README, "Security model"). */
#define CONFIG_DEFAULT_SANDBOX	0

#endif
