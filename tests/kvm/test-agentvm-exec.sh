#!/bin/bash
# agentvm-exec v0 end to end: console copied to stdout and exit 0 on guest
# poweroff and reboot; exit 125 with one clear line for runner errors; 124 on timeout.
set -u
exe=${AGENTVM_EXEC:?} kernel=${AGENTVM_TEST_KERNEL:?} initrd=${AGENTVM_TEST_INITRD:?}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
source "$(dirname "$0")/check-lib.sh"

check "poweroff shows console, exits 0" 0 "AGENTVM-INIT-MARKER cpus=2" "" \
	"$exe" --console-only --kernel "$kernel" --initrd "$initrd" --vcpus 2 --memory 128
check "reboot exits 0" 0 "action=reboot" "" \
	"$exe" --console-only --kernel "$kernel" --initrd "$initrd" --cmdline agentvm.test=reboot
AGENTVM_KERNEL=$kernel check "AGENTVM_KERNEL is the default kernel" 0 "AGENTVM-INIT-MARKER" "" \
	"$exe" --console-only --initrd "$initrd"
check "timeout stops the VM, exits 124" 124 "AGENTVM-INIT-MARKER" "timed out" \
	"$exe" --console-only --kernel "$kernel" --initrd "$initrd" --cmdline agentvm.test=hang --timeout 20
check "missing kernel exits 125" 125 "" "/nonexistent/vmlinux" \
	"$exe" --console-only --kernel /nonexistent/vmlinux
AGENTVM_KERNEL=/nonexistent/k check "missing default kernel says what to do" 125 "" "AGENTVM_KERNEL" \
	"$exe" --console-only
case $(uname -m) in
aarch64) not_a_kernel="not an arm64 Image" ;;
*) not_a_kernel="neither an ELF" ;;
esac
check "not a kernel exits 125" 125 "" "$not_a_kernel" \
	"$exe" --console-only --kernel "$initrd"
check "bad option exits 125" 125 "" "--bogus" "$exe" --console-only --bogus
check "bad number exits 125" 125 "" "--vcpus" "$exe" --console-only --kernel "$kernel" --vcpus 0
check "no mode exits 125" 125 "" "--console-only" "$exe" --kernel "$kernel"
check "--help exits 0" 0 "Usage: agentvm-exec" "" "$exe" --help
check "--version exits 0" 0 "agentvm-exec 0." "" "$exe" --version

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
