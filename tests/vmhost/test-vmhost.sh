#!/usr/bin/env bash
# The test host runner's own contract: a command's status comes back, and --attempts runs a
# failed command again in a fresh L1, saying so. Three L1 boots, so about a minute.
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

echo "$passed passed, $failed failed"
((failed == 0))
