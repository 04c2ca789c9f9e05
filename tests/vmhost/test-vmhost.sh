#!/usr/bin/env bash
# The test host runner's own contract: a command's status comes back, and --attempts runs a
# failed command again in a fresh L1, saying so; an aarch64 L1 runs arm64 programs with KVM and
# the tools tests/kvm's scripts use. Five L1 boots, about 25 s.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vmhost=$here/vmhost
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
out=$scratch/out err=$scratch/err
# shellcheck source=../kvm/check-lib.sh
source "$here/../kvm/check-lib.sh"

# The command sees which attempt it is in AGENTVM_VMHOST_ATTEMPT (unset on the first).
# shellcheck disable=SC2016 # expanded in L1
fail_first='echo "try ${AGENTVM_VMHOST_ATTEMPT:-1}"; [ "${AGENTVM_VMHOST_ATTEMPT:-1}" != 1 ] || exit 3'

check "without --attempts a failed command's status comes back" 3 "^try 1$" "" \
	"$vmhost" run -- sh -c "$fail_first"
if grep -q "attempt 2" "$err"; then
	echo "FAIL ... and it ran only once: $(cat "$err")"
	failed=$((failed + 1))
else
	pass "... and it ran only once"
fi

check "--attempts 3: a command that failed once passes on its second attempt" 0 "^try 2$" \
	"attempt 2 of 3 in a fresh L1" "$vmhost" run --attempts 3 -- sh -c "$fail_first"
if grep -q "^try 1$" "$out"; then
	pass "... and the first attempt's output stays"
else
	echo "FAIL ... and the first attempt's output stays: $(cat "$out")"
	failed=$((failed + 1))
fi

check "a bad --attempts is a usage error" 2 "" "usage" "$vmhost" run --attempts x -- true
check "an unknown --arch is a usage error" 2 "" "usage" "$vmhost" run --arch sparc -- true

# aarch64. The first case goes through exec so that its --arch is checked too: on an x86_64
# machine it must boot an arm64 L1.
if [[ $(uname -m) != aarch64 ]]; then
	check "kvm-ok --arch aarch64 says no on $(uname -m)" 1 "" "" "$vmhost" kvm-ok --arch aarch64
fi
check "aarch64: a command's status, stdout and stderr come back from an arm64 L1" 3 "^aarch64$" "^to-err$" \
	"$vmhost" exec --arch aarch64 -- sh -c 'uname -m; echo to-err >&2; exit 3'
# What tests/kvm's scripts run, from the arm64 userland that lies over the host's files.
# shellcheck disable=SC2016 # expanded in L1
tools='set -euo pipefail
[[ -c /dev/kvm ]]
d=$(mktemp -d)
mkdir "$d/tree"
echo hello >"$d/tree/f"
dd if=/dev/zero of="$d/img" bs=1M count=8 status=none
mkfs.ext4 -q -F -d "$d/tree" "$d/img"
e2fsck -fn "$d/img" >/dev/null
[[ $(debugfs -R "cat /f" "$d/img" 2>/dev/null) == hello ]]
grep -qx hello "$d/tree/f"
cp --sparse=always "$d/img" "$d/copy"
cmp "$d/img" "$d/copy"
[[ $(sha256sum <"$d/img" | sed "s/ .*//") == $(sha256sum "$d/copy" | cut -d" " -f1) ]]
awk "BEGIN { exit !($(stat -c %s "$d/img") == 8 * 1048576) }"
flock -n "$d/img" true
setpriv --bounding-set -dac_override -- true
sleep 60 &
timeout 5 pgrep -x sleep >/dev/null
kill $!
[[ $(find "$d" -name f | tr -d "\n") == "$d/tree/f" ]]
echo "tools ok on $(uname -m) with /dev/kvm"'
check "aarch64: bash and the tools the KVM tests use run in L1" 0 "^tools ok on aarch64 with /dev/kvm$" "" \
	"$vmhost" run --arch aarch64 -- bash -c "$tools"

echo "$passed passed, $failed failed"
((failed == 0))
