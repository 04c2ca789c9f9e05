#!/bin/bash
# Build, then boot the default guest and show its console: the guest's init
# prints a marker line and reboots, which ends the VM. Runs on /dev/kvm where
# it can run guests, inside the nested test host (tests/vmhost) elsewhere.
#
# The guest kernel is $AGENTVM_KERNEL, else the one the build found (the
# shared prebuilt kernel or /usr/local/share/agentvm/vmlinux; see
# guest/kernel/README.md to build and install your own).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ninja -C build tests/kvm/test-initrd.cpio.gz >/dev/null
kernel=${AGENTVM_KERNEL:-}
if [[ -z $kernel ]]; then
	# The build decompresses the shared prebuilt kernel when it has one.
	if ninja -C build tests/kvm/vmlinux >/dev/null 2>&1; then
		kernel=build/tests/kvm/vmlinux
	else
		kernel=/usr/local/share/agentvm/vmlinux
	fi
fi
exec tests/vmhost/vmhost exec -- build/tools/agentvm-exec --console-only --kernel "$kernel" \
	--initrd build/tests/kvm/test-initrd.cpio.gz --vcpus 2 --memory 256 "$@"
