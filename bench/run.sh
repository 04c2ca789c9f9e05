#!/bin/bash
# bench/run.sh [BENCHMARK] [ARGS...]: build if needed, then run bench/BENCHMARK.py (suite, the
# default, boot-to-init, disk-throughput, exec or snapshot; ARGS pass through, see --help). It runs on /dev/kvm directly where that can run guests, otherwise inside
# the nested test host (tests/vmhost), where absolute times are 10-50x hardware: compare ratios.
# The caller's working directory is kept, so relative paths in the arguments work.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=suite
if (($#)) && [[ $1 != -* ]]; then
	name=$1
	shift
fi
bench=$root/bench/$name.py
if [[ $name == */* || $name == benchlib || ! -f $bench ]]; then
	echo "bench/run.sh: no benchmark '$name' (there are suite, boot-to-init, disk-throughput, exec and snapshot)" >&2
	exit 2
fi

for a in "$@"; do
	[[ $a != -h && $a != --help ]] || exec /usr/bin/python3 "$bench" --help
done

# scripts/build.sh: `meson setup build` when there is no build dir, then `ninja -C build`.
"$root/scripts/build.sh"
# The guest fixtures are not default targets. The kernel target exists only when the build found
# the shared prebuilt kernel; without it boot-to-init.py falls back like scripts/try.sh does.
ninja -C "$root/build" tests/kvm/test-initrd.cpio.gz guest/agentvm-initrd.cpio.gz >/dev/null
ninja -C "$root/build" tests/kvm/vmlinux >/dev/null 2>&1 || true

# shellcheck source=/dev/null
outer="$(nproc)-core $(uname -m) $(. /etc/os-release && echo "$PRETTY_NAME"), host kernel $(uname -r)"

if "$root/tests/vmhost/vmhost" kvm-ok; then
	exec /usr/bin/python3 "$bench" --context "directly on /dev/kvm of this machine ($outer)" "$@"
fi

# Files written inside the test host are thrown away with it, so a --json FILE is printed to
# stdout between two marker lines instead and written here.
args=() json=
while (($#)); do
	case $1 in
	--json) (($# >= 2)) || { echo "bench/run.sh: --json needs a file name" >&2; exit 2; }
		json=$2; shift 2; continue ;;
	--json=*) json=${1#--json=} ;;
	*) args+=("$1") ;;
	esac
	shift
done
if [[ -n $json ]]; then
	args+=(--json -)
	# Fail now rather than after the run if the file cannot be written.
	if [[ $json != - && ! -w $json ]] && [[ -e $json || ! -w $(dirname -- "$json") ]]; then
		echo "bench/run.sh: cannot write --json file $json" >&2
		exit 2
	fi
fi

context="inside the test host (tests/vmhost: an L1 Linux under QEMU TCG with nested SVM, on $outer)"
echo "bench/run.sh: this machine's /dev/kvm cannot run guests; running inside tests/vmhost" >&2
set +e
# Both VMMs ask for transparent huge pages on their RAM; the test host grants them to QEMU's
# anonymous memory by default ("always") and to libagentvm's memfd once shmem_enabled says "advise".
# Snapshots (both VMMs') go to L1's /tmp, a tmpfs mounted huge=within_size as doc/api.md advises
# for raw snapshots: restores then map the guest's untouched code 2 MiB at a time. And L1 expedites
# RCU grace periods, as doc/api.md advises for Linux 6.1 hosts: KVM_CREATE_VM waits for one there
# (16-24 ms of every VM's start in L1, 2-3 ms expedited), whichever VMM creates the VM.
# shellcheck disable=SC2016 # expanded in L1
"$root/tests/vmhost/vmhost" run --timeout 3600 -- /bin/sh -c \
	'echo advise >/sys/kernel/mm/transparent_hugepage/shmem_enabled &&
	echo 1 >/sys/kernel/rcu_expedited &&
	mount -t tmpfs -o huge=within_size,mode=1777 bench-tmp /tmp && exec "$@"' sh \
	/usr/bin/python3 "$bench" --in-test-host --context "$context" "${args[@]}" |
	if [[ -n $json && $json != - ]]; then
		# Print everything but the JSON block; write the block to $json.
		awk -v out="$json" -v name="$name" '
			$0 == "----- BEGIN " name " JSON -----" { injson = 1; next }
			$0 == "----- END " name " JSON -----" { injson = 0; next }
			injson { print > out; next }
			{ print; fflush() }'
	else
		cat
	fi
statuses=("${PIPESTATUS[@]}")
set -e
((statuses[0] == 0)) || exit "${statuses[0]}"
exit "${statuses[1]}"
