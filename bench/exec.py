#!/usr/bin/python3
"""Exec benchmark: how soon a command's output arrives, and what one exec costs.

1. Spawn to first output: the time from spawning `agentvm-exec -- echo hi` (boot the agent's
   initramfs, wait for the agent, run echo) to the first byte of "hi" on its stdout, and to its
   exit. The peer is QEMU microvm booting the same kernel with the test initramfs, whose /init
   prints its marker line first thing: the earliest output a guest's userspace can give there,
   without any agent or exec. (QEMU has no exec of its own, and no vsock without vhost, which
   this machine lacks.)
2. Exec round trip: bench/exec-rtt boots one VM through the library and runs `true` many times,
   one after another; each round trip is the whole agentvm_vm_exec() call (connect, handshake,
   EXEC, fork and execve in the guest, EXITED) on the host's clock. Reported as percentiles.

Standard library only; run it with /usr/bin/python3 where /dev/kvm runs guests (bench/run.sh exec
does, through tests/vmhost when this machine's /dev/kvm cannot).
"""
import argparse
import os
import signal
import statistics
import subprocess
import sys

from benchlib import (MARKER, REPO, BenchError, MEMORY_MIB, VCPUS, add_common_args, check_common_args,
                      check_inputs, command_lines, context_lines, machine_context, measure,
                      percentile, publish, qemu_argv, run_vmm, table)

FIRST_OUTPUT = b"hi"


def parse_args():
    p = argparse.ArgumentParser(
        description="Spawn to first command output (agentvm-exec -- echo hi, against QEMU "
                    "microvm's spawn to init's first line) and exec round-trip latency.",
        allow_abbrev=False)
    add_common_args(p, runs=5)
    p.add_argument("--agent-initrd", default=os.path.join(REPO, "build/guest/agentvm-initrd.cpio.gz"),
                   help="the guest agent's initramfs (default build/guest/agentvm-initrd.cpio.gz)")
    p.add_argument("--exec-rtt", default=os.path.join(REPO, "build/bench/exec-rtt"),
                   help="the round-trip driver (default build/bench/exec-rtt)")
    p.add_argument("--execs", type=int, default=1000,
                   help="round trips of `true` to measure (default 1000)")
    args = p.parse_args()
    check_common_args(p, args)
    if args.execs < 10:
        p.error("--execs must be at least 10")
    return args


def vmm_commands(args):
    cmds = {"agentvm": [args.agentvm_exec, "--kernel", os.path.abspath(args.kernel),
                        "--initrd", os.path.abspath(args.agent_initrd),
                        "--memory", str(MEMORY_MIB), "--vcpus", str(VCPUS), "--", "echo", "hi"]}
    if not args.skip_qemu:
        cmds["qemu"] = qemu_argv(args, "reboot")
    return cmds


def first_output_once(argv, timeout):
    # agentvm's command ends in `echo hi`; QEMU's console starts with the init's marker.
    return run_vmm(argv, timeout, FIRST_OUTPUT if argv[-2:] == ["echo", "hi"] else MARKER)[0]


METRICS = [
    ("marker_s", "spawn -> first output (s)", 1, "{:.3f}"),
    ("exit_s", "spawn -> VMM exit (s)", 1, "{:.3f}"),
    ("maxrss_kib", "VMM peak RSS (MiB)", 1 / 1024, "{:.1f}"),
]


def round_trips(args):
    """Runs exec-rtt once; returns (boot seconds, [host round trip us], [guest wall us])."""
    argv = [args.exec_rtt, os.path.abspath(args.kernel), os.path.abspath(args.agent_initrd),
            str(args.execs)]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=args.timeout + args.execs)
    except subprocess.TimeoutExpired:
        raise BenchError(f"exec-rtt did not finish in time: {' '.join(argv)}") from None
    if p.returncode != 0:
        raise BenchError(f"exec-rtt failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    lines = p.stdout.decode().split("\n")
    boot_us = float(lines[0].split()[1])
    host, guest = [], []
    for line in lines[1:]:
        if line:
            h, g = line.split()
            host.append(float(h))
            guest.append(float(g))
    print(f"exec: {len(host)} round trips of true measured", file=sys.stderr, flush=True)
    return boot_us / 1e6, host, guest


def rtt_lines(boot_s, host, guest):
    hs, gs = sorted(host), sorted(guest)
    row = "  {:<34}" + "{:>9.0f}" * 5
    return ["", f"exec round trip of `true` on one running VM (agentvm_vm_exec(), {len(host)} in a "
                f"row; the VM booted in {boot_s:.2f} s)",
            "  {:<34}{:>9}{:>9}{:>9}{:>9}{:>9}".format("microseconds", "p50", "p90", "p99", "min",
                                                      "max"),
            row.format("host: whole call", percentile(hs, 50), percentile(hs, 90),
                       percentile(hs, 99), hs[0], hs[-1]),
            row.format("guest: fork+exec+wait of true", percentile(gs, 50), percentile(gs, 90),
                       percentile(gs, 99), gs[0], gs[-1]),
            f"  mean {statistics.mean(host):.0f} us on the host; no peer row: QEMU offers no exec."]


def report(ctx, args, cmds, results, rtt):
    lines = ["exec: spawn to the first output byte of a command, and exec round trips",
             f"  {ctx['date']}; {args.runs} measured runs per VMM, one after another, after "
             f"{args.warmup} warm-up run(s) not counted"]
    lines += context_lines(ctx, args)
    lines.append(f"  agentvm boots {os.path.basename(args.agent_initrd)} and runs `echo hi`; QEMU "
                 "boots the test initramfs, whose /init prints its marker first")
    rows, summaries = table(results, METRICS)
    lines += [""] + rows + ["", "(below 1: agentvm is faster or smaller; agentvm's figure includes "
                                "waiting for the agent and one exec, QEMU's does not)"]
    lines += rtt_lines(*rtt)
    lines += [""] + command_lines(cmds)
    return "\n".join(lines), summaries


def describe(r):
    return (f"first output {r['marker_s']:7.3f} s  exit {r['exit_s']:7.3f} s  "
            f"peak RSS {r['maxrss_kib'] / 1024:6.1f} MiB")


def main():
    args = parse_args()
    cmds = vmm_commands(args)
    try:
        check_inputs(args, cmds)
        for what, path in (("agent initramfs", args.agent_initrd), ("exec-rtt", args.exec_rtt)):
            if not os.path.isfile(path):
                raise BenchError(f"{what} {path} does not exist (run `ninja -C build`)")
        ctx = machine_context(args)
        results = measure("exec", cmds, args, first_output_once, describe)
        rtt = round_trips(args)
    except BenchError as e:
        print(f"exec: FAILED: {e}", file=sys.stderr)
        return 1
    text, summaries = report(ctx, args, cmds, results, rtt)
    summaries["rtt_us"] = {"host": {"p50": percentile(sorted(rtt[1]), 50),
                                    "p99": percentile(sorted(rtt[1]), 99)},
                           "guest": {"p50": percentile(sorted(rtt[2]), 50)}}
    publish("exec", args, ctx, cmds, text, results, summaries, execs=args.execs,
            rtt_host_us=rtt[1], rtt_guest_us=rtt[2])
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
