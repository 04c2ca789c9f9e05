#!/usr/bin/python3
"""Guest disk throughput: libagentvm's virtio-blk against QEMU microvm's, on the same image.

Each VMM boots the test kernel and initramfs with one raw image as the guest's /dev/vda; the
initramfs's /init (agentvm.test=disk-throughput) runs busybox dd with O_DIRECT, so that no byte
stays in the guest's page cache:
  - write-1M: 256 MiB of zeros to /dev/vda, 1 MiB requests;
  - read-1M:  the same 256 MiB back, 1 MiB requests;
  - read-4k:  the first 32 MiB in 4 KiB requests, where per-request cost dominates.
dd runs one request at a time, so these are latency-bound sequential rates: what a guest that
copies a file sees. The guest times each run with its own clock (/proc/uptime, 10 ms steps: runs
take seconds in the test host) and prints it; this script parses those lines. The image lives in a tmpfs (the test host's /tmp, or $TMPDIR), so the
host side costs memory copies and no device time: the rows compare the VMMs' I/O paths.

QEMU runs twice, with its thread-pool back end (aio=threads) and with io_uring (aio=io_uring),
both with its default cache=writeback, which like libagentvm's I/O thread goes through the host's
page cache. The two QEMU rows show what io_uring buys over worker threads on this workload.
"""
import argparse
import os
import re
import signal
import sys
import tempfile

from benchlib import (BenchError, add_common_args, agentvm_argv, check_common_args, check_inputs,
                      command_lines, context_lines, machine_context, measure, publish, qemu_argv,
                      run_vmm, table)

TEST = "disk-throughput"
IMAGE_MIB = 256
RUNS = ("write-1M", "read-1M", "read-4k")
# One line per dd run from tests/kvm/initrd-init.sh; start and end are the guest's /proc/uptime.
DD_LINE = re.compile(rb"AGENTVM-DD (\S+) bytes=(\d+) start=([0-9.]+) end=([0-9.]+) status=(\d+)")


def parse_args():
    p = argparse.ArgumentParser(
        description="Guest sequential disk throughput (dd, O_DIRECT): libagentvm against QEMU "
                    "microvm with aio=threads and aio=io_uring.", allow_abbrev=False)
    add_common_args(p, runs=3)
    args = p.parse_args()
    check_common_args(p, args)
    return args


def vmm_commands(args, image):
    cmds = {"agentvm": agentvm_argv(args, TEST, ["--disk", image])}
    if not args.skip_qemu:
        for aio in ("threads", "io_uring"):
            cmds[f"qemu-{aio}"] = qemu_argv(args, TEST, [
                "-drive", f"file={image},format=raw,if=none,id=vda,aio={aio}",
                "-device", "virtio-blk-device,drive=vda"])
    return cmds


def dd_once(argv, timeout):
    r, console = run_vmm(argv, timeout)
    seen = {}
    for name, nbytes, start, end, status in DD_LINE.findall(console):
        if status == b"0":
            seen[name.decode()] = (int(nbytes), float(end) - float(start))
    missing = [n for n in RUNS if n not in seen]
    if missing:
        lines = [line for line in console.decode("utf-8", "replace").splitlines()
                 if "AGENTVM-DD" in line]
        raise BenchError(f"no good dd result for {', '.join(missing)}; the guest said:\n" +
                         ("\n".join("    | " + line for line in lines) or "    | (nothing)"))
    for name, (nbytes, seconds) in seen.items():
        r[f"{name}_mib_s"] = round(nbytes / (1 << 20) / seconds, 2) if seconds > 0 else None
    return r


METRICS = [(f"{n}_mib_s", f"{n} (MiB/s)", 1, "{:.1f}") for n in RUNS] + [
    ("maxrss_kib", "VMM peak RSS (MiB)", 1 / 1024, "{:.1f}"),
]


def describe(r):
    return "  ".join(f"{n} {r[f'{n}_mib_s']:7.1f} MiB/s" for n in RUNS)


def report(ctx, args, cmds, results):
    lines = ["disk-throughput: guest dd with O_DIRECT on /dev/vda, a raw "
             f"{IMAGE_MIB} MiB image on the host's {ctx['image_dir_fs']}",
             f"  {ctx['date']}; {args.runs} measured boots per VMM, one after another, after "
             f"{args.warmup} warm-up boot(s) not counted"]
    lines += context_lines(ctx, args)
    rows, summaries = table(results, METRICS)
    lines += [""] + rows + ["", "(above 1 in a MiB/s row: agentvm is faster)", ""]
    lines += command_lines(cmds)
    return "\n".join(lines), summaries


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="agentvm-disk-bench.") as scratch:
        image = os.path.join(scratch, "disk.img")
        # Allocated up front: otherwise the first VMM's writes would also pay for the file
        # system's allocation and every later one would overwrite allocated blocks.
        with open(image, "wb") as f:
            os.posix_fallocate(f.fileno(), 0, IMAGE_MIB << 20)
        cmds = vmm_commands(args, image)
        try:
            check_inputs(args, cmds)
            ctx = machine_context(args)
            ctx["image_dir_fs"] = fs_type(scratch)
            results = measure("disk-throughput", cmds, args, dd_once, describe)
        except BenchError as e:
            print(f"disk-throughput: FAILED: {e}", file=sys.stderr)
            return 1
    text, summaries = report(ctx, args, cmds, results)
    publish("disk-throughput", args, ctx, cmds, text, results, summaries, image_mib=IMAGE_MIB)
    return 0


def fs_type(path):
    """The file system holding path, from /proc/mounts (the longest mount point above it)."""
    best, kind = "", "unknown"
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        for line in f:
            _, mnt, fstype = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, kind = mnt, fstype
    return kind


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
