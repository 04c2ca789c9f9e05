#!/usr/bin/python3
"""Snapshot benchmark: a fresh sandbox from a snapshot against a cold boot, in one run.

1. Spawn to first exec output: `agentvm-exec -- echo hi` booting the agent's initramfs (cold),
   `agentvm-exec --restore raw.snap -- echo hi` and the same from the compressed snapshot; each
   is timed from the spawn to the first byte of "hi" on its stdout. QEMU microvm's spawn to its
   init's first line is the peer's cold row (it has no exec).
2. bench/snapshot-probe, in one process: the time and size of snapshotting a 256 MiB guest (raw,
   a sparse file, and zlib-compressed), and the process's PSS while 8 (--clones) VMs restored
   from the raw snapshot are alive, then while as many cold-booted ones are.

Standard library only; bench/run.sh snapshot runs it (in tests/vmhost where /dev/kvm cannot run
guests).
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile

from benchlib import (MARKER, REPO, BenchError, MEMORY_MIB, add_common_args, check_common_args,
                      check_inputs, command_lines, context_lines, machine_context, measure,
                      publish, qemu_argv, run_vmm, table)

FIRST_OUTPUT = b"hi"


def parse_args():
    p = argparse.ArgumentParser(
        description="Restore to first exec output (raw and compressed snapshots) against a cold "
                    "boot and QEMU microvm; snapshot time and size; PSS of clones against cold "
                    "boots.", allow_abbrev=False)
    add_common_args(p, runs=5)
    p.add_argument("--agent-initrd", default=os.path.join(REPO, "build/guest/agentvm-initrd.cpio.gz"),
                   help="the guest agent's initramfs (default build/guest/agentvm-initrd.cpio.gz)")
    p.add_argument("--probe", default=os.path.join(REPO, "build/bench/snapshot-probe"),
                   help="the in-process driver (default build/bench/snapshot-probe)")
    p.add_argument("--clones", type=int, default=8, help="VMs alive at once for PSS (default 8)")
    args = p.parse_args()
    check_common_args(p, args)
    if not 1 <= args.clones <= 64:
        p.error("--clones must be 1 to 64")
    return args


def probe(args, workdir):
    argv = [args.probe, os.path.abspath(args.kernel), os.path.abspath(args.agent_initrd), workdir,
            str(args.clones)]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=args.timeout * (2 * args.clones + 2))
    except subprocess.TimeoutExpired:
        raise BenchError(f"snapshot-probe did not finish in time: {' '.join(argv)}") from None
    if p.returncode != 0:
        raise BenchError(f"snapshot-probe failed ({p.returncode}): "
                         f"{p.stderr.decode(errors='replace')}")
    figures = dict(line.split() for line in p.stdout.decode().splitlines() if line)
    print("snapshot: probe done", file=sys.stderr, flush=True)
    return {k: float(v) for k, v in figures.items()}


def vmm_commands(args, workdir):
    exe = args.agentvm_exec
    cmds = {"agentvm": [exe, "--kernel", os.path.abspath(args.kernel),
                        "--initrd", os.path.abspath(args.agent_initrd), "--memory", str(MEMORY_MIB),
                        "--", "echo", "hi"],
            "restore": [exe, "--restore", os.path.join(workdir, "raw.snap"), "--", "echo", "hi"],
            "restore-z": [exe, "--restore", os.path.join(workdir, "compressed.snap"), "--",
                          "echo", "hi"]}
    if not args.skip_qemu:
        cmds["qemu"] = qemu_argv(args, "reboot")
    return cmds


def first_output_once(argv, timeout):
    return run_vmm(argv, timeout, FIRST_OUTPUT if argv[-2:] == ["echo", "hi"] else MARKER)[0]


METRICS = [
    ("marker_s", "spawn -> first output (s)", 1, "{:.3f}"),
    ("maxrss_kib", "VMM peak RSS (MiB)", 1 / 1024, "{:.1f}"),
]


def describe(r):
    return f"first output {r['marker_s']:7.3f} s  peak RSS {r['maxrss_kib'] / 1024:6.1f} MiB"


def probe_lines(args, f):
    mib = 1 / (1 << 20)
    return ["", f"snapshot of a {MEMORY_MIB} MiB guest that booted and ran `echo hi` "
                "(bench/snapshot-probe, one process)",
            "  {:<22}{:>12}{:>14}{:>16}".format("", "time (ms)", "file (MiB)", "on disk (MiB)"),
            "  {:<22}{:>12.1f}{:>14.1f}{:>16.1f}".format(
                "raw (sparse)", f["snapshot_raw_us"] / 1e3, f["snapshot_raw_size"] * mib,
                f["snapshot_raw_allocated"] * mib),
            "  {:<22}{:>12.1f}{:>14.1f}{:>16.1f}".format(
                "zlib-compressed", f["snapshot_compressed_us"] / 1e3,
                f["snapshot_compressed_size"] * mib, f["snapshot_compressed_allocated"] * mib),
            "", f"host memory (PSS of the process) with {args.clones} VMs alive, each having run "
                "`echo hi`",
            f"  {args.clones} clones of the raw snapshot  {f['clones_pss_kib'] / 1024:8.1f} MiB",
            f"  {args.clones} cold boots               {f['cold_pss_kib'] / 1024:8.1f} MiB",
            f"  clones / cold boots            {f['clones_pss_kib'] / f['cold_pss_kib']:8.2f}",
            f"  one template VM                {f['template_pss_kib'] / 1024:8.1f} MiB"]


def ratio_lines(summaries):
    cold = summaries["agentvm"]["marker_s"]["median"]
    lines = ["", "spawn -> first output, ratio of the medians to agentvm's cold boot"]
    for vmm in summaries:
        if vmm != "agentvm":
            lines.append(f"  {vmm:<12}{summaries[vmm]['marker_s']['median'] / cold:>7.2f}")
    return lines


def report(ctx, args, cmds, results, figures):
    lines = ["snapshot: a sandbox from a snapshot against a cold boot",
             f"  {ctx['date']}; {args.runs} measured runs per command, one after another, after "
             f"{args.warmup} warm-up run(s) not counted"]
    lines += context_lines(ctx, args)
    lines.append("  agentvm: cold boot of the agent's initramfs then `echo hi`; restore, restore-z: "
                 "agentvm-exec --restore of the raw / compressed snapshot, then `echo hi`; qemu: "
                 "cold boot of the test initramfs to its init's first line")
    rows, summaries = table(results, METRICS)
    lines += [""] + rows + ratio_lines(summaries)
    lines += probe_lines(args, figures)
    lines += [""] + command_lines(cmds)
    return "\n".join(lines), summaries


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="agentvm-bench-") as workdir:
        cmds = vmm_commands(args, workdir)
        try:
            check_inputs(args, {k: v for k, v in cmds.items() if not k.startswith("restore")})
            for what, path in (("agent initramfs", args.agent_initrd), ("snapshot-probe", args.probe)):
                if not os.path.isfile(path):
                    raise BenchError(f"{what} {path} does not exist (run `ninja -C build`)")
            ctx = machine_context(args)
            figures = probe(args, workdir)
            results = measure("snapshot", cmds, args, first_output_once, describe)
        except BenchError as e:
            print(f"snapshot: FAILED: {e}", file=sys.stderr)
            return 1
        text, summaries = report(ctx, args, cmds, results, figures)
        publish("snapshot", args, ctx, cmds, text, results, summaries, probe=figures,
                clones=args.clones)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
