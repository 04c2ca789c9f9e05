#!/usr/bin/env bash
# Rebuild the agentvm guest kernel from Debian's linux-source package.
#
#   guest/kernel/build.sh [--arch x86_64|aarch64] [--jobs N] [--out DIR]
#                         [--source TARBALL] [--build-dir DIR] [--clean] [--config-only]
#
# Steps: unpack /usr/src/linux-source-*.tar.xz, `make tinyconfig`, merge config-<arch>.fragment with
# scripts/kconfig/merge_config.sh, `make olddefconfig`, check that every option of the fragment landed,
# build vmlinux (x86_64) or Image (arm64), copy it and the final .config to OUT.
# Expected time: about 11 minutes with --jobs 2 on a 2-core x86_64 machine; a rerun only rebuilds what changed.
# This script installs nothing; it names missing prerequisites and the apt-get command that adds them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<EOF
usage: $0 [--arch x86_64|aarch64] [--jobs N] [--out DIR] [--source TARBALL] [--build-dir DIR] [--clean]
          [--config-only]

  --arch       guest architecture (default: this machine's, $(host_arch))
  --jobs       parallel make jobs (default: $(nproc))
  --out        where vmlinux/Image and config-<arch> are copied (default: $here/out)
  --source     kernel source tarball (default: the newest /usr/src/linux-source-*.tar.xz)
  --build-dir  where the source is unpacked and built (default: $here/build/<arch>)
  --clean      unpack the source again even if the build dir already holds it
  --config-only  stop after the fragment check and copy only config-<arch> to OUT (a minute or two)

Expected time: ~11 minutes with --jobs 2 on a 2-core x86_64 machine.
Environment: CROSS_COMPILE overrides the cross toolchain prefix.
EOF
}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'build.sh: warning: %s\n' "$*" >&2; }
die() { printf 'build.sh: error: %s\n' "$*" >&2; exit 1; }

host_arch() {
	case "$(uname -m)" in
	aarch64 | arm64) echo aarch64 ;;
	*) echo x86_64 ;;
	esac
}

arch=$(host_arch)
jobs=$(nproc)
out="$here/out"
source_tarball=""
build_dir=""
clean=0
config_only=0

while [ $# -gt 0 ]; do
	case "$1" in
	--arch) arch=${2:?--arch needs a value}; shift 2 ;;
	--arch=*) arch=${1#*=}; shift ;;
	--jobs | -j) jobs=${2:?--jobs needs a value}; shift 2 ;;
	--jobs=*) jobs=${1#*=}; shift ;;
	--out) out=${2:?--out needs a value}; shift 2 ;;
	--out=*) out=${1#*=}; shift ;;
	--source) source_tarball=${2:?--source needs a value}; shift 2 ;;
	--source=*) source_tarball=${1#*=}; shift ;;
	--build-dir) build_dir=${2:?--build-dir needs a value}; shift 2 ;;
	--build-dir=*) build_dir=${1#*=}; shift ;;
	--clean) clean=1; shift ;;
	--config-only) config_only=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

case "$arch" in
x86_64 | x86 | amd64)
	arch=x86_64 karch=x86_64 target=vmlinux product=vmlinux cross_pkg=gcc-x86-64-linux-gnu
	cross_prefix=x86_64-linux-gnu- ;;
aarch64 | arm64)
	arch=aarch64 karch=arm64 target=Image product=arch/arm64/boot/Image cross_pkg=gcc-aarch64-linux-gnu
	cross_prefix=aarch64-linux-gnu- ;;
*) die "unsupported --arch '$arch' (use x86_64 or aarch64)" ;;
esac
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, not '$jobs'"

fragment="$here/config-$arch.fragment"
[ -r "$fragment" ] || die "missing config fragment $fragment"
build_dir=${build_dir:-"$here/build/$arch"}

# Kbuild cannot cope with whitespace in the source or output path.
case "$build_dir$out" in
*[[:space:]]*) die "the build and output directories must not contain whitespace: '$build_dir', '$out'" ;;
esac

# --- prerequisites -------------------------------------------------------------------------------
# Cross-compile when the guest architecture differs from this machine's, unless CROSS_COMPILE says otherwise.
if [ "$arch" != "$(host_arch)" ]; then
	cross_compile=${CROSS_COMPILE-$cross_prefix}
else
	cross_compile=${CROSS_COMPILE-}
	cross_pkg=""
fi

missing_pkgs=()
missing_what=()
need() { # need <package> <description> <test...>
	local pkg=$1 what=$2
	shift 2
	if ! "$@" >/dev/null 2>&1; then
		case " ${missing_pkgs[*]-} " in *" $pkg "*) ;; *) missing_pkgs+=("$pkg") ;; esac
		missing_what+=("$what (package $pkg)")
	fi
}
have_header() {
	if command -v gcc; then
		printf '#include <%s>\n' "$1" | gcc -E -x c -
	else
		[ -e "/usr/include/$1" ]
	fi
}

if [ -z "$source_tarball" ]; then
	# The newest version wins when several linux-source packages are installed.
	source_tarball=$(find /usr/src -maxdepth 1 -name 'linux-source-*.tar.xz' 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$source_tarball" ]; then
		missing_pkgs+=(linux-source-6.12)
		missing_what+=("kernel source /usr/src/linux-source-*.tar.xz (package linux-source-6.12; on Debian 12 it comes from bookworm-security or bookworm-backports, on later releases 'linux-source' is fine)")
	fi
elif [ ! -r "$source_tarball" ]; then
	die "cannot read --source '$source_tarball'"
fi
need build-essential "make" command -v make
need build-essential "gcc (host compiler)" command -v gcc
need flex "flex" command -v flex
need bison "bison" command -v bison
need bc "bc" command -v bc
need xz-utils "xz" command -v xz
need libelf-dev "libelf headers (gelf.h)" have_header gelf.h
need libssl-dev "OpenSSL headers (openssl/evp.h)" have_header openssl/evp.h
if [ -n "$cross_pkg" ] && [ "$cross_compile" = "$cross_prefix" ]; then
	need "$cross_pkg" "${cross_compile}gcc (cross compiler for $arch)" command -v "${cross_compile}gcc"
elif [ -n "$cross_compile" ] && ! command -v "${cross_compile}gcc" >/dev/null; then
	die "CROSS_COMPILE=$cross_compile but ${cross_compile}gcc is not on PATH"
fi

if [ ${#missing_what[@]} -gt 0 ]; then
	{
		echo "build.sh: missing prerequisites:"
		printf '  - %s\n' "${missing_what[@]}"
		echo "Install them with:"
		sudo=""
		[ "$(id -u)" -eq 0 ] || sudo="sudo "
		echo "  ${sudo}apt-get install ${missing_pkgs[*]}"
		case " ${missing_pkgs[*]} " in
		*" linux-source-6.12 "*)
			echo "(if apt-get cannot find linux-source-6.12, enable bookworm-backports and add '-t bookworm-backports',"
			echo " or install 'linux-source' instead; the fragments are written for 6.12)" ;;
		esac
	} >&2
	exit 1
fi

# --- unpack --------------------------------------------------------------------------------------
mkdir -p "$build_dir" "$out"
build_dir=$(cd "$build_dir" && pwd)
src="$build_dir/src"
log="$build_dir/build.log"
: >"$log"

say "guest kernel for $arch from $source_tarball (fragment: $fragment)"
say "build dir $build_dir, log $log"
start=$(date +%s)

# The stamp names the tarball the tree came from, so a rebuild reuses it and make only redoes what changed.
stamp="$(realpath "$source_tarball") $(stat -c '%s %Y' "$source_tarball")"
if [ "$clean" -eq 0 ] && [ -f "$src/.agentvm-source" ] && [ "$(cat "$src/.agentvm-source")" = "$stamp" ]; then
	say "[1/6] reusing the unpacked source in $src (--clean unpacks it again)"
else
	say "[1/6] unpacking $(basename "$source_tarball") (under a minute)"
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf "$source_tarball" -C "$src" --strip-components=1
	printf '%s\n' "$stamp" >"$src/.agentvm-source"
fi
kversion=$(make -s --no-print-directory -C "$src" kernelversion)
case "$kversion" in
6.12.*) ;;
*) warn "the fragments are written for Linux 6.12; this source is $kversion, expect options that do not apply" ;;
esac

# Pin the build identity so two builds of the same source and config differ as little as possible.
export KBUILD_BUILD_USER=${KBUILD_BUILD_USER:-agentvm}
export KBUILD_BUILD_HOST=${KBUILD_BUILD_HOST:-agentvm}
export KBUILD_BUILD_TIMESTAMP=${KBUILD_BUILD_TIMESTAMP:-$(date -u -d "@$(stat -c %Y "$source_tarball")")}

kmake() {
	make -C "$src" ARCH="$karch" ${cross_compile:+CROSS_COMPILE="$cross_compile"} "$@" >>"$log" 2>&1 || {
		echo "build.sh: 'make $*' failed; the end of $log:" >&2
		tail -n 40 "$log" >&2
		exit 1
	}
}

# --- configure -----------------------------------------------------------------------------------
say "[2/6] make ARCH=$karch tinyconfig (Linux $kversion)"
kmake tinyconfig

say "[3/6] merging $(basename "$fragment")"
# merge_config.sh reports every tinyconfig value the fragment overrides; that is expected, so it goes to the log.
(cd "$src" && ARCH="$karch" ./scripts/kconfig/merge_config.sh -m .config "$fragment") >>"$log" 2>&1 || {
	tail -n 20 "$log" >&2
	die "merge_config.sh failed"
}

say "[4/6] make olddefconfig"
kmake olddefconfig

say "[5/6] checking that every option of the fragment landed"
total=0
bad=0
while IFS= read -r line; do
	if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
		name=${BASH_REMATCH[1]} want=${BASH_REMATCH[2]}
	elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
		name=${BASH_REMATCH[1]} want=n
	else
		continue
	fi
	total=$((total + 1))
	got=$(grep -E "^$name=" "$src/.config" | tail -n 1 | cut -d= -f2-) || true
	if [ "$want" = n ]; then
		[ -z "$got" ] || [ "$got" = n ] && continue
	else
		[ "$got" = "$want" ] && continue
	fi
	bad=$((bad + 1))
	if [ -n "$got" ]; then
		warn "$name: fragment wants '$want', the config has '$got'"
	elif grep -qE "^# $name is not set$" "$src/.config"; then
		warn "$name: fragment wants '$want', the config has it unset (a dependency is off or a choice excludes it)"
	else
		warn "$name: fragment wants '$want', the option does not exist or its menu is hidden in Linux $kversion"
	fi
done <"$fragment"
if [ "$bad" -eq 0 ]; then
	say "all $total options of the fragment are in the final config"
else
	warn "$bad of $total options of the fragment did not land (named above); building anyway"
fi

if [ "$config_only" -eq 1 ]; then
	cp -f "$src/.config" "$out/config-$arch"
	say "--config-only: stopping before the compile; the final config is $out/config-$arch"
	exit 0
fi

# --- build ---------------------------------------------------------------------------------------
say "[6/6] make -j$jobs $target (about 11 minutes with -j2 on 2 cores; follow it with: tail -f $log)"
kmake -j"$jobs" "$target"

cp -f "$src/$product" "$out/$target"
cp -f "$src/.config" "$out/config-$arch"
elapsed=$(($(date +%s) - start))
say "done in $((elapsed / 60)) min $((elapsed % 60)) s:"
printf '    %s  (%s bytes, sha256 %s)\n' "$out/$target" "$(stat -c %s "$out/$target")" \
	"$(sha256sum "$out/$target" | cut -d' ' -f1)"
printf '    %s\n' "$out/config-$arch"
say "install it as the default guest kernel with: $here/install.sh --from $out/$target"
