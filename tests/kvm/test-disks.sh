#!/bin/bash
# virtio-blk end to end through agentvm-exec --disk/--root-disk: boot from an
# ext4 root disk built by guest/rootfs/mkrootfs.sh and read the guest's writes
# back on the host; read-only disks; eight disks with their sizes and serials;
# fsync reaching the image while the VM runs; DISCARD and WRITE_ZEROES making
# the image sparse; and the runner errors (exit 125) for bad images.
# The guest side of each case is tests/kvm/disks-init.sh.
set -u
exe=${AGENTVM_EXEC:?} kernel=${AGENTVM_TEST_KERNEL:?} initrd=${AGENTVM_TEST_INITRD:?}
blkzero=${AGENTVM_TEST_BLKZERO:?} busybox=${AGENTVM_TEST_BUSYBOX:-/bin/busybox}
here=$(cd "$(dirname "$0")" && pwd)
rootfs=$here/../../guest/rootfs
PATH=$PATH:/usr/sbin:/sbin # mkfs.ext4, debugfs, e2fsck
MiB=1048576
scratch=$(mktemp -d "${TMPDIR:-/tmp}/agentvm-disks.XXXXXX")
out=$scratch/out err=$scratch/err
bg_pid=
cleanup() {
	[[ -z $bg_pid ]] || kill "$bg_pid" 2>/dev/null
	rm -rf "$scratch"
}
trap cleanup EXIT
source "$here/check-lib.sh"

# fail NAME DETAIL [BOOT]: the guest console and stderr of BOOT follow, once per boot.
declare -A shown
fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
	if [[ -n ${3:-} && -z ${shown[$3]:-} ]]; then
		shown[$3]=1
		echo "--- console of boot '$3' (last 60 lines)"
		tail -n 60 "$scratch/$3.console"
		echo "--- stderr of boot '$3'"
		head -c 2000 "$scratch/$3.stderr"
		echo "---"
	fi
}

# boot NAME CASE ARGS...: run the guest case CASE to its reboot; console in $scratch/NAME.console.
boot() {
	local name=$1 case=$2 start=$SECONDS status
	shift 2
	"$exe" --console-only --kernel "$kernel" --memory 256 --timeout 240 \
		--cmdline "agentvm.case=$case" "$@" >"$scratch/$name.raw" 2>"$scratch/$name.stderr"
	status=$?
	tr -d '\r' <"$scratch/$name.raw" >"$scratch/$name.console"
	if [[ $status -eq 0 ]] && grep -q '^DISKS done' "$scratch/$name.console"; then
		pass "$name: guest ran case '$case' and rebooted ($((SECONDS - start)) s)"
	else
		fail "$name" "agentvm-exec exited $status, guest case '$case' did not finish" "$name"
	fi
}

# value BOOT KEY: what the guest said as "DISKS KEY=value" (the last time).
value() {
	sed -n "s/^DISKS $2=//p" "$scratch/$1.console" | tail -n 1
}

# expect BOOT NAME COMMAND...: pass if COMMAND succeeds, else fail with BOOT's console.
expect() {
	local b=$1 name=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "false: $*" "$b"; fi
}

# expect_eq BOOT NAME GOT WANT
expect_eq() {
	if [[ $3 == "$4" ]]; then pass "$2"; else fail "$2" "got '$3', want '$4'" "$1"; fi
}

# section NAME: announce a part of the test and how long the previous one took.
section() {
	[[ -z ${section_name:-} ]] || echo "     ($section_name took $((SECONDS - section_start)) s)"
	section_name=$1 section_start=$SECONDS
}
blocks_kib() { echo $(($(stat -c '%b * %B' "$1") / 1024)); }
sha() { sha256sum "$@" | cut -d' ' -f1; }
range_sha() { dd if="$1" bs=$MiB skip="$2" count="$3" iflag=fullblock 2>/dev/null | sha256sum | cut -d' ' -f1; }
random_file() { head -c "$2" /dev/urandom >"$1"; }
fsck_clean() { e2fsck -fn "$1" >/dev/null 2>&1; }
sector() { dd if="$1" bs=512 skip="$2" count=1 2>/dev/null | tr -d '\0'; }

for tool in mkfs.ext4 debugfs e2fsck sha256sum flock setpriv; do
	if ! command -v "$tool" >/dev/null; then
		echo "FAIL setup: $tool is missing (apt-get install e2fsprogs coreutils util-linux)"
		echo "0 passed, 1 failed"
		exit 1
	fi
done

section setup
# The guest tree: busybox, disks-init.sh as /sbin/init, the WRITE_ZEROES helper. No
# --applets: ~400 ln processes take a minute in the test host, and Debian's static
# busybox sh runs its applets by name without them.
tree=$scratch/tree
if ! "$rootfs/busybox-tree.sh" "$tree" "$here/disks-init.sh" "$busybox" ||
	! cp "$blkzero" "$tree/bin/guest-blkzero" ||
	! "$rootfs/mkrootfs.sh" "$scratch/sys.img" 16 "$tree"; then
	echo "FAIL setup: cannot build the guest tree and its 16 MiB image"
	echo "0 passed, 1 failed"
	exit 1
fi
sys=$scratch/sys.img
echo "     images in $scratch"

section a
# --- (a) boot from a writable ext4 root disk, write 300 MiB, read it back with debugfs
if "$rootfs/mkrootfs.sh" "$scratch/big.img" 448 "$tree"; then
	boot a bigwrite --vcpus 2 --root-disk "$scratch/big.img"
	expect_eq a "a: guest sees the root disk's 448 MiB" "$(value a vda_sectors)" $((448 * 2048))
	expect a "a: root is mounted ext4 read-write" grep -q '^DISKS root_opts=rw' "$scratch/a.console"
	expect_eq a "a: guest wrote 300 MiB" "$(value a big_bytes)" $((300 * MiB))
	expect_eq a "a: guest remounted / read-only" "$(value a remount)" ok
	if fsck_log=$(e2fsck -fn "$scratch/big.img" 2>&1); then
		pass "a: e2fsck finds the image clean"
	else
		fail "a: e2fsck finds the image clean" "$(tail -n 5 <<<"$fsck_log")" a
	fi
	host_sum=$(debugfs -R 'cat /big.bin' "$scratch/big.img" 2>/dev/null | sha256sum | cut -d' ' -f1)
	expect_eq a "a: the file read back from the image has the guest's sha256" \
		"$host_sum" "$(value a big_sha256)"
	rm -f "$scratch/big.img"
else
	fail "a: mkrootfs.sh builds a 448 MiB root image" "mkrootfs.sh failed"
fi

section b
# --- (b) read-only disks: the guest cannot write them, the image does not change
mkdir "$scratch/data"
echo "hello from the host" >"$scratch/data/hello.txt"
"$rootfs/mkrootfs.sh" "$scratch/data.img" 16 "$scratch/data"
data_sum=$(sha "$scratch/data.img")
sys_sum=$(sha "$sys")
boot b readonly --root-disk "$sys,ro" --disk "$scratch/data.img,ro" --disk "$scratch/data.img,ro"
expect_eq b "b: vda, vdb, vdc are read-only in the guest" \
	"$(grep -o '^DISKS vd[a-z]_ro=[0-9]*' "$scratch/b.console" | cut -d' ' -f2 | tr '\n' ' ')" \
	"vda_ro=1 vdb_ro=1 vdc_ro=1 "
expect b "b: read-only disks offer neither DISCARD nor WRITE_ZEROES" \
	grep -q '^DISKS vdb_ro=1 vdb_discard_max=0 vdb_zeroes_max=0$' "$scratch/b.console"
expect b "b: root is mounted read-only (root=/dev/vda ro)" grep -q '^DISKS root_opts=ro' "$scratch/b.console"
expect b "b: writing the read-only root fails" grep -q '^DISKS root_write=failed' "$scratch/b.console"
expect b "b: a raw write to /dev/vdb fails" grep -q '^DISKS raw_write=failed' "$scratch/b.console"
expect b "b: a raw write fails even after blockdev --setrw" \
	grep -q '^DISKS raw_write_after_setrw=failed' "$scratch/b.console"
expect b "b: mount -o rw of vdb fails or falls back to read-only" \
	grep -Eq '^DISKS (mount_rw=failed|mnt_opts=ro)' "$scratch/b.console"
expect b "b: no file can be created on the mounted vdb" \
	bash -c "! grep -q '^DISKS mnt_write=ok' '$scratch/b.console'"
expect_eq b "b: vdb's file reads back" "$(value b hello)" "hello from the host"
expect_eq b "b: the second read-only attachment of the same image reads the same bytes" \
	"$(value b vdc_sha256)" "$data_sum"
expect_eq b "b: the read-only images are unchanged" "$(sha "$scratch/data.img") $(sha "$sys")" \
	"$data_sum $sys_sum"
grep '^DISKS \(raw_write\|mount_rw\|mnt_opts\|mnt_write\|root_write\)' "$scratch/b.console" | sed 's/^/     guest: /'

section c
# --- (c) eight disks: sizes, serials, read-only flags; writes land in the right image
truncate -s 64M "$scratch/w1.img"
random_file "$scratch/w2.img" $((MiB + 700)) # 2049 whole sectors and 188 bytes the guest cannot see
random_file "$scratch/s512.img" 512
w2_head=$(head -c $((2048 * 512)) "$scratch/w2.img" | sha256sum | cut -d' ' -f1)
w2_visible=$(head -c $((2049 * 512)) "$scratch/w2.img" | sha256sum | cut -d' ' -f1)
w2_tail=$(tail -c 188 "$scratch/w2.img" | sha256sum | cut -d' ' -f1)
args=(--root-disk "$sys,ro" --disk "$scratch/w1.img" --disk "$scratch/w2.img" --disk "$scratch/s512.img,ro")
want=("vda 32768 ro=1" "vdb 131072 ro=0" "vdc 2049 ro=0" "vdd 1 ro=1")
for i in 4 5 6 7; do
	truncate -s "${i}M" "$scratch/d$i.img"
	args+=(--disk "$scratch/d$i.img")
	want+=("vd$(printf "\\x$(printf %x $((97 + i)))") $((i * 2048)) ro=0")
done
boot c multi "${args[@]}"
got=$(sed -n 's/^DISKS disk=\([a-z]*\) sectors=\([0-9]*\) serial=\(agentvm-disk[0-9]\) ro=\([01]\)$/\1 \2 \3 ro=\4/p' \
	"$scratch/c.console")
want_lines=
for i in "${!want[@]}"; do
	set -- ${want[$i]}
	want_lines+="$1 $2 agentvm-disk$i $3"$'\n'
done
expect_eq c "c: vda-vdh show the right sizes, serials agentvm-disk0-7 and ro flags" "$got" "${want_lines%$'\n'}"
expect_eq c "c: vdc reads the image's 2049 whole sectors" "$(value c vdc_sha256)" "$w2_visible"
expect_eq c "c: the one-sector disk vdd reads back" "$(value c vdd_sha256)" "$(sha "$scratch/s512.img")"
expect_eq c "c: the marker written to vdb is in the second image at sector 2048" \
	"$(sector "$scratch/w1.img" 2048)" DISKS-MARK-vdb
expect_eq c "c: the marker written to vdc is in the third image's last sector" \
	"$(sector "$scratch/w2.img" 2048)" DISKS-MARK-vdc
# (Not the root image: it holds disks-init.sh, which spells the markers.)
expect c "c: neither marker is in another image" \
	bash -c "! grep -qa DISKS-MARK-vdc '$scratch/w1.img' && ! grep -qa DISKS-MARK-vdb '$scratch/w2.img' &&
		! grep -qa DISKS-MARK '$scratch/s512.img' '$scratch/d'[4-7].img"
expect_eq c "c: the rest of the third image is unchanged, beyond the last sector too" \
	"$(head -c $((2048 * 512)) "$scratch/w2.img" | sha256sum | cut -d' ' -f1) $(tail -c 188 "$scratch/w2.img" | sha256sum | cut -d' ' -f1)" \
	"$w2_head $w2_tail"

section d
# --- (d) runner errors before boot: exit 125, one line naming the image
img=$scratch/w1.img
check "d: a missing image exits 125 naming it" 125 "" "$scratch/missing.img" \
	"$exe" --console-only --kernel "$kernel" --disk "$scratch/missing.img"
check "d: a directory exits 125" 125 "" "cannot open disk image '$scratch/data' for writing: Is a directory" \
	"$exe" --console-only --kernel "$kernel" --disk "$scratch/data"
check "d: a directory given read-only exits 125: not a regular file" 125 "" "'$scratch/data' is not a regular file" \
	"$exe" --console-only --kernel "$kernel" --disk "$scratch/data,ro"
check "d: a character device exits 125: not a regular file" 125 "" "'/dev/null' is not a regular file" \
	"$exe" --console-only --kernel "$kernel" --disk /dev/null
mkfifo "$scratch/fifo"
# Bounded: opening a FIFO for reading once blocked until a writer came.
check "d: a FIFO given read-only exits 125 at once: not a regular file" 125 "" "'$scratch/fifo' is not a regular file" \
	timeout 30 "$exe" --console-only --kernel "$kernel" --disk "$scratch/fifo,ro"
random_file "$scratch/unreadable.img" $MiB
chmod 000 "$scratch/unreadable.img"
# As root only the missing DAC capabilities make a mode-000 file unreadable.
check "d: an unreadable image exits 125: Permission denied" 125 "" "unreadable.img'.*Permission denied" \
	setpriv --bounding-set -dac_override,-dac_read_search -- \
	"$exe" --console-only --kernel "$kernel" --disk "$scratch/unreadable.img,ro"
random_file "$scratch/small.img" 511
check "d: a 511-byte image exits 125" 125 "" "smaller than one 512-byte sector" \
	"$exe" --console-only --kernel "$kernel" --disk "$scratch/small.img"
: >"$scratch/empty.img"
check "d: an empty image exits 125" 125 "" "smaller than one 512-byte sector" \
	"$exe" --console-only --kernel "$kernel" --disk "$scratch/empty.img,ro"
check "d: one writable image twice in a VM exits 125: in use" 125 "" "'$img' is in use by another VM" \
	"$exe" --console-only --kernel "$kernel" --disk "$img" --disk "$img"
check "d: a writable image also given read-only exits 125: in use for writing" 125 "" \
	"'$img' is in use by another VM for writing" \
	"$exe" --console-only --kernel "$kernel" --disk "$img" --disk "$img,ro"
check "d: two root disks exit 125" 125 "" "already the root disk" \
	"$exe" --console-only --kernel "$kernel" --root-disk "$img" --root-disk "$scratch/d4.img"
check "d: an empty disk path exits 125" 125 "" "--disk wants PATH" \
	"$exe" --console-only --kernel "$kernel" --disk ,ro
nine=()
for i in 1 2 3 4 5 6 7 8 9; do nine+=(--disk "$scratch/d4.img,ro"); done
check "d: nine disks exit 125" 125 "" "at most 8 disks" "$exe" --console-only --kernel "$kernel" "${nine[@]}"

# A second VM while the first holds the image. The first has its lock once it
# boots (agentvm_vm_new takes it); polling with flock(1) meanwhile could take the
# lock first and make the VM fail, so wait for the guest's marker instead.
"$exe" --console-only --kernel "$kernel" --initrd "$initrd" --cmdline agentvm.test=hang \
	--timeout 120 --disk "$img" >"$scratch/hang.console" 2>"$scratch/hang.stderr" &
bg_pid=$!
start=$SECONDS
while kill -0 "$bg_pid" 2>/dev/null && ! grep -q AGENTVM-INIT-MARKER "$scratch/hang.console" &&
	((SECONDS - start < 120)); do
	sleep 0.2
done
if grep -q AGENTVM-INIT-MARKER "$scratch/hang.console" && ! flock -n "$img" true; then
	pass "d: a running VM holds a lock on its writable image"
else
	fail "d: a running VM holds a lock on its writable image" \
		"no lock (VM: $(head -c 300 "$scratch/hang.stderr"))"
fi
check "d: a second VM on a writable image in use exits 125" 125 "" "'$img' is in use by another VM" \
	"$exe" --console-only --kernel "$kernel" --timeout 60 --disk "$img"
check "d: a second VM reading an image in use for writing exits 125" 125 "" "in use by another VM for writing" \
	"$exe" --console-only --kernel "$kernel" --timeout 60 --disk "$img,ro"
kill -TERM "$bg_pid" 2>/dev/null
wait "$bg_pid"
status=$?
bg_pid=
expect_eq "" "d: the first VM stops on SIGTERM" "$status" 143
if flock -n "$img" true; then pass "d: the lock is gone with the VM"; else fail "d: the lock is gone with the VM" "still locked"; fi

section e
# --- (e) FLUSH: data written with fsync is in the image while the VM is still running
truncate -s 32M "$scratch/e.img"
start=$SECONDS
"$exe" --console-only --kernel "$kernel" --memory 256 --timeout 240 --cmdline agentvm.case=fsync \
	--root-disk "$sys,ro" --disk "$scratch/e.img" >"$scratch/e.raw" 2>"$scratch/e.stderr" &
bg_pid=$!
while kill -0 "$bg_pid" 2>/dev/null && ! grep -q '^DISKS waiting' "$scratch/e.raw" && ((SECONDS - start < 120)); do
	sleep 0.2
done
e_sum=$(range_sha "$scratch/e.img" 4 8)
e_rest=$( { head -c $((4 * MiB)) "$scratch/e.img"; tail -c $((20 * MiB)) "$scratch/e.img"; } | tr -d '\0' | wc -c)
kill -TERM "$bg_pid" 2>/dev/null
wait "$bg_pid"
status=$?
bg_pid=
tr -d '\r' <"$scratch/e.raw" >"$scratch/e.console"
if [[ $status -eq 143 ]] && grep -q '^DISKS waiting' "$scratch/e.console"; then
	pass "e: guest wrote with fsync and waited; SIGTERM stopped it ($((SECONDS - start)) s)"
else
	fail "e: guest wrote with fsync and waited" "agentvm-exec exited $status (want 143 after SIGTERM)" e
fi
expect_eq e "e: the device has a volatile write cache (the guest sends FLUSH)" "$(value e vdb_write_cache)" "write back"
flush_line=$(value e fsync_write)
expect e "e: dd conv=fsync succeeded and the guest counted more completed flushes" \
	awk -v l="$flush_line" 'BEGIN { n = split(l, f, /[ =]/); exit !(f[1] == "ok" && f[5] > f[3]) }'
expect_eq e "e: the fsync'd 8 MiB are in the image before the VM ends" "$e_sum" "$(value e chunk_sha256)"
expect_eq e "e: nothing else of the image was written" "$e_rest" 0
echo "     guest: DISKS fsync_write=$flush_line"

section f
# --- (f) DISCARD and WRITE_ZEROES give the host its space back
mkdir "$scratch/empty"
"$rootfs/mkrootfs.sh" "$scratch/f.img" 128 "$scratch/empty"
random_file "$scratch/fdiscard.img" $((16 * MiB))
random_file "$scratch/fzero.img" $((16 * MiB))
zero_keep="$(range_sha "$scratch/fzero.img" 0 4) $(range_sha "$scratch/fzero.img" 8 4)"
f_args=(--root-disk "$sys,ro" --disk "$scratch/f.img" --disk "$scratch/fdiscard.img" --disk "$scratch/fzero.img")
kib0=$(blocks_kib "$scratch/f.img")
boot f1 discard_fill "${f_args[@]}"
kib1=$(blocks_kib "$scratch/f.img")
expect f1 "f: the ext4 disk offers DISCARD (4 KiB granularity) and WRITE_ZEROES" \
	grep -q '^DISKS vdb_discard_max=[1-9][0-9]* vdb_discard_granularity=4096 vdb_zeroes_max=[1-9]' "$scratch/f1.console"
expect f1 "f: a 48 MiB file grew the image by at least 48 MiB ($kib0 -> $kib1 KiB)" \
	test $((kib1 - kib0)) -ge $((48 * 1024))
fd_kib0=$(blocks_kib "$scratch/fdiscard.img") fz_kib0=$(blocks_kib "$scratch/fzero.img")
boot f2 discard_trim "${f_args[@]}"
kib2=$(blocks_kib "$scratch/f.img")
expect f2 "f: fstrim trimmed something" grep -Eq '^DISKS fstrim=/mnt: [1-9][0-9]* bytes trimmed' "$scratch/f2.console"
expect f2 "f: rm and fstrim shrank the image by at least 44 MiB ($kib1 -> $kib2 KiB)" \
	test $((kib1 - kib2)) -ge $((44 * 1024))
expect f2 "f: e2fsck finds the ext4 image clean" fsck_clean "$scratch/f.img"
fd_kib1=$(blocks_kib "$scratch/fdiscard.img")
expect_eq f2 "f: blkdiscard on a raw disk succeeded" "$(value f2 blkdiscard)" ok
expect f2 "f: blkdiscard freed the raw image ($fd_kib0 -> $fd_kib1 KiB)" test "$fd_kib1" -le 64
expect f2 "f: the discarded raw image reads as zeroes" cmp -s -n $((16 * MiB)) "$scratch/fdiscard.img" /dev/zero
expect_eq f2 "f: BLKZEROOUT (WRITE_ZEROES) succeeded" "$(value f2 zeroout)" ok
expect_eq f2 "f: fallocate PUNCH_HOLE (WRITE_ZEROES with unmap, no fallback) succeeded" "$(value f2 punch)" ok
expect f2 "f: both zeroed ranges read as zeroes" \
	bash -c "cmp -s -i $((4 * MiB)):0 -n $((4 * MiB)) '$scratch/fzero.img' /dev/zero &&
		cmp -s -i $((12 * MiB)):0 -n $((4 * MiB)) '$scratch/fzero.img' /dev/zero"
expect_eq f2 "f: the ranges around them are unchanged" \
	"$(range_sha "$scratch/fzero.img" 0 4) $(range_sha "$scratch/fzero.img" 8 4)" "$zero_keep"
grep -h '^DISKS \(fill_kib\|fstrim\)=' "$scratch/f1.console" "$scratch/f2.console" | sed 's/^/     guest: /'
echo "     WRITE_ZEROES image: $fz_kib0 -> $(blocks_kib "$scratch/fzero.img") KiB allocated"
section end
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
