// SPDX-License-Identifier: GPL-2.0-only
/*
 * tern's command line. Only checks what can be checked without the host or
 * the files: sizes and counts against the memory map are layout_compute()'s
 * business, the kernel's contents arm64_image_parse()'s.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "cli.h"
#include "cli_sandbox.h"
#include "cli_vfio.h"
#include "migration/channel_sec.h"
#include "control_proto.h"
#include "layout.h"
#include "log.h"
#include "memory.h"

/* arm64 Linux's COMMAND_LINE_SIZE: the kernel silently cuts anything longer. */
#define CMDLINE_MAX	2048

#define DISK_SYNTAX	"path=FILE[,readonly=on|off][,direct=on|off]"
#define NET_SYNTAX	"tap=NAME[,mac=XX:XX:XX:XX:XX:XX]"

enum run_option {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_DTB_OUT,
	OPT_NO_REBOOT,
	OPT_STRICT_MMIO,
	OPT_PMU,
	OPT_TRACE,
	OPT_DISK,
	OPT_NET,
	OPT_VCONSOLE,
	OPT_PCI_TESTDEV,
	OPT_CONTROL,
	OPT_RESTORE,
	OPT_PAUSED,
	OPT_RESTORE_CLOCK,
	OPT_MEMORY_ERRORS,
	OPT_MEMORY_FAULT_RETRIES,
	OPT_ALLOW_FAULT_INJECTION,
	OPT_INCOMING,
	OPT_DIRTY_RING,
	OPT_DIRTY_TRACKING,
	OPT_CONSOLE_BUFFER,
	OPT_SANDBOX,
	OPT_SNAPSHOT_DIR,
	OPT_MIGRATE_TO,
	OPT_USER,
	OPT_JAIL,
	OPT_KERNEL_FORMAT,
	OPT_VFIO,
	OPT_FIRMWARE,
	OPT_FIRMWARE_VARS,
	OPT_LONG_END,		/* not an option: one past the last long one */
	OPT_HELP = 'h',
};

/* A unix socket's path, NUL included, must fit in sockaddr_un's sun_path. */
#define SOCKET_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static const struct option run_options[] = {
	{ "kernel",	 required_argument, NULL, OPT_KERNEL },
	{ "initrd",	 required_argument, NULL, OPT_INITRD },
	{ "cmdline",	 required_argument, NULL, OPT_CMDLINE },
	{ "cpus",	 required_argument, NULL, OPT_CPUS },
	{ "memory",	 required_argument, NULL, OPT_MEMORY },
	{ "dtb-out",	 required_argument, NULL, OPT_DTB_OUT },
	{ "no-reboot",	 no_argument,	    NULL, OPT_NO_REBOOT },
	{ "strict-mmio", no_argument,	    NULL, OPT_STRICT_MMIO },
	{ "pmu",	 required_argument, NULL, OPT_PMU },
	{ "trace",	 no_argument,	    NULL, OPT_TRACE },
	{ "disk",	 required_argument, NULL, OPT_DISK },
	{ "net",	 required_argument, NULL, OPT_NET },
	{ "vconsole",	 required_argument, NULL, OPT_VCONSOLE },
	{ "pci-testdev", no_argument,	    NULL, OPT_PCI_TESTDEV },
	{ "vfio",	 required_argument, NULL, OPT_VFIO },
	{ "control",	 required_argument, NULL, OPT_CONTROL },
	{ "restore",	 required_argument, NULL, OPT_RESTORE },
	{ "paused",	 no_argument,	    NULL, OPT_PAUSED },
	{ "restore-clock", required_argument, NULL, OPT_RESTORE_CLOCK },
	{ "memory-errors", required_argument, NULL, OPT_MEMORY_ERRORS },
	{ "memory-fault-retries", required_argument, NULL, OPT_MEMORY_FAULT_RETRIES },
	{ "allow-fault-injection", no_argument, NULL, OPT_ALLOW_FAULT_INJECTION },
	{ "incoming",	 required_argument, NULL, OPT_INCOMING },
	{ "dirty-ring",	 required_argument, NULL, OPT_DIRTY_RING },
	{ "dirty-tracking", required_argument, NULL, OPT_DIRTY_TRACKING },
	{ "console-buffer", required_argument, NULL, OPT_CONSOLE_BUFFER },
	{ "sandbox",	 required_argument, NULL, OPT_SANDBOX },
	{ "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR },
	{ "migrate-to",	 required_argument, NULL, OPT_MIGRATE_TO },
	{ "user",	 required_argument, NULL, OPT_USER },
	{ "jail",	 required_argument, NULL, OPT_JAIL },
	{ "kernel-format", required_argument, NULL, OPT_KERNEL_FORMAT },
	{ "firmware",	 required_argument, NULL, OPT_FIRMWARE },
	{ "firmware-vars", required_argument, NULL, OPT_FIRMWARE_VARS },
	{ "help",	 no_argument,	    NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

void cli_usage(FILE *out)
{
	fprintf(out,
"Usage: tern run --kernel FILE [options]\n"
"       tern run --firmware FILE [--firmware-vars FILE] [options]\n"
"       tern run --restore FILE [options]\n"
"       tern ctl SOCKET COMMAND [KEY=VALUE... | JSON-OBJECT]\n"
"       tern --help | -h | help\n"
"       tern --version | -V\n"
"\n"
"Boots an arm64 Linux kernel in a KVM virtual machine, with the guest's serial\n"
"console on this terminal, or brings back a VM saved by the control command\n"
"'snapshot'.\n"
"\n"
"Options of 'run':\n"
"  --kernel FILE     the kernel, told apart by its contents: an arm64 Image\n"
"                    (arch/arm64/boot/Image), a gzip-, zstd- or xz-compressed\n"
"                    Image (vmlinuz.gz, Ubuntu's vmlinuz), or an EFI zboot image\n"
"                    with a gzip, zstd or xz payload (CONFIG_EFI_ZBOOT); a\n"
"                    compressed one is decompressed into guest RAM at every boot.\n"
"                    Required, unless --firmware or --restore.\n"
"  --firmware FILE   boot UEFI firmware instead of a kernel: an EDK2 build for\n"
"                    QEMU's arm64 virt machine (ArmVirtQemu; Debian's\n"
"                    qemu-efi-aarch64 QEMU_EFI.fd), at most 64 MiB, run in place\n"
"                    from read-only CFI flash at 0. Its console is a PL011\n"
"                    (Linux: console=ttyAMA0), which then takes the input; it\n"
"                    boots what it finds on --disk (an EFI system partition).\n"
"                    Needs --memory 128M or more. Not with --kernel, --initrd,\n"
"                    --cmdline, --kernel-format. To --restore or take --incoming\n"
"                    such a guest, give the same FILE again (checked by SHA-256).\n"
"  --firmware-vars FILE\n"
"                    the firmware's UEFI variable store, a second CFI flash bank\n"
"                    that the guest's writes reach; created blank (64 MiB) when\n"
"                    missing or empty, formatted by the firmware at its first\n"
"                    boot. Default: a blank store lost at exit. With --restore or\n"
"                    --incoming, FILE (of the saved store's size) is overwritten\n"
"                    with the store the snapshot or migration carries.\n"
"  --kernel-format image|raw\n"
"                    image: --kernel must be an arm64 Image, its header checked\n"
"                    (the default). raw: --kernel is a flat arm64 binary with no\n"
"                    header (e.g. a kvm-unit-tests .flat), loaded at RAM base +\n"
"                    0x80000 and entered at its first byte with x0 = the DTB.\n"
"  --initrd FILE     an initramfs or initrd for the kernel. Default: none.\n"
"  --cmdline STR     the kernel command line, at most %d bytes.\n"
"                    Default: \"%s\".\n"
"  --cpus N          number of vCPUs, a positive integer (at most %llu).\n"
"                    Default: %d.\n"
"  --memory SIZE[,backend=anon|memfd|hugetlb|guest_memfd]\n"
"                    guest RAM: a number of bytes with an optional binary unit\n"
"                    K, M, G or T (also KiB, MB, ...), a multiple of %lluM, at\n"
"                    least %lluM. Default: %lluM. backend: what holds it.\n"
"                    anon: private anonymous memory (the default). memfd: a\n"
"                    memfd, shared. hugetlb: a memfd of huge pages, reserved\n"
"                    beforehand (/proc/sys/vm/nr_hugepages). guest_memfd: KVM's\n"
"                    guest_memfd, mapped for tern's own access (Linux 6.18+,\n"
"                    KVM_CAP_GUEST_MEMFD_FLAGS with MMAP and INIT_SHARED).\n"
"  --memory-errors inject|stop\n"
"                    a poisoned host page the guest touches (a hardware memory\n"
"                    error): inject gives that vCPU a synchronous external\n"
"                    abort, and the guest decides (Linux kills the process\n"
"                    that touched it). stop: nothing is injected; the vCPU\n"
"                    retries, and the repeat guard below stops the VM.\n"
"                    Default: inject. Either way a poisoned page is replaced\n"
"                    by a zeroed one once the guest was told (inject), or when\n"
"                    tern itself touched it (a device, a migration).\n"
"  --allow-fault-injection\n"
"                    accept the control command inject-memory-error (testing:\n"
"                    it destroys a host page). Default: refused.\n"
"  --memory-fault-retries N\n"
"                    the same memory fault (vCPU, address, flags) coming back\n"
"                    N more times in a row without progress stops the VM with\n"
"                    exit status 5. 1 to %d. Default: %d.\n"
"  --dtb-out FILE    also write the device tree given to the guest to FILE.\n"
"                    Default: not written.\n"
"  --no-reboot       when the guest asks for a reset, exit (status 3) instead of\n"
"                    restarting it. Default: the guest is restarted.\n"
"  --strict-mmio     a guest access to an address no device claims gets an\n"
"                    external data abort. Default: such reads return zero and\n"
"                    writes are ignored.\n"
"  --console-buffer SIZE\n"
"                    how much console output tern holds for a stdout that is\n"
"                    not keeping up; more is dropped, never waited for. 4K to\n"
"                    1M (the kernel rounds it up to a power of two of pages).\n"
"                    Default: 128K.\n"
"  --pmu on|off      give the guest a PMUv3 (its performance counters).\n"
"                    Default: on when the host's KVM offers one.\n"
"  --trace           print tern's bring-up and vCPU lifecycle trace to stderr.\n"
"                    Default: off.\n"
"  --disk " DISK_SYNTAX "\n"
"                    a virtio-blk disk on FILE, a raw image file or a\n"
"                    block device (FILE may not contain ','). readonly=on: the\n"
"                    guest cannot write it. direct=on: FILE is opened with\n"
"                    O_DIRECT, bypassing the host's page cache. Both default\n"
"                    to off. Repeatable, at most %d disks. Default: none.\n"
"  --net " NET_SYNTAX "\n"
"                    a virtio-net card on NAME, an existing tap device. mac: the\n"
"                    card's MAC address, unicast. Default: one chosen by tern.\n"
"                    Repeatable, at most %d cards, one per tap. Default: none.\n"
"  --vconsole pty    a virtio-console port on a new pseudo-terminal, whose path\n"
"                    tern prints at start-up. Default: none.\n"
"  --pci-testdev     add QEMU's PCI test function (1b36:0005), with a memory\n"
"                    and an I/O BAR, for kvm-unit-tests' pci-test: it checks\n"
"                    tern's BAR decoding and KVM's ioeventfds. Default: none.\n"
"  --control PATH    take control commands ('tern ctl' below) on a unix socket\n"
"                    created at PATH (at most %zu bytes). A stale socket at PATH\n"
"                    is replaced; any other file there is refused. The socket\n"
"                    is removed when tern exits. Default: none.\n"
"  --restore FILE    start from FILE, a snapshot, instead of booting a kernel.\n"
"                    The snapshot carries the guest's own kernel and memory, so\n"
"                    --kernel, --initrd, --cmdline and --dtb-out are refused;\n"
"                    --cpus, --memory, --disk, --net, --vconsole, --pmu and\n"
"                    --pci-testdev are still given and must match the machine\n"
"                    that was saved.\n"
"  --restore-clock continue|wall\n"
"                    only with --restore. continue: the guest's counter goes on\n"
"                    from where it stopped, as if no time had passed. wall: it\n"
"                    catches up with the wall-clock time that passed since the\n"
"                    snapshot. Default: continue.\n"
"  --paused          start with the vCPUs stopped, on a fresh boot or with\n"
"                    --restore: they run once a 'resume' command arrives on\n"
"                    the control socket. Needs --control. Default: run at once.\n"
"  --incoming unix:PATH|tcp:HOST:PORT[,OPTION...]\n"
"                    be the destination of a live migration: listen there,\n"
"                    take one source's stream, then run the guest. Like\n"
"                    --restore, no kernel; the machine options must match the\n"
"                    source's (a mismatch is refused before any page, exit 2).\n"
"                    tcp: needs one of (the source's 'migrate' the same):\n"
"                      tls_psk=FILE   TLS 1.3 with a pre-shared key: FILE holds\n"
"                                     32-64 bytes as hex on one line, mode 0600\n"
"                                     (head -c 32 /dev/urandom | xxd -p -c 64)\n"
"                      tls_creds=DIR  TLS 1.3 with X.509: DIR/ca.pem (the CA\n"
"                                     both certificates come from), cert.pem,\n"
"                                     key.pem (mode 0600); tls_hostname=NAME\n"
"                                     also checks the peer certificate's name\n"
"                      insecure=on    plain TCP (anyone on the path reads the\n"
"                                     guest's memory or hands tern a VM)\n"
"                    Connections that fail TLS are refused, logged, and the\n"
"                    wait goes on; SIGINT/SIGTERM end it. TLS needs kernel\n"
"                    TLS on both hosts (modprobe tls gcm). unix: is plain,\n"
"                    its socket created 0600.\n"
"  --dirty-tracking ring|bitmap\n"
"                    how a live migration finds the pages the guest wrote.\n"
"                    ring: KVM's per-vCPU dirty rings (Linux 6.x). bitmap: the\n"
"                    memslot's dirty bitmap, read and re-protected by tern\n"
"                    (KVM_GET_DIRTY_LOG, KVM_CLEAR_DIRTY_LOG; Linux 5.2+), for\n"
"                    hosts without rings. Without what it needs the VM runs and\n"
"                    'migrate' is refused. Default: ring.\n"
"  --dirty-ring N    entries in each vCPU's KVM dirty ring, used when this VM\n"
"                    is migrated: a power of two, 0 turns migration off. Only\n"
"                    with --dirty-tracking ring. Default: 4096 (capped by what\n"
"                    the host allows).\n"
"  -h, --help        show this help and exit.\n"
"\n"
"Console: keystrokes go to the guest's serial console. Ctrl-A x quits tern;\n"
"Ctrl-A Ctrl-A sends one Ctrl-A to the guest. Its output goes to stdout\n"
"through a buffer (--console-buffer): what a reader that does not keep up\n"
"has no room for is dropped (counted, with a warning), and at exit tern waits at most\n"
"2 s for stdout to take the rest. Messages a guest can trigger at will\n"
"(stray MMIO, bad rings, ...) are rate-limited: 10 per 5 s of each kind.\n"
"\n"
"Every guest also gets a virtio-rng device, fed from the host's getrandom(2).\n"
"\n"
"Exit status:\n"
"  0        the guest powered off, tern was told to quit, or the guest\n"
"           migrated away (the destination acknowledged it)\n"
"  1        error (during setup, or a VM fault), the host's included: no\n"
"           /dev/kvm, a KVM capability missing, a lost migration connection\n"
"  2        bad usage, a kernel or initrd that cannot be booted, or a snapshot\n"
"           that is not one or is not of this machine (--restore), or a\n"
"           migration stream refused as such before the guest ran (--incoming)\n"
"  3        the guest asked for a reset under --no-reboot, or after --restore\n"
"           (a restored VM has no kernel image to boot again; a --firmware\n"
"           one boots its firmware again)\n"
"  4        the guest crashed (PSCI SYSTEM_EVENT crash)\n"
"  5        a guest memory fault tern could not resolve: the repeat guard\n"
"           (--memory-fault-retries), or KVM could not reach guest memory\n"
"  6        the sandbox stopped a system call the thread may not make\n"
"           (--sandbox kill; the message names the thread and the call)\n"
"  128+N    stopped by signal N (SIGINT, SIGTERM)\n"
"\n"
"Control: 'tern ctl SOCKET COMMAND [ARGS]' sends COMMAND to the tern running\n"
"with --control SOCKET and prints its reply, one line of JSON. ARGS are\n"
"KEY=VALUE words (VALUE is sent as a JSON number if it is one, as true or\n"
"false, else as a string) or one JSON object. Commands run one at a time:\n"
"  status              the VM's state (running or paused), vCPUs, memory and\n"
"                      uptime.\n"
"  pause               stop the vCPUs and device work until 'resume'. Fails,\n"
"                      the VM running on, if a vCPU or the device work does\n"
"                      not stop within 10 s (tern's log says which).\n"
"  resume              let a paused VM (or one started --paused) run.\n"
"  snapshot path=FILE  save the whole VM to FILE, for 'run --restore FILE'. A\n"
"                      running VM is paused while FILE is written, as\n"
"                      FILE.part (new, mode 0600; one already there, or a\n"
"                      symlink, is refused), then renamed. FILE must be\n"
"                      inside --snapshot-dir (else refused).\n"
"  quit                stop the VM; tern exits with status 0.\n"
"  inject-memory-error gpa=ADDR\n"
"                      poison the host page behind guest address ADDR\n"
"                      (MADV_HWPOISON), as a hardware memory error would; for\n"
"                      testing. Refused unless tern runs with\n"
"                      --allow-fault-injection. Needs root (CAP_SYS_ADMIN) and\n"
"                      a host kernel with CONFIG_MEMORY_FAILURE.\n"
"  migrate uri=unix:PATH|tcp:HOST:PORT [downtime_ms=N] [max_bandwidth=MIB]\n"
"          [auto_converge=true|false] [max_rounds=N] [postcopy=true]\n"
"          [recovery_timeout_s=N] [max_postcopy_bandwidth=MIB]\n"
"          [tls_psk=FILE | tls_creds=DIR [tls_hostname=NAME] | insecure=on]\n"
"                      live-migrate the VM to a 'run --incoming' tern; replies\n"
"                      at once (the connection is made afterwards, at most\n"
"                      10 s), 'status' shows the progress. On success tern\n"
"                      exits with status 0. Disks must be shared storage.\n"
"                      tcp: needs the destination's TLS option (see\n"
"                      --incoming) or insecure=on; tls_hostname: the name the\n"
"                      destination's certificate must carry.\n"
"                      downtime_ms: target pause (default 300); max_bandwidth:\n"
"                      MiB/s cap (0: none); auto_converge: slow the vCPUs down\n"
"                      when rounds stop gaining (default true); max_rounds:\n"
"                      give up after N rounds (default 30), the VM runs on.\n"
"                      postcopy=true: the guest moves after one pre-copy round\n"
"                      and fetches the rest on demand (docs/postcopy.md); a\n"
"                      failure after the switch cannot resume the guest here.\n"
"                      recovery_timeout_s: how long both sides wait for a\n"
"                      lost post-copy connection (1 to 3600, default 60);\n"
"                      max_postcopy_bandwidth: MiB/s cap on post-copy's\n"
"                      background push (pages the guest waits for are never\n"
"                      held back; default 0: none).\n"
"  migrate-cancel      stop a migration; the VM keeps running here.\n"
"  migrate-start-postcopy  switch a running migration to post-copy when\n"
"                      its current round ends (one that does not converge).\n"
"  migrate-reconnect   post-copy: drop the page connection and open a new one\n"
"                      (one stuck on a dead network path).\n"
"For example: tern ctl /tmp/vm.sock snapshot path=/tmp/vm.tern (with\n"
"--snapshot-dir /tmp).\n"
"The protocol, for other clients: docs/control.md.\n"
"Exit status of 'ctl': 0 the reply is ok; 1 the reply is an error; 2 bad\n"
"usage, no tern listening on SOCKET, or no reply within %d seconds.\n",
		CMDLINE_MAX - 1, CONFIG_DEFAULT_CMDLINE, LAYOUT_MAX_CPUS, CONFIG_DEFAULT_CPUS,
		LAYOUT_RAM_ALIGN / MiB, LAYOUT_RAM_MIN / MiB, CONFIG_DEFAULT_RAM / MiB,
		CONFIG_MAX_FAULT_RETRIES, CONFIG_DEFAULT_FAULT_RETRIES,
		CONFIG_MAX_DISKS, CONFIG_MAX_NETS, SOCKET_PATH_MAX, CONTROL_REPLY_TIMEOUT_S);
	cli_vfio_usage(out);
	cli_sandbox_usage(out);
#ifdef TERN_TEST_COMMANDS
	fputs("This is a test build (meson -Dtest_commands=true), with one more ctl command:\n"
	      "  test-open path=FILE  open FILE read-only on the control thread and close it:\n"
	      "                      what a confined tern can still reach (docs/control.md).\n",
	      out);
#endif
}

static void config_defaults(struct vm_config *cfg)
{
	*cfg = (struct vm_config){
		.cmdline = CONFIG_DEFAULT_CMDLINE,
		.nr_cpus = CONFIG_DEFAULT_CPUS,
		.ram_size = CONFIG_DEFAULT_RAM,
		.mem_fault_retries = CONFIG_DEFAULT_FAULT_RETRIES,
		.dirty_ring_entries = DIRTY_RING_DEFAULT,
		.console_buffer = CONFIG_DEFAULT_CONSOLE_BUFFER,
		.sandbox = CONFIG_DEFAULT_SANDBOX,
	};
}

/* Decimal digits only: no sign, no spaces, no hex. */
static int parse_decimal(const char **s, uint64_t *val)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned int digit = (unsigned int)(*p - '0');

		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*s = p;
	*val = v;
	return 0;
}

static int unit_shift(char c)
{
	switch (c) {
	case 'k': case 'K': return 10;
	case 'm': case 'M': return 20;
	case 'g': case 'G': return 30;
	case 't': case 'T': return 40;
	default: return -1;
	}
}

static bool is_b(char c)
{
	return c == 'b' || c == 'B';
}

int parse_size(const char *s, uint64_t *bytes)
{
	uint64_t v;
	int shift = 0, err;

	err = parse_decimal(&s, &v);
	if (err)
		return err;
	if (unit_shift(*s) >= 0) {
		shift = unit_shift(*s++);
		if ((*s == 'i' || *s == 'I') && is_b(s[1]))
			s += 2;
		else if (is_b(*s))
			s++;
	} else if (is_b(*s)) {
		s++;
	}
	if (*s)
		return -EINVAL;
	if (shift && v > UINT64_MAX >> shift)
		return -ERANGE;
	*bytes = v << shift;
	return 0;
}

static int parse_cpus(const char *arg, unsigned int *n)
{
	const char *end = arg;
	uint64_t v;
	int err = parse_decimal(&end, &v);

	if (err == -ERANGE || (!err && !*end && (v == 0 || v > UINT_MAX))) {
		pr_err("--cpus '%s': must be a positive integer, at most %u", arg, UINT_MAX);
		return -EINVAL;
	}
	if (err || *end) {
		pr_err("--cpus: '%s' is not a positive integer", arg);
		return -EINVAL;
	}
	*n = (unsigned int)v;
	return 0;
}

static int parse_console_buffer(const char *arg, struct vm_config *cfg)
{
	uint64_t v;

	if (parse_size(arg, &v) || v < CONFIG_MIN_CONSOLE_BUFFER || v > CONFIG_MAX_CONSOLE_BUFFER) {
		pr_err("--console-buffer '%s': must be a size from %uK to %uK (e.g. 64K)", arg,
		       CONFIG_MIN_CONSOLE_BUFFER >> 10, CONFIG_MAX_CONSOLE_BUFFER >> 10);
		return -EINVAL;
	}
	cfg->console_buffer = (unsigned int)v;
	return 0;
}

static int parse_dirty_ring(const char *arg, struct vm_config *cfg)
{
	const char *end = arg;
	uint64_t v;

	if (parse_decimal(&end, &v) || *end || v > (1u << 30) || (v & (v - 1))) {
		pr_err("--dirty-ring '%s': must be 0 or a power of two, at most %u", arg, 1u << 30);
		return -EINVAL;
	}
	cfg->dirty_ring_entries = (uint32_t)v;
	return 0;
}

static int parse_dirty_tracking(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "ring") || !strcmp(arg, "bitmap")) {
		cfg->dirty_tracking = !strcmp(arg, "bitmap") ? DIRTY_TRACKING_BITMAP :
							     DIRTY_TRACKING_RING;
		return 0;
	}
	pr_err("--dirty-tracking '%s': must be ring or bitmap", arg);
	return -EINVAL;
}

/* unix:PATH or tcp:HOST:PORT; the socket code parses it again, this only
 * catches a typo at startup. */
static int check_migration_uri(const char *what, const char *uri)
{
	size_t len = strlen(uri);

	if ((!strncmp(uri, "unix:", 5) && len > 5 && len - 5 <= SOCKET_PATH_MAX) ||
	    (!strncmp(uri, "tcp:", 4) && strchr(uri + 4, ':')))
		return 0;
	pr_err("%s '%s': must be unix:PATH (at most %zu bytes) or tcp:HOST:PORT", what, uri,
	       SOCKET_PATH_MAX);
	return -EINVAL;
}

/* URI, then the channel's options (migration/channel_sec.h); a --migrate-to
 * URI may come alone (an allowed target whose 'migrate' names the keys). */
static int check_channel(const char *opt, const char *arg, bool bare_ok)
{
	struct channel_spec cs;
	char err[320], uri[CHANNEL_URI_MAX];
	int ret;

	snprintf(uri, sizeof(uri), "%.*s", (int)strcspn(arg, ","), arg);
	ret = check_migration_uri(opt, uri);
	if (ret || (bare_ok && !strchr(arg, ',')))
		return ret;
	ret = channel_spec_parse(arg, &cs, err, sizeof(err));
	if (ret)
		pr_err("%s: %s", opt, err);
	return ret;
}

static int check_path(const char *opt, const char *path)
{
	if (!*path) {
		pr_err("--%s: empty file name", opt);
		return -EINVAL;
	}
	return 0;
}

static int check_cmdline(const char *cmdline)
{
	size_t len = strlen(cmdline);

	if (len >= CMDLINE_MAX) {
		pr_err("--cmdline is %zu bytes; arm64 Linux takes at most %d (COMMAND_LINE_SIZE)",
		       len, CMDLINE_MAX - 1);
		return -EINVAL;
	}
	return 0;
}

/*
 * Device options: "key=value,key=value". A value cannot contain ','; each key
 * at most once; no empty items or values.
 */
struct kv_option {
	const char *name;		/* "disk" */
	const char *syntax;		/* for messages */
	const char *const *keys;
	unsigned int nr_keys;
};

struct kv_value {
	const char *s;			/* into the argument, not NUL-terminated; NULL: absent */
	size_t len;
};

#define MAX_KEYS	3

static const char *const disk_keys[] = { "path", "readonly", "direct" };
static const char *const net_keys[] = { "tap", "mac" };

static const struct kv_option disk_option = {
	"disk", DISK_SYNTAX, disk_keys, sizeof(disk_keys) / sizeof(disk_keys[0]),
};
static const struct kv_option net_option = {
	"net", NET_SYNTAX, net_keys, sizeof(net_keys) / sizeof(net_keys[0]),
};

static int find_key(const struct kv_option *o, const char *key, size_t len)
{
	for (unsigned int i = 0; i < o->nr_keys; i++)
		if (strlen(o->keys[i]) == len && !memcmp(o->keys[i], key, len))
			return (int)i;
	return -1;
}

/* Splits @arg into vals[], indexed like o->keys. */
static int parse_kv(const struct kv_option *o, const char *arg, struct kv_value vals[])
{
	const char *p = arg;

	for (unsigned int i = 0; i < o->nr_keys; i++)
		vals[i] = (struct kv_value){ NULL, 0 };
	if (!*arg) {
		pr_err("--%s: empty value; expected %s", o->name, o->syntax);
		return -EINVAL;
	}
	for (;;) {
		const char *end = strchrnul(p, ',');
		const char *eq = memchr(p, '=', (size_t)(end - p));
		int k;

		if (end == p) {
			pr_err("--%s '%s': empty item between commas; expected %s", o->name, arg,
			       o->syntax);
			return -EINVAL;
		}
		if (!eq) {
			pr_err("--%s '%s': '%.*s' is not key=value; expected %s", o->name, arg,
			       (int)(end - p), p, o->syntax);
			return -EINVAL;
		}
		k = find_key(o, p, (size_t)(eq - p));
		if (k < 0) {
			pr_err("--%s '%s': unknown key '%.*s'; expected %s", o->name, arg,
			       (int)(eq - p), p, o->syntax);
			return -EINVAL;
		}
		if (vals[k].s) {
			pr_err("--%s '%s': '%s' given twice", o->name, arg, o->keys[k]);
			return -EINVAL;
		}
		if (eq + 1 == end) {
			pr_err("--%s '%s': empty value for '%s'", o->name, arg, o->keys[k]);
			return -EINVAL;
		}
		vals[k] = (struct kv_value){ eq + 1, (size_t)(end - eq - 1) };
		if (!*end)
			return 0;
		p = end + 1;
	}
}

static bool kv_is(const struct kv_value *v, const char *s)
{
	return strlen(s) == v->len && !memcmp(v->s, s, v->len);
}

static int parse_on_off(const char *opt, const char *arg, const char *key,
			const struct kv_value *v, bool *on)
{
	if (!v->s)
		return 0;		/* absent: keep the default */
	if (kv_is(v, "on") || kv_is(v, "off")) {
		*on = kv_is(v, "on");
		return 0;
	}
	pr_err("--%s '%s': %s='%.*s' must be on or off", opt, arg, key, (int)v->len, v->s);
	return -EINVAL;
}

#define MEMORY_SYNTAX	"SIZE[,backend=anon|memfd|hugetlb|guest_memfd]"

static const char *const memory_keys[] = { "backend" };
static const struct kv_option memory_option = {
	"memory", MEMORY_SYNTAX, memory_keys, sizeof(memory_keys) / sizeof(memory_keys[0]),
};

static int parse_memory_size(const char *arg, const char *s, size_t len, uint64_t *bytes)
{
	char buf[64];
	int err = len < sizeof(buf) ? 0 : -EINVAL;

	if (!err) {
		memcpy(buf, s, len);
		buf[len] = 0;
		err = parse_size(buf, bytes);
	}
	if (err == -ERANGE) {
		pr_err("--memory '%s': too large", arg);
		return -EINVAL;
	}
	if (err) {
		pr_err("--memory: '%.*s' is not a size (e.g. 512M, 2G, 1073741824); expected %s",
		       (int)len, s, MEMORY_SYNTAX);
		return -EINVAL;
	}
	return 0;
}

/* SIZE, then optionally ",backend=NAME". */
static int parse_memory(const char *arg, struct vm_config *cfg)
{
	const char *comma = strchr(arg, ',');
	struct kv_value v[MAX_KEYS];
	int backend, err;

	err = parse_memory_size(arg, arg, comma ? (size_t)(comma - arg) : strlen(arg),
				&cfg->ram_size);
	if (err || !comma)
		return err;
	err = parse_kv(&memory_option, comma + 1, v);
	if (err)
		return err;
	backend = mem_backend_parse(v[0].s, v[0].len);
	if (backend < 0) {
		pr_err("--memory '%s': unknown backend '%.*s'; expected anon, memfd, hugetlb or guest_memfd",
		       arg, (int)v[0].len, v[0].s);
		return -EINVAL;
	}
	cfg->mem_backend = (enum mem_backend)backend;
	return 0;
}

static int parse_memory_errors(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "inject") || !strcmp(arg, "stop")) {
		cfg->mem_errors = !strcmp(arg, "stop") ? MEM_ERRORS_STOP : MEM_ERRORS_INJECT;
		return 0;
	}
	pr_err("--memory-errors '%s': must be inject or stop", arg);
	return -EINVAL;
}

static int parse_fault_retries(const char *arg, struct vm_config *cfg)
{
	const char *end = arg;
	uint64_t v;

	if (parse_decimal(&end, &v) || *end || v < 1 || v > CONFIG_MAX_FAULT_RETRIES) {
		pr_err("--memory-fault-retries '%s': must be an integer from 1 to %d", arg,
		       CONFIG_MAX_FAULT_RETRIES);
		return -EINVAL;
	}
	cfg->mem_fault_retries = (unsigned int)v;
	return 0;
}

static int parse_kernel_format(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "image") || !strcmp(arg, "raw")) {
		cfg->kernel_format = !strcmp(arg, "raw") ? KERNEL_FORMAT_RAW : KERNEL_FORMAT_IMAGE;
		return 0;
	}
	pr_err("--kernel-format '%s': must be image or raw", arg);
	return -EINVAL;
}

static int parse_pmu(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "on") || !strcmp(arg, "off")) {
		cfg->pmu = !strcmp(arg, "on") ? PMU_ON : PMU_OFF;
		return 0;
	}
	pr_err("--pmu '%s': must be on or off", arg);
	return -EINVAL;
}

static int parse_disk(const char *arg, struct vm_config *cfg)
{
	struct kv_value v[MAX_KEYS];
	struct disk_config *d;
	char *path;
	int err;

	if (cfg->nr_disks == CONFIG_MAX_DISKS) {
		pr_err("--disk '%s': too many disks, at most %d", arg, CONFIG_MAX_DISKS);
		return -EINVAL;
	}
	err = parse_kv(&disk_option, arg, v);
	if (err)
		return err;
	if (!v[0].s) {
		pr_err("--disk '%s': path=FILE is required; expected %s", arg, DISK_SYNTAX);
		return -EINVAL;
	}
	if (v[0].len >= CONFIG_PATH_MAX) {
		pr_err("--disk: path is %zu bytes long, at most %d", v[0].len, CONFIG_PATH_MAX - 1);
		return -EINVAL;
	}
	d = &cfg->disks[cfg->nr_disks];
	*d = (struct disk_config){ 0 };
	if (parse_on_off("disk", arg, "readonly", &v[1], &d->readonly) ||
	    parse_on_off("disk", arg, "direct", &v[2], &d->direct))
		return -EINVAL;
	path = cfg->disk_path_buf[cfg->nr_disks];
	memcpy(path, v[0].s, v[0].len);
	path[v[0].len] = 0;
	/* Two writers on one file corrupt it; two readers are fine. */
	for (unsigned int i = 0; i < cfg->nr_disks; i++) {
		if (!strcmp(cfg->disks[i].path, path) && !(cfg->disks[i].readonly && d->readonly)) {
			pr_err("--disk '%s': '%s' is already a disk; the same file twice only with readonly=on",
			       arg, path);
			return -EINVAL;
		}
	}
	d->path = path;
	cfg->nr_disks++;
	return 0;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly XX:XX:XX:XX:XX:XX, hex digits of either case. */
static int parse_mac(const struct kv_value *v, uint8_t mac[6])
{
	if (v->len != 17)
		return -EINVAL;
	for (unsigned int i = 0; i < 6; i++) {
		int hi = hex_digit(v->s[3 * i]), lo = hex_digit(v->s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && v->s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* What the kernel's dev_valid_name() accepts. */
static bool valid_ifname(const struct kv_value *v)
{
	if (v->len >= CONFIG_IFNAME_MAX || kv_is(v, ".") || kv_is(v, ".."))
		return false;
	for (size_t i = 0; i < v->len; i++)
		if (v->s[i] == '/' || v->s[i] == ':' || isspace((unsigned char)v->s[i]))
			return false;
	return true;
}

static int parse_net(const char *arg, struct vm_config *cfg)
{
	static const uint8_t zero[6];
	struct kv_value v[MAX_KEYS];
	struct net_config *n;
	char *tap;
	int err;

	if (cfg->nr_nets == CONFIG_MAX_NETS) {
		pr_err("--net '%s': too many network cards, at most %d", arg, CONFIG_MAX_NETS);
		return -EINVAL;
	}
	err = parse_kv(&net_option, arg, v);
	if (err)
		return err;
	if (!v[0].s) {
		pr_err("--net '%s': tap=NAME is required; expected %s", arg, NET_SYNTAX);
		return -EINVAL;
	}
	if (!valid_ifname(&v[0])) {
		pr_err("--net '%s': tap='%.*s' is not an interface name (at most %d characters, no '/', ':' or spaces)",
		       arg, (int)v[0].len, v[0].s, CONFIG_IFNAME_MAX - 1);
		return -EINVAL;
	}
	n = &cfg->nets[cfg->nr_nets];
	*n = (struct net_config){ 0 };
	if (v[1].s) {
		if (parse_mac(&v[1], n->mac)) {
			pr_err("--net '%s': mac='%.*s' is not a MAC address (XX:XX:XX:XX:XX:XX)",
			       arg, (int)v[1].len, v[1].s);
			return -EINVAL;
		}
		if (n->mac[0] & 1) {
			pr_err("--net '%s': mac=%.*s is a multicast address; a card needs a unicast one (first byte even)",
			       arg, (int)v[1].len, v[1].s);
			return -EINVAL;
		}
		if (!memcmp(n->mac, zero, sizeof(zero))) {
			pr_err("--net '%s': mac=%.*s is not a valid card address", arg,
			       (int)v[1].len, v[1].s);
			return -EINVAL;
		}
		n->mac_set = true;
	}
	tap = cfg->tap_name_buf[cfg->nr_nets];
	memcpy(tap, v[0].s, v[0].len);
	tap[v[0].len] = 0;
	for (unsigned int i = 0; i < cfg->nr_nets; i++) {
		if (!strcmp(cfg->nets[i].tap, tap)) {
			pr_err("--net '%s': tap '%s' already has a card", arg, tap);
			return -EINVAL;
		}
	}
	n->tap = tap;
	cfg->nr_nets++;
	return 0;
}

static int parse_vconsole(const char *arg, struct vm_config *cfg)
{
	if (strcmp(arg, "pty")) {
		pr_err("--vconsole '%s': unknown backend; the only one is 'pty'", arg);
		return -EINVAL;
	}
	cfg->vconsole_pty = true;
	return 0;
}

static int parse_restore_clock(const char *arg, struct vm_config *cfg)
{
	if (!strcmp(arg, "continue") || !strcmp(arg, "wall")) {
		cfg->restore_clock = !strcmp(arg, "wall") ? CLOCK_WALL : CLOCK_CONTINUE;
		return 0;
	}
	pr_err("--restore-clock '%s': must be continue or wall", arg);
	return -EINVAL;
}

/* @what: "--control" or "ctl: socket", to start the message with. */
static int check_socket_path(const char *what, const char *path)
{
	size_t len = strlen(path);

	if (!len) {
		pr_err("%s: empty socket path", what);
		return -EINVAL;
	}
	if (len > SOCKET_PATH_MAX) {
		pr_err("%s '%s': a unix socket path is at most %zu bytes (sun_path), this one is %zu; choose a shorter one",
		       what, path, SOCKET_PATH_MAX, len);
		return -EINVAL;
	}
	return 0;
}

/* Reports what getopt_long() rejected: the argument it stopped at. */
static int bad_option(int c, char *argv[])
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		pr_err("run: option '%s' needs a value; try 'tern --help'", arg);
	else if (optopt >= OPT_KERNEL)
		pr_err("run: option '%s' takes no value; try 'tern --help'", arg);
	else if (optopt)
		pr_err("run: unknown option '-%c'; try 'tern --help'", optopt);
	else
		pr_err("run: unknown option '%s'; try 'tern --help'", arg);
	return -EINVAL;
}

static int apply_option(int c, const char *arg, enum cli_command *cmd, struct vm_config *cfg)
{
	switch (c) {
	case OPT_KERNEL:
		cfg->kernel_path = arg;
		return check_path("kernel", arg);
	case OPT_INITRD:
		cfg->initrd_path = arg;
		return check_path("initrd", arg);
	case OPT_CMDLINE:
		cfg->cmdline = arg;
		return check_cmdline(arg);
	case OPT_CPUS:
		return parse_cpus(arg, &cfg->nr_cpus);
	case OPT_MEMORY:
		return parse_memory(arg, cfg);
	case OPT_DTB_OUT:
		cfg->dtb_out = arg;
		return check_path("dtb-out", arg);
	case OPT_NO_REBOOT:
		cfg->no_reboot = true;
		return 0;
	case OPT_STRICT_MMIO:
		cfg->strict_mmio = true;
		return 0;
	case OPT_ALLOW_FAULT_INJECTION:
		cfg->allow_fault_injection = true;
		return 0;
	case OPT_CONSOLE_BUFFER:
		return parse_console_buffer(arg, cfg);
	case OPT_PMU:
		return parse_pmu(arg, cfg);
	case OPT_TRACE:
		cfg->trace = true;
		return 0;
	case OPT_DISK:
		return parse_disk(arg, cfg);
	case OPT_NET:
		return parse_net(arg, cfg);
	case OPT_VFIO:
		return cli_parse_vfio(arg, cfg);
	case OPT_VCONSOLE:
		return parse_vconsole(arg, cfg);
	case OPT_PCI_TESTDEV:
		cfg->pci_testdev = true;
		return 0;
	case OPT_CONTROL:
		cfg->control_path = arg;
		return check_socket_path("--control", arg);
	case OPT_RESTORE:
		cfg->restore_path = arg;
		return check_path("restore", arg);
	case OPT_INCOMING:
		cfg->incoming_uri = arg;
		return check_channel("--incoming", arg, false);
	case OPT_DIRTY_RING:
		return parse_dirty_ring(arg, cfg);
	case OPT_DIRTY_TRACKING:
		return parse_dirty_tracking(arg, cfg);
	case OPT_PAUSED:
		cfg->start_paused = true;
		return 0;
	case OPT_RESTORE_CLOCK:
		return parse_restore_clock(arg, cfg);
	case OPT_MEMORY_ERRORS:
		return parse_memory_errors(arg, cfg);
	case OPT_MEMORY_FAULT_RETRIES:
		return parse_fault_retries(arg, cfg);
	case OPT_SANDBOX:
		return cli_parse_sandbox(arg, cfg);
	case OPT_SNAPSHOT_DIR:
		cfg->snapshot_dir = arg;
		return check_path("snapshot-dir", arg);
	case OPT_MIGRATE_TO:
		return check_channel("--migrate-to", arg, true) ?: cli_add_migrate_to(arg, cfg);
	case OPT_USER:
		return cli_parse_user(arg, cfg);
	case OPT_KERNEL_FORMAT:
		return parse_kernel_format(arg, cfg);
	case OPT_FIRMWARE:
		cfg->firmware_path = arg;
		return check_path("firmware", arg);
	case OPT_FIRMWARE_VARS:
		cfg->firmware_vars_path = arg;
		return check_path("firmware-vars", arg);
	case OPT_JAIL:
		cfg->jail_dir = arg;
		return check_path("jail", arg);
	case OPT_HELP:
		*cmd = CLI_HELP;
		return 0;
	default:
		return -EINVAL;
	}
}

static const char *option_name(int opt)
{
	for (const struct option *o = run_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* Every long option has its bit in check_run_combination()'s @seen. */
_Static_assert(OPT_LONG_END - OPT_KERNEL <= 64, "too many options for a uint64_t of bits");

static uint64_t option_bit(int opt)
{
	return opt >= OPT_KERNEL ? 1ULL << (opt - OPT_KERNEL) : 0;
}

/* What the options say together, once all are known. @seen: option_bit()s. */
/* --firmware boots what the firmware finds, never a kernel of tern's. */
static int check_firmware(const struct vm_config *cfg, uint64_t seen)
{
	static const int kernel_only[] = { OPT_KERNEL, OPT_KERNEL_FORMAT, OPT_INITRD,
					   OPT_CMDLINE };

	if (!cfg->firmware_path) {
		if (!cfg->firmware_vars_path)
			return 0;
		pr_err("run: --firmware-vars is the variable store of --firmware FILE, which is missing");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(kernel_only) / sizeof(kernel_only[0]); i++) {
		if (!(seen & option_bit(kernel_only[i])))
			continue;
		pr_err("run: --%s cannot be used with --firmware: the firmware boots what it finds on the disks (put the kernel, its initrd and command line in the EFI system partition)",
		       option_name(kernel_only[i]));
		return -EINVAL;
	}
	return 0;
}

static int check_run_combination(const struct vm_config *cfg, uint64_t seen)
{
	/* What a fresh boot needs; a snapshot brings its own. */
	static const int boot_only[] = { OPT_KERNEL, OPT_KERNEL_FORMAT, OPT_INITRD, OPT_CMDLINE,
					 OPT_DTB_OUT };

	if (cfg->restore_path && cfg->incoming_uri) {
		pr_err("run: --restore and --incoming exclude each other: the guest comes from one of them");
		return -EINVAL;
	}
	if (cfg->incoming_uri && (seen & option_bit(OPT_RESTORE_CLOCK))) {
		pr_err("run: --restore-clock is only for --restore: a migrated guest's clock goes on from the source's");
		return -EINVAL;
	}
	if (cfg->restore_path || cfg->incoming_uri) {
		for (size_t i = 0; i < sizeof(boot_only) / sizeof(boot_only[0]); i++) {
			if (!(seen & option_bit(boot_only[i])))
				continue;
			pr_err("run: --%s cannot be used with --%s: the %s carries the guest's own kernel and memory",
			       option_name(boot_only[i]), cfg->restore_path ? "restore" : "incoming",
			       cfg->restore_path ? "snapshot" : "migration");
			return -EINVAL;
		}
		/* A firmware guest's firmware runs in place from a flash bank that
		 * is not in the stream: --firmware names it again. */
		if (check_firmware(cfg, seen))
			return -EINVAL;
	} else if (check_firmware(cfg, seen)) {
		return -EINVAL;
	} else if (!cfg->kernel_path && !cfg->firmware_path) {
		pr_err("run: --kernel FILE is required (or --firmware FILE, or --restore FILE); try 'tern --help'");
		return -EINVAL;
	} else if (seen & option_bit(OPT_RESTORE_CLOCK)) {
		pr_err("run: --restore-clock is only for --restore: a fresh boot starts its clock at zero");
		return -EINVAL;
	}
	if (cfg->dirty_tracking == DIRTY_TRACKING_BITMAP && (seen & option_bit(OPT_DIRTY_RING))) {
		pr_err("run: --dirty-ring sizes the dirty rings, which --dirty-tracking bitmap does not use: give one or the other");
		return -EINVAL;
	}
	if (cfg->start_paused && !cfg->control_path) {
		pr_err("run: --paused needs --control PATH: the vCPUs wait for a 'resume' command on that socket");
		return -EINVAL;
	}
	if (cli_check_vfio(cfg))
		return -EINVAL;
	return cli_check_sandbox(cfg);
}

/* argv[0] is "run". */
static int parse_run(int argc, char *argv[], enum cli_command *cmd, struct vm_config *cfg)
{
	uint64_t seen = 0;
	int c, err;

	*cmd = CLI_RUN;
	/* 0, not 1: glibc then also forgets its state from an earlier parse. */
	optind = 0;
	/* '+': stop at the first non-option; ':': report errors ourselves. */
	while ((c = getopt_long(argc, argv, "+:h", run_options, NULL)) != -1) {
		if (c == '?' || c == ':')
			return bad_option(c, argv);
		err = apply_option(c, optarg, cmd, cfg);
		if (err)
			return err;
		seen |= option_bit(c);
	}
	if (optind < argc) {
		pr_err("run: unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (*cmd == CLI_HELP)
		return 0;
	return check_run_combination(cfg, seen);
}

/*
 * argv[0] is "ctl": SOCKET COMMAND [ARGS...]. The request is built here once
 * to catch bad ARGS as usage errors; the command itself is the server's to
 * judge, as a newer tern may know more of them.
 */
static int parse_ctl(int argc, char *argv[], enum cli_command *cmd, struct vm_config *cfg)
{
	char err[CONTROL_ERR_MAX];
	char *line;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		*cmd = CLI_HELP;
		return 0;
	}
	if (argc < 3) {
		pr_err("ctl: expected SOCKET COMMAND [ARGS...]; try 'tern --help'");
		return -EINVAL;
	}
	if (argv[1][0] == '-') {
		pr_err("ctl: unknown option '%s' ('ctl' takes none; a socket named so: ./%s)",
		       argv[1], argv[1]);
		return -EINVAL;
	}
	if (check_socket_path("ctl: socket", argv[1]))
		return -EINVAL;
	if (!*argv[2]) {
		pr_err("ctl: empty COMMAND; try 'tern --help'");
		return -EINVAL;
	}
	line = control_request_build(argv[2], argv + 3, argc - 3, err, sizeof(err));
	if (!line) {
		pr_err("ctl %s: %s", argv[2], err);
		return -EINVAL;
	}
	free(line);
	*cmd = CLI_CTL;
	cfg->ctl_socket = argv[1];
	cfg->ctl_command = argv[2];
	cfg->ctl_args = argv + 3;
	cfg->nr_ctl_args = argc - 3;
	return 0;
}

static bool is_any(const char *s, const char *a, const char *b, const char *c)
{
	return !strcmp(s, a) || !strcmp(s, b) || (c && !strcmp(s, c));
}

int cli_parse(int argc, char *argv[], enum cli_command *cmd, struct vm_config *cfg)
{
	const char *sub;

	config_defaults(cfg);
	*cmd = CLI_HELP;
	if (argc < 2)
		return 0;

	sub = argv[1];
	if (!strcmp(sub, "run"))
		return parse_run(argc - 1, argv + 1, cmd, cfg);
	if (!strcmp(sub, "ctl"))
		return parse_ctl(argc - 1, argv + 1, cmd, cfg);
	if (is_any(sub, "--help", "-h", "help"))
		*cmd = CLI_HELP;
	else if (is_any(sub, "--version", "-V", NULL))
		*cmd = CLI_VERSION;
	else if (sub[0] == '-') {
		pr_err("unknown option '%s' (only 'run' takes options); try 'tern --help'", sub);
		return -EINVAL;
	} else {
		pr_err("unknown command '%s'; try 'tern --help'", sub);
		return -EINVAL;
	}
	if (argc > 2) {
		pr_err("unexpected argument '%s' after '%s'", argv[2], sub);
		return -EINVAL;
	}
	return 0;
}
