# shellcheck shell=bash
# tests/lab/run --host-kernel VERSION|PATH: the emulated host boots another arm64
# kernel than .deps/guest/Image (which stays the guests' kernel). Sourced by
# tests/lab/run (bash); uses its OUT, HOST_MODULES, VFIO_MODULES and TERN_ROOT.
#
#   VERSION  a Debian kernel (6.12, 6.12.117+deb13-arm64, 6.12.117-1): fetched
#            once by `scripts/setup --host-kernel VERSION` into .deps/host-kernels/
#   DIR      a kernel a developer built: DIR/Image, DIR/arch/arm64/boot/Image or
#            DIR/boot/vmlinuz-<release>, and DIR/lib/modules/<release>/ (what
#            `make modules_install INSTALL_MOD_PATH=DIR` writes)
#   IMAGE,MODULES  the Image and its modules directory (lib/modules/<release>
#            itself, or the INSTALL_MOD_PATH above it)
#
# host_kernel_use ARG checks the kernel and stages what the emulated host loads:
# sets HOST_IMAGE (uncompressed arm64 Image), HOST_KREL (its release), and
# points HOST_MODULES and VFIO_MODULES at directories with the same layout as
# .deps/modules/{host,host-vfio} (decompressed .ko files and a load-order),
# holding the modules that kernel needs for the ones the default host loads.
# Refuses (die) a path that is not there, an Image that is not arm64, a kernel
# without KVM, and one that lacks a module the lab loads (the vfio ones only
# when $2 = 1: the run has "# host: vfio" scenarios).

# The uncompressed arm64 Image for file $1: $1 itself, or $1 gunzipped into $2.
# An arm64 Image has "ARM\x64" at offset 56 (Documentation/arch/arm64/booting.rst).
hk_image() {
	local img=$1 out=$2 magic
	[[ -f $img ]] || die "--host-kernel: $img is not a file"
	if [[ $(od -An -tx1 -N2 "$img" | tr -d ' ') == 1f8b ]]; then
		gzip -dc "$img" >"$out.tmp" || die "--host-kernel: $img is gzip data that does not decompress"
		mv "$out.tmp" "$out"
		img=$out
	fi
	magic=$(od -An -c -j56 -N4 "$img" | tr -d ' ')
	[[ $magic == 'ARMd' ]] ||
		die "--host-kernel: $img is not an arm64 kernel Image (no ARM\\x64 magic at offset 56; file(1) says: $(file -b "$img" | cut -c1-80)); give arch/arm64/boot/Image"
	echo "$img"
}

# The release ("uname -r") an Image was built as, from its banner.
hk_release() {
	local rel
	# awk reads to the end: an early exit would fail strings with SIGPIPE (pipefail).
	rel=$(strings -n 16 "$1" | awk '/^Linux version / && r == "" { r = $3 } END { print r }')
	[[ -n $rel ]] || die "--host-kernel: no 'Linux version' banner in $1; is it a kernel Image?"
	echo "$rel"
}

# The Image file of argument $1 (DIR or IMAGE,MODULES).
hk_find_image() {
	local arg=$1 c
	if [[ -d $arg ]]; then
		for c in "$arg/Image" "$arg/arch/arm64/boot/Image" "$arg"/boot/vmlinuz-*; do
			[[ -f $c ]] && { echo "$c"; return; }
		done
		die "--host-kernel $arg: no Image in it (looked for Image, arch/arm64/boot/Image, boot/vmlinuz-*)"
	fi
	if [[ ! -e $arg && $arg == *,* ]]; then
		[[ -e ${arg%,*} ]] || die "--host-kernel: no such Image: ${arg%,*}"
		echo "${arg%,*}"
		return
	fi
	[[ -e $arg ]] || die "--host-kernel: no such file or directory: $arg (nor a Debian kernel version such as 6.12)"
	die "--host-kernel $arg: an Image alone; give its modules too: --host-kernel $arg,MODULES_DIR"
}

# The lib/modules/<release> directory of argument $1 for the Image's release $2.
hk_find_modules() {
	local arg=$1 rel=$2 m
	if [[ -d $arg ]]; then m=$arg; else m=${arg##*,}; fi
	[[ -d $m ]] || die "--host-kernel: no such modules directory: $m"
	if [[ ! -e $m/modules.builtin && -d $m/lib/modules ]]; then
		[[ -d $m/lib/modules/$rel ]] ||
			die "--host-kernel: $m/lib/modules has no $rel (the Image's release); it has: $(cd "$m/lib/modules" && echo *)"
		m=$m/lib/modules/$rel
	fi
	[[ -e $m/modules.builtin ]] ||
		die "--host-kernel: $m is not a modules directory (no modules.builtin); run make modules_install INSTALL_MOD_PATH=DIR and give DIR"
	[[ ${m%/} == */"$rel" ]] ||
		die "--host-kernel: modules directory $m is not for the Image's release $rel"
	echo "$m"
}

# Module name $1 is built into the kernel whose modules.builtin is $2 (names
# may be spelt with - or _).
hk_builtin() {
	# One process (a pipe into grep -q would fail with SIGPIPE under pipefail).
	awk -v n="${1//-/_}" '{ sub(/.*\//, ""); sub(/\.ko$/, ""); gsub(/-/, "_") }
		$0 == n { f = 1; exit } END { exit !f }' "$2"
}

# The file of module $1 under $2 (any compression), or nothing.
hk_module_file() {
	local n=$1
	find "$2" \( -name "$n.ko" -o -name "$n.ko.xz" -o -name "$n.ko.zst" -o -name "$n.ko.gz" \
		-o -name "${n//-/_}.ko" -o -name "${n//-/_}.ko.xz" -o -name "${n//-/_}.ko.zst" \
		-o -name "${n//-/_}.ko.gz" \) -print -quit
}

# Decompress module file $1 to $2 (busybox insmod reads plain .ko only).
hk_unpack() {
	case $1 in
	*.xz) xz -dc "$1" >"$2" ;;
	*.zst) zstd -qdc "$1" >"$2" ;;
	*.gz) gzip -dc "$1" >"$2" ;;
	*) cp "$1" "$2" ;;
	esac || die "--host-kernel: cannot decompress $1"
}

# The module names of default list $1 (a .deps/modules dir) that no other in
# it depends on: what the lab wants; the rest were their dependencies in the
# default kernel, which another kernel may split or name differently.
hk_wanted() {
	local dir=$1 m deps=' '
	for m in $(cat "$dir/load-order"); do
		deps+="$(strings "$dir/$m.ko" | sed -n 's/^depends=//p' | tr , ' ') "
	done
	for m in $(cat "$dir/load-order"); do
		[[ $deps == *" $m "* || $deps == *" ${m//-/_} "* ]] || echo "$m"
	done
}

# Stage module $1 and, first, its dependencies from modules dir $2 (release $3)
# into $4, appending to $4/load-order; modules.builtin ones are skipped.
# Returns 1 when a module is neither built in nor there.
hk_stage() {
	local m=$1 mods=$2 rel=$3 dest=$4 f ko dep info
	grep -qxF "$m" "$dest/load-order" 2>/dev/null && return 0
	hk_builtin "$m" "$mods/modules.builtin" && return 0
	f=$(hk_module_file "$m" "$mods")
	[[ -n $f ]] || { echo "$m"; return 1; }
	ko=$dest/.$m.ko
	hk_unpack "$f" "$ko"
	info=$(strings "$ko" | grep -E '^(vermagic|depends)=')
	[[ $info == *"vermagic=$rel "* ]] ||
		die "--host-kernel: $f is not built for $rel ($(grep '^vermagic=' <<<"$info"))"
	for dep in $(sed -n 's/^depends=//p' <<<"$info" | tr , ' '); do
		hk_stage "$dep" "$mods" "$rel" "$dest" || return 1
	done
	mv "$ko" "$dest/$m.ko"
	echo "$m" >>"$dest/load-order"
}

# Stage the modules of default list dir $1 into $2 for modules dir $3, release
# $4. Prints the wanted names it could not find. Files that did not change keep
# their time stamps (the host image is rebuilt only when an input is newer).
hk_stage_list() {
	local from=$1 dest=$2 mods=$3 rel=$4 m f new=$2.new missing=()
	rm -rf "$new"
	mkdir -p "$new" "$dest"
	: >"$new/load-order"
	for m in $(hk_wanted "$from"); do
		hk_stage "$m" "$mods" "$rel" "$new" >/dev/null || missing+=("$m")
	done
	echo "$rel" >"$new/kernel.version"
	for f in "$dest"/*; do [[ -e $new/${f##*/} ]] || rm -f "$f"; done
	for f in "$new"/*; do cmp -s "$f" "$dest/${f##*/}" || mv -f "$f" "$dest/"; done
	rm -rf "$new"
	echo "${missing[*]}"
}

# The newest tree scripts/setup --host-kernel already fetched that matches
# version $1 (kernel_version_matches), or nothing: no network, no setup run.
hk_fetched() {
	local want=$1 d rel ver best='' bestver=''
	for d in "$TERN_ROOT"/.deps/host-kernels/*/; do
		d=${d%/}
		[[ -e $d/.complete ]] || continue
		rel=${d##*/}
		read -r _ ver <"$d/.complete" # "suite version"
		kernel_version_matches "$want" "$rel" "$ver" || continue
		if [[ -z $best ]] || dpkg --compare-versions "$ver" gt "$bestver"; then
			best=$d bestver=$ver
		fi
	done
	echo "$best"
}

# Host modules that only some scenarios use, which skip without them
# (host_lacks): their absence from a kernel is noted, not fatal.
HK_OPTIONAL=' null_blk configfs '

# The names among $1 that the lab cannot do without; notes the others.
hk_optional() {
	local m need=''
	for m in $1; do
		if [[ $HK_OPTIONAL == *" $m "* ]]; then
			log "note: host kernel $HOST_KREL has no $m module; the scenarios that need it skip"
		else
			need+="$m "
		fi
	done
	echo "${need% }"
}

host_kernel_use() {
	local arg=$1 need_vfio=$2 dir img mods miss vmiss stage
	if [[ ! -e $arg && $arg != */* && $arg != *,* && $arg =~ ^[0-9]+(\.[0-9]+)*([-+~.][0-9A-Za-z.+~-]*)?$ ]]; then
		dir=$(hk_fetched "$arg")
		if [[ -z $dir ]]; then
			log "host kernel $arg: scripts/setup --host-kernel $arg (fetched once)"
			dir=$("$TERN_ROOT/scripts/setup" --host-kernel "$arg" | tail -n 1) ||
				die "--host-kernel $arg: scripts/setup could not fetch it (see above)"
		fi
		[[ -d $dir ]] || die "--host-kernel $arg: scripts/setup gave no directory ($dir)"
		arg=$dir
	fi
	img=$(hk_find_image "$arg")
	img=$(realpath -e "$img")
	stage=$OUT/host-kernel
	mkdir -p "$stage"
	img=$(hk_image "$img" "$stage/Image")
	HOST_KREL=$(hk_release "$img")
	mods=$(hk_find_modules "$arg" "$HOST_KREL")
	mods=$(realpath -e "$mods")
	hk_builtin kvm "$mods/modules.builtin" ||
		die "--host-kernel: $HOST_KREL has no KVM built in (kvm.ko is not in $mods/modules.builtin); the lab needs CONFIG_KVM=y"
	miss=$(hk_optional "$(hk_stage_list "$HOST_MODULES" "$stage/host" "$mods" "$HOST_KREL")")
	vmiss=$(hk_stage_list "$VFIO_MODULES" "$stage/host-vfio" "$mods" "$HOST_KREL")
	((need_vfio)) || vmiss=''
	[[ -z $miss && -z $vmiss ]] ||
		die "--host-kernel: $HOST_KREL lacks modules the lab loads, neither built in nor under $mods: ${miss:+$miss (the host: taps, the two-host network, kernel TLS) }${vmiss:+$vmiss (the vfio host)}"
	# shellcheck disable=SC2034 # for tests/lab/run
	HOST_IMAGE=$img HOST_MODULES=$stage/host VFIO_MODULES=$stage/host-vfio
}
