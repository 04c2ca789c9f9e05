#!/bin/bash
# Build, then boot the default guest and run a command in it (default: one
# that says hello from the guest kernel); `scripts/try.sh -- CMD ARGS...` runs
# another. Runs on /dev/kvm where it can run guests, inside the nested test
# host (tests/vmhost) elsewhere.
#
# The guest kernel is $AGENTVM_KERNEL, else the one the build found (the
# shared prebuilt kernel or /usr/local/share/agentvm/vmlinux, Image on arm64;
# see guest/kernel/README.md to build and install your own). The initramfs is
# the guest agent's, built by meson (guest/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
ninja -C build guest/agentvm-initrd.cpio.gz >/dev/null
# The kernel's file name on this architecture (tools/meson.build's kernel_file).
[[ $(uname -m) == aarch64 ]] && kernel_file=Image || kernel_file=vmlinux
kernel=${AGENTVM_KERNEL:-}
if [[ -z $kernel ]]; then
	# The build decompresses the shared prebuilt kernel when it has one.
	if ninja -C build "tests/kvm/$kernel_file" >/dev/null 2>&1; then
		kernel=build/tests/kvm/$kernel_file
	else
		kernel=/usr/local/share/agentvm/$kernel_file
	fi
fi
[[ ${1:-} == -- ]] && shift
if [[ $# -eq 0 ]]; then
	set -- sh -c 'echo "hello from $(uname -sr) in a microVM with $(nproc) vCPUs"'
fi
exec tests/vmhost/vmhost exec -- build/tools/agentvm-exec --kernel "$kernel" \
	--initrd build/guest/agentvm-initrd.cpio.gz --vcpus 2 --memory 256 -- "$@"
