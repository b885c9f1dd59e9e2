# shellcheck shell=bash disable=SC2034 # sourced; TERN_ROOT and TERN_CACHE are for the caller
# Shared helpers for tern's shell scripts (scripts/setup, guest-images/build,
# tests/lab/run). Source it; it does not change shell options by itself.
#
# Everything here is plain bash, no state beyond the variables below:
#   TERN_ROOT   the repository root (derived from this file's location)
#   TERN_CACHE  downloads that survive `rm -rf .deps build` (default ~/.cache/tern)

TERN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TERN_CACHE=${TERN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tern}

# Messages go to stderr so that stdout stays usable for data.
log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

# The Debian architecture of this machine (amd64, arm64, ...).
host_arch() { dpkg --print-architecture; }

# True when $1 is newer than every file named after it (missing target = stale).
# Used so that builds redo work only when an input changed.
up_to_date() {
	local target=$1 f
	shift
	[[ -e $target ]] || return 1
	for f in "$@"; do
		[[ -e $f ]] || return 1
		[[ $f -nt $target ]] && return 1
	done
	return 0
}

# The Debian mirror this machine already uses, read from its own apt sources, so
# no archive host name is ever written in the repository. Prefers the deb822 file
# (Debian 12 default), falls back to the one-line format. Picks the main archive
# entry: the one whose suites include a plain codename (not -security/-updates).
debian_mirror_uri() {
	local uri=
	if [[ -r /etc/apt/sources.list.d/debian.sources ]]; then
		uri=$(awk '
			BEGIN { RS = ""; FS = "\n" }      # one deb822 stanza per record
			{
				uris = ""; main = 0
				for (i = 1; i <= NF; i++) {
					if ($i ~ /^URIs:/)   { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uris = u[1] }
					if ($i ~ /^Suites:/) { n = split($i, s, /[ \t]+/)
						for (j = 2; j <= n; j++) if (s[j] !~ /-/) main = 1 }
				}
				if (main && uris != "") { print uris; exit }
			}' /etc/apt/sources.list.d/debian.sources)
	fi
	if [[ -z $uri && -r /etc/apt/sources.list ]]; then
		# "deb [opts] URI suite comps": skip the options, take the first plain suite.
		uri=$(awk '$1 == "deb" {
				i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
				if ($(i+1) !~ /-/) { print $i; exit } }' /etc/apt/sources.list)
	fi
	[[ -n $uri ]] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list; add the standard Debian entry"
	printf '%s\n' "${uri%/}"
}

# True when kernel version $1 (as a user gives it to --host-kernel) names the
# Debian kernel of release $2 (e.g. 6.12.117+deb13-arm64) and package version
# $3 (e.g. 6.12.117-1): $1 is the package version, the release, or the start of
# the release up to a separator (6, 6.12, 6.12.117, 6.12.117+deb13).
kernel_version_matches() {
	local want=$1 rel=$2 ver=$3
	[[ -n $want ]] || return 1
	[[ $want == "$ver" || $want == "$rel" ]] && return 0
	[[ $rel == "$want"* && ${rel:${#want}:1} == [.+-] ]]
}

# ---- initramfs helpers (guest-images/build, tests/lab/run)

# Pack directory $1 into the newc archive $2, every file owned by root.
pack_cpio() {
	local dir=$1 out=$2
	(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0) >"$out.tmp" || die "cpio failed packing $dir"
	mv "$out.tmp" "$out"
}

# A fresh staging tree $1 with busybox $2 as /bin/sh and $3 as /init.
# When run as root, add /dev/console so the kernel can open it before /init runs.
stage_busybox_root() {
	local root=$1 busybox=$2 init=$3
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,usr/bin,usr/sbin}
	install -m 755 "$busybox" "$root/bin/busybox"
	ln -s busybox "$root/bin/sh"
	install -m 755 "$init" "$root/init"
	if [[ $(id -u) == 0 ]]; then mknod -m 600 "$root/dev/console" c 5 1; fi
}
