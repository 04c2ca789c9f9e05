#!/bin/bash
# agentvm-exec -- CMD end to end on the guest agent's initramfs (and its uncompressed twin): exit
# statuses, stdout and stderr apart, 20 MiB of binary output byte-exact,
# MiBs of stdin through cat, env and cwd, 126/127, 124 on timeout, 128+N
# for a signal, --copy-in/--copy-out, --snapshot-out/--restore across
# processes, runner errors (125), and nothing of the VM left behind.
set -u
exe=${AGENTVM_EXEC:?} kernel=${AGENTVM_TEST_KERNEL:?} initrd=${AGENTVM_TEST_AGENT_INITRD:?}
scratch=$(mktemp -d)
out=$scratch/out err=$scratch/err
trap 'rm -rf "$scratch"' EXIT
source "$(dirname "$0")/check-lib.sh"
export AGENTVM_KERNEL=$kernel AGENTVM_INITRD=$initrd
run=("$exe" --memory 256)

check "true exits 0" 0 "" "" "${run[@]}" -- true
# The uncompressed twin of the default initramfs is a plain newc archive and boots the same agent.
uncompressed=${AGENTVM_TEST_AGENT_INITRD_UNCOMPRESSED:?}
if [[ $(head -c 6 "$uncompressed") == 070701 ]] && gzip -dc "$initrd" | cmp -s "$uncompressed" -; then
	pass "the uncompressed initramfs is the default one, unpacked"
else
	echo "FAIL $uncompressed is not $initrd uncompressed"; failed=$((failed + 1))
fi
check "the uncompressed initramfs boots the agent" 0 "^hello$" "" \
	"${run[@]}" --initrd "$uncompressed" -- echo hello
# The guest's wall clock is the host's (x86_64: kvmclock; arm64: the PL031 RTC), not 1970.
# A minute of slack: the test host takes seconds to boot a guest.
guest_now=$("${run[@]}" -- date +%s) host_now=$(date +%s)
if [[ $guest_now =~ ^[0-9]+$ ]] && ((host_now - guest_now <= 60 && guest_now - host_now <= 60)); then
	pass "the guest's clock is the host's"
else
	echo "FAIL the guest's clock is the host's: guest says '$guest_now', host $host_now"
	failed=$((failed + 1))
fi
check "exit 1" 1 "" "" "${run[@]}" -- sh -c 'exit 1'
check "exit 42" 42 "" "" "${run[@]}" -- sh -c 'exit 42'
check "stdout and stderr apart" 0 "^to-out$" "^to-err$" \
	"${run[@]}" -- sh -c 'echo to-out; echo to-err >&2'
if grep -q to-err "$out" || grep -q to-out "$err"; then
	echo "FAIL streams mixed"; failed=$((failed + 1))
fi

# 20 MiB of random bytes: the guest prints their checksum on stderr, the bytes on stdout.
timeout -k 10 300 "${run[@]}" -- sh -c 'head -c 20971520 /dev/urandom >/tmp/big && sha256sum </tmp/big >&2 && cat /tmp/big' \
	>"$scratch/big" 2>"$err"
status=$?
guest_sum=$(cut -d' ' -f1 "$err") host_sum=$(sha256sum <"$scratch/big" | cut -d' ' -f1)
if [[ $status -eq 0 && $(stat -c %s "$scratch/big") -eq 20971520 && $guest_sum == "$host_sum" ]]; then
	pass "20 MiB of binary output byte-exact"
else
	echo "FAIL 20 MiB output: status $status, $(stat -c %s "$scratch/big") bytes, guest $guest_sum host $host_sum"
	head -c 500 "$err"
	failed=$((failed + 1))
fi

head -c 4194304 /dev/urandom >"$scratch/in"
if timeout -k 10 300 "${run[@]}" -- cat <"$scratch/in" >"$scratch/echoed" 2>"$err" && cmp -s "$scratch/in" "$scratch/echoed"; then
	pass "4 MiB of stdin round-trips through cat"
else
	echo "FAIL stdin round trip"; head -c 500 "$err"; failed=$((failed + 1))
fi
check "stdin ends: wc counts it" 0 "^5$" "" sh -c "printf 'hello' | ${run[*]} -- wc -c"
check "closed stdin reads as empty" 0 "^0$" "" sh -c "${run[*]} -- wc -c <&-"

check "env and cwd honoured" 0 "^bar /tmp /root$" "" \
	"${run[@]}" --env FOO=bar --cwd /tmp -- sh -c 'echo "$FOO $(pwd) $HOME"'
check "--env overrides a default" 0 "^/x$" "" "${run[@]}" --env HOME=/x -- sh -c 'echo $HOME'
check "command not found exits 127" 127 "" "no-such-command: command not found" \
	"${run[@]}" -- no-such-command
check "not executable exits 126" 126 "" "/etc/passwd" "${run[@]}" -- /etc/passwd
check "missing cwd is a runner error" 125 "" "/no/such/dir" "${run[@]}" --cwd /no/such/dir -- true
check "killed by a signal exits 128+N" 143 "" "" "${run[@]}" -- sh -c 'kill -TERM $$'

start=$SECONDS
check "timeout kills the command, exits 124" 124 "^started$" "timed out after 2 s" \
	"${run[@]}" --timeout 2 -- sh -c 'echo started; sleep 1000'
if ((SECONDS - start > 60)); then
	echo "FAIL timeout took $((SECONDS - start)) s"; failed=$((failed + 1))
fi

printf 'payload\n' >"$scratch/copy"
chmod 0751 "$scratch/copy"
check "copy in, run, copy out" 0 "^751 payload$" "" \
	"${run[@]}" --copy-in "$scratch/copy:/tmp/in" --copy-out "/tmp/result:$scratch/result" \
	-- sh -c 'echo "$(stat -c %a /tmp/in) $(cat /tmp/in)"; tr a-z A-Z </tmp/in >/tmp/result'
if [[ $(cat "$scratch/result" 2>/dev/null) == PAYLOAD ]]; then
	pass "copied-out file holds the guest's result"
else
	echo "FAIL copy-out content: '$(cat "$scratch/result" 2>&1)'"; failed=$((failed + 1))
fi
check "copy-out of a missing file exits 125" 125 "" "/tmp/missing" \
	"${run[@]}" --copy-out "/tmp/missing:$scratch/x" -- true
check "copy-in of a missing host file exits 125" 125 "" "$scratch/none" \
	"${run[@]}" --copy-in "$scratch/none:/tmp/x" -- true
check "no command exits 125" 125 "" "no command given" "${run[@]}"
check "bad --env exits 125" 125 "" "NAME=VALUE" "${run[@]}" --env novalue -- true
check "initrd without an agent times out clearly" 125 "" "agent" \
	env AGENTVM_INITRD="${AGENTVM_TEST_INITRD:?}" "$exe" --boot-timeout 15 --cmdline agentvm.test=hang -- true
check "a guest that ends before its agent answers says how it ended" 125 "" "the VM ended: the guest rebooted" \
	env AGENTVM_INITRD="${AGENTVM_TEST_INITRD:?}" "$exe" --cmdline agentvm.test=reboot -- true

# Snapshot in one process, restore in others: state survives, each restore starts from the same point.
snap=$scratch/vm.snap
check "--snapshot-out saves the VM after the command" 0 "^saved$" "" \
	"${run[@]}" --snapshot-out "$snap" -- sh -c 'echo kept >/tmp/state; echo saved'
check "--restore resumes it in another process" 0 "^kept$" "" \
	"$exe" --restore "$snap" -- sh -c 'cat /tmp/state; echo changed >/tmp/state'
check "a second restore starts from the snapshot again" 0 "^kept$" "" \
	"$exe" --restore "$snap" -- cat /tmp/state
check "--snapshot-compress writes a compressed snapshot that restores" 0 "^kept$" "" \
	"$exe" --restore "$snap" --snapshot-out "$snap.z" --snapshot-compress -- cat /tmp/state
check "... and restores" 0 "^kept$" "" "$exe" --restore "$snap.z" -- cat /tmp/state
if [[ -z $(find "$scratch" -name 'vm.snap*.??????') ]]; then
	pass "no temporary snapshot file left"
else
	echo "FAIL temporary snapshot files left: $(ls "$scratch")"; failed=$((failed + 1))
fi
check "--restore of a damaged file exits 125" 125 "" "not an agentvm snapshot" \
	"$exe" --restore "$scratch/copy" -- true
check "--restore with --memory exits 125" 125 "" "come from the snapshot" \
	"$exe" --restore "$snap" --memory 512 -- true

# A read-only root disk under a guest tmpfs overlay (agentvm.overlay=1): clones of one
# snapshot each write their own layer, and the image shared by all of them never changes.
rootfs=$(dirname "$0")/../../guest/rootfs
printf '#!/bin/sh\n' >"$scratch/unused-init" # the agent stays PID 1; the disk needs no init
if "$rootfs/busybox-tree.sh" "$scratch/tree" "$scratch/unused-init" "${AGENTVM_TEST_BUSYBOX:?}" >/dev/null &&
	echo "from the disk" >"$scratch/tree/hello.txt" &&
	"$rootfs/mkrootfs.sh" "$scratch/root.img" 16 "$scratch/tree" >/dev/null; then
	image_sum=$(sha256sum <"$scratch/root.img")
	check "overlay root: the disk's files, writable in the guest" 0 "^from the disk$" "" \
		"${run[@]}" --disk "$scratch/root.img,ro" --cmdline "agentvm.root=/dev/vda agentvm.overlay=1" \
		--snapshot-out "$scratch/overlay.snap" -- sh -c 'echo template >/state; cat /hello.txt'
	check "overlay root: a clone writes its own layer" 0 "^template clone-a$" "" \
		"$exe" --restore "$scratch/overlay.snap" -- sh -c 'echo clone-a >>/state; echo $(cat /state)'
	check "overlay root: another clone sees only the snapshot's" 0 "^template$" "" \
		"$exe" --restore "$scratch/overlay.snap" -- sh -c 'cat /state' # no applet links on the disk
	if [[ $(sha256sum <"$scratch/root.img") == "$image_sum" ]]; then
		pass "overlay root: the shared image is unchanged"
	else
		echo "FAIL overlay root: the image changed"; failed=$((failed + 1))
	fi
else
	echo "FAIL overlay root: cannot build the root image"; failed=$((failed + 1))
fi

# Nothing left behind: no process, no temporary file, no socket of ours.
leftovers=$(pgrep -f "$exe" || true)
if [[ -z $leftovers ]]; then
	pass "no agentvm-exec process left"
else
	echo "FAIL processes left: $leftovers"; failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
