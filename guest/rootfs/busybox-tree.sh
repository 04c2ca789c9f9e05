#!/bin/bash
# busybox-tree.sh [--init-at PATH] [--applets] DIR INIT [BUSYBOX]
# Populate DIR with the smallest tree a guest can boot into: a static busybox
# at /bin/busybox, /bin/sh, empty /dev /proc /sys /tmp /mnt, and INIT (a
# script, typically `#!/bin/sh`) at /sbin/init, or at PATH with --init-at
# (an initramfs wants /init). --applets adds a symlink for every busybox
# applet (/bin/ls, /sbin/reboot, ...), so INIT can call them by name.
# BUSYBOX defaults to `busybox` on PATH, else /bin/busybox. Needs no root.
# Used by tests/kvm/make-initrd.sh (an initramfs) and mkrootfs.sh users (a disk).
set -euo pipefail

prog=${0##*/}
die() {
	echo "$prog: $*" >&2
	exit 1
}
usage() {
	echo "usage: $prog [--init-at PATH] [--applets] DIR INIT [BUSYBOX]" >&2
	exit 2
}

init_at=/sbin/init applets=false
while [[ $# -gt 0 && $1 == --* ]]; do
	case $1 in
	--init-at)
		[[ $# -ge 2 && $2 == /?* ]] || die "--init-at wants an absolute path such as /init"
		init_at=$2
		shift 2
		;;
	--applets) applets=true; shift ;;
	--) shift; break ;;
	*) usage ;;
	esac
done
[[ $# -eq 2 || $# -eq 3 ]] || usage
dir=$1 init=$2 busybox=${3:-$(command -v busybox || echo /bin/busybox)}

[[ -f $init && -r $init ]] || die "cannot read the init script '$init'"
[[ -f $busybox && -r $busybox ]] ||
	die "cannot read busybox at '$busybox' (apt-get install busybox-static)"

# A dynamically linked busybox boots to "Requested init ... failed (error -2)":
# the guest has no ld.so. Look for a PT_INTERP program header (ELF64, little endian).
le_uint() { # file offset bytes: an unsigned little-endian integer read from file
	local v=0 i
	# No process substitution: it needs /dev/fd, which minimal hosts (the test host's L1) lack.
	local -a b=($(LC_ALL=C od -An -tu1 -j "$2" -N "$3" "$1"))
	for ((i = ${#b[@]} - 1; i >= 0; i--)); do v=$((v * 256 + b[i])); done
	echo "$v"
}
[[ $(LC_ALL=C od -An -c -N4 "$busybox" | tr -d ' ') == '177ELF' ]] ||
	die "'$busybox' is not an ELF executable"
if [[ $(le_uint "$busybox" 4 1) -eq 2 ]]; then
	phoff=$(le_uint "$busybox" 32 8) phentsize=$(le_uint "$busybox" 54 2) phnum=$(le_uint "$busybox" 56 2)
	for ((i = 0; i < phnum; i++)); do
		[[ $(le_uint "$busybox" $((phoff + i * phentsize)) 4) -ne 3 ]] ||
			die "'$busybox' is dynamically linked; the guest needs a static one (apt-get install busybox-static)"
	done
fi

# Run an executable built for another architecture through qemu-user (its e_machine picks which).
foreign_runner() {
	local qemu
	case $(le_uint "$1" 18 2) in
	183) qemu=qemu-aarch64-static ;;
	62) qemu=qemu-x86_64-static ;;
	*) return 1 ;;
	esac
	command -v "$qemu" >/dev/null || die "'$1' is for another architecture and $qemu is missing (apt-get install qemu-user-static)"
	"$qemu" "$@"
}

mkdir -p "$dir"/{bin,dev,proc,sys,tmp,mnt} "$dir$(dirname "$init_at")"
chmod 1777 "$dir/tmp"
cp "$busybox" "$dir/bin/busybox"
chmod 755 "$dir/bin/busybox"
ln -sfn busybox "$dir/bin/sh"
cp "$init" "$dir$init_at"
chmod 755 "$dir$init_at"

if $applets; then
	# --list-full gives paths such as bin/ls, sbin/reboot, usr/bin/wc; never replace INIT or sh.
	# One ln per applet (~400): fine on a host, slow where processes are (the nested test host).
	# A busybox for another architecture (a cross build's) lists them under qemu-user.
	list=$("$busybox" --list-full 2>/dev/null) ||
		list=$(foreign_runner "$busybox" --list-full) ||
		die "cannot run '$busybox --list-full' to list its applets"
	declare -A made
	while read -r applet; do
		[[ -n $applet && ! -e $dir/$applet && ! -L $dir/$applet ]] || continue
		[[ $applet == */* ]] && sub=${applet%/*} || sub=.
		[[ -n ${made[$sub]:-} ]] || mkdir -p "$dir/$sub"
		made[$sub]=1
		ln -s /bin/busybox "$dir/$applet"
	done <<<"$list"
fi
