#!/usr/bin/python3
"""Boot-to-init benchmark: libagentvm (through agentvm-exec) against QEMU's microvm machine.

Each VMM boots the same kernel and initramfs, with the same memory, vCPU count and kernel command
line, N times one after another. For every boot we measure, from the moment the VMM process is
spawned:
  - the wall time until the initramfs's /init prints AGENTVM-INIT-MARKER on the serial console
    (which the VMM copies to its stdout);
  - the wall time until the VMM process has exited (the init reboots the guest; both VMMs exit on
    a guest reboot);
  - the VMM's peak resident set size (ru_maxrss from wait4), guest memory it touched included;
  - the guest kernel's own clock at "reboot: Restarting system" (printk time), which on hardware
    tells the time spent inside the guest kernel apart from the VMM's start-up, firmware and
    teardown (in the nested test host the guest's clock runs slower than wall time: compare it
    between VMMs only).

Standard library only; run it with /usr/bin/python3 where /dev/kvm runs guests (bench/run.sh
takes care of that, going through tests/vmhost when this machine's /dev/kvm cannot).
"""
import argparse
import re
import signal
import sys

from benchlib import (BenchError, add_common_args, agentvm_argv, check_common_args, check_inputs,
                      command_lines, context_lines, machine_context, measure, publish, qemu_argv,
                      run_vmm, table)

# The kernel's last console line before the reboot; its printk time is the guest's own clock.
REBOOT_LINE = re.compile(rb"\[\s*(\d+\.\d+)\] reboot: Restarting system")
# What the initramfs's /init does after printing the marker: `reboot -f`, which ends both VMMs.
TEST = "reboot"


def parse_args():
    p = argparse.ArgumentParser(
        description="Boot-to-init time and peak RSS: libagentvm (agentvm-exec) against QEMU microvm.",
        allow_abbrev=False)
    add_common_args(p, runs=5)
    args = p.parse_args()
    check_common_args(p, args)
    return args


def vmm_commands(args):
    cmds = {"agentvm": agentvm_argv(args, TEST)}
    if not args.skip_qemu:
        cmds["qemu"] = qemu_argv(args, TEST)
    return cmds


def boot_once(argv, timeout):
    """One boot: returns a dict of measurements, or raises BenchError saying what went wrong."""
    r, console = run_vmm(argv, timeout)
    m = REBOOT_LINE.search(console)
    r["guest_reboot_s"] = float(m.group(1)) if m else None
    return r


METRICS = [
    # key, label, scale from the raw value, format
    ("marker_s", "spawn -> init marker (s)", 1, "{:.3f}"),
    ("exit_s", "spawn -> VMM exit (s)", 1, "{:.3f}"),
    ("guest_reboot_s", "guest clock at reboot (s)", 1, "{:.3f}"),
    ("maxrss_kib", "VMM peak RSS (MiB)", 1 / 1024, "{:.1f}"),
]


def report(ctx, args, cmds, results):
    lines = ["boot-to-init: spawn the VMM, wait for the guest /init's marker line, wait for "
             "the VMM to exit",
             f"  {ctx['date']}; {args.runs} measured boots per VMM, one after another, after "
             f"{args.warmup} warm-up boot(s) not counted"]
    lines += context_lines(ctx, args)
    rows, summaries = table(results, METRICS)
    lines += [""] + rows + ["", "(below 1: agentvm is faster or smaller)", ""]
    lines.append("'guest clock at reboot' is the guest kernel's printk time on its last line. On "
                 "hardware, 'spawn -> VMM exit'")
    lines.append("minus it is time outside the guest kernel: VMM start-up, firmware, loading, "
                 "teardown. In the nested")
    lines.append("test host the guest's kvmclock runs slower than wall time (~0.7x measured), so "
                 "compare that row between VMMs only.")
    lines += [""] + command_lines(cmds)
    return "\n".join(lines), summaries


def describe(r):
    guest = f"{r['guest_reboot_s']:.3f}" if r["guest_reboot_s"] is not None else "?"
    return (f"marker {r['marker_s']:7.3f} s  exit {r['exit_s']:7.3f} s  guest clock {guest} s  "
            f"peak RSS {r['maxrss_kib'] / 1024:6.1f} MiB")


def main():
    args = parse_args()
    cmds = vmm_commands(args)
    try:
        check_inputs(args, cmds)
        ctx = machine_context(args)
        results = measure("boot-to-init", cmds, args, boot_once, describe)
    except BenchError as e:
        print(f"boot-to-init: FAILED: {e}", file=sys.stderr)
        return 1
    text, summaries = report(ctx, args, cmds, results)
    publish("boot-to-init", args, ctx, cmds, text, results, summaries)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
