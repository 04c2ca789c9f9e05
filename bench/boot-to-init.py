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
  - the guest kernel's own clock at "reboot: Restarting system" (printk time), which tells the time
    spent inside the guest kernel apart from the VMM's start-up, firmware and teardown.

Standard library only; run it with /usr/bin/python3 where /dev/kvm runs guests (bench/run.sh
takes care of that, going through tests/vmhost when this machine's /dev/kvm cannot).
"""
import argparse
import hashlib
import json
import os
import platform
import re
import selectors
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MARKER = b"AGENTVM-INIT-MARKER"
# The kernel's last console line before the reboot; its printk time is the guest's own clock.
REBOOT_LINE = re.compile(rb"\[\s*(\d+\.\d+)\] reboot: Restarting system")
MEMORY_MIB = 256
VCPUS = 1
# What the initramfs's /init does after printing the marker: `reboot -f`, which ends both VMMs.
TEST_CMDLINE = "agentvm.test=reboot"
# libagentvm puts this in front of every guest command line (lib/arch/x86_64/machine.c); QEMU
# gets the very same words so that both guests boot the same way.
AGENTVM_BASE_CMDLINE = "console=ttyS0 8250.nr_uarts=1 acpi=off reboot=t panic=-1 quiet"
# The fewest devices the guest still boots with: no option ROMs (qboot loads the kernel itself),
# no ACPI tables (the kernel has acpi=off anyway), no PIT, PIC or RTC; COM1 for the console.
QEMU_MACHINE = "microvm,x-option-roms=off,isa-serial=on,rtc=off,pit=off,pic=off,acpi=off"
JSON_BEGIN = "----- BEGIN boot-to-init JSON -----"
JSON_END = "----- END boot-to-init JSON -----"


class BenchError(Exception):
    pass


def default_kernel():
    # The same choice as scripts/try.sh: $AGENTVM_KERNEL, the build's copy of the shared test
    # kernel, else the installed one.
    for path in (os.environ.get("AGENTVM_KERNEL"), os.path.join(REPO, "build/tests/kvm/vmlinux")):
        if path and os.path.exists(path):
            return path
    return "/usr/local/share/agentvm/vmlinux"


def parse_args():
    p = argparse.ArgumentParser(
        description="Boot-to-init time and peak RSS: libagentvm (agentvm-exec) against QEMU microvm.",
        allow_abbrev=False)
    p.add_argument("--runs", type=int, default=5, help="measured boots per VMM (default 5)")
    p.add_argument("--warmup", type=int, default=1,
                   help="boots per VMM before the measured ones, not counted; they load the VMM, "
                        "kernel and initramfs into the page cache (default 1)")
    p.add_argument("--kernel", default=default_kernel(),
                   help="guest kernel, vmlinux ELF (default $AGENTVM_KERNEL, build/tests/kvm/vmlinux, "
                        "else /usr/local/share/agentvm/vmlinux)")
    p.add_argument("--initrd", default=os.path.join(REPO, "build/tests/kvm/test-initrd.cpio.gz"),
                   help="initramfs whose /init prints AGENTVM-INIT-MARKER and reboots "
                        "(default build/tests/kvm/test-initrd.cpio.gz)")
    p.add_argument("--agentvm-exec", default=os.path.join(REPO, "build/tools/agentvm-exec"),
                   help="agentvm-exec binary (default build/tools/agentvm-exec)")
    p.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
                   help="qemu-system-x86_64 binary (default: from PATH)")
    p.add_argument("--skip-qemu", action="store_true", help="boot only agentvm-exec")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds one boot may take before the VMM is killed and the bench fails "
                        "(default 300)")
    p.add_argument("--json", metavar="FILE",
                   help="also write the raw results as JSON to FILE; '-' prints them to stdout "
                        "after the table, between marker lines (bench/run.sh uses that to carry "
                        "them out of the test host)")
    p.add_argument("--context", default="",
                   help="a line saying where this runs, printed with the results (bench/run.sh "
                        "sets it)")
    p.add_argument("--in-test-host", action="store_true",
                   help="say that this runs inside the nested test host, where absolute times "
                        "are 10-50x hardware (bench/run.sh sets it)")
    args = p.parse_args()
    if args.runs < 1 or args.warmup < 0 or args.timeout <= 0:
        p.error("--runs must be at least 1, --warmup at least 0, --timeout positive")
    return args


def vmm_commands(args):
    kernel, initrd = os.path.abspath(args.kernel), os.path.abspath(args.initrd)
    cmds = {
        "agentvm": [args.agentvm_exec, "--console-only", "--kernel", kernel, "--initrd", initrd,
                    "--memory", str(MEMORY_MIB), "--vcpus", str(VCPUS), "--cmdline", TEST_CMDLINE],
    }
    if not args.skip_qemu:
        cmds["qemu"] = [args.qemu, "-M", QEMU_MACHINE, "-enable-kvm", "-cpu", "host",
                        "-m", str(MEMORY_MIB), "-smp", str(VCPUS),
                        "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
                        "-no-reboot", "-kernel", kernel, "-initrd", initrd,
                        "-append", AGENTVM_BASE_CMDLINE + " " + TEST_CMDLINE]
    return cmds


def check_inputs(args, cmds):
    for what, path in (("guest kernel", args.kernel), ("initramfs", args.initrd)):
        if not os.path.isfile(path):
            raise BenchError(f"{what} {path} does not exist (run `ninja -C build` or bench/run.sh, "
                             "or pass the path)")
    for name, argv in cmds.items():
        exe = argv[0]
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            hint = "pass --qemu PATH or --skip-qemu" if name == "qemu" else "run `ninja -C build`"
            raise BenchError(f"{name}: {exe} is not an executable file ({hint})")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise BenchError("/dev/kvm is missing or not accessible; run through bench/run.sh, which "
                         "uses the nested test host (tests/vmhost) where needed")


def tail(data, lines=15):
    text = data.decode("utf-8", "replace").rstrip("\n").splitlines()
    return "\n".join("    | " + line for line in text[-lines:]) or "    | (nothing)"


def boot_once(argv, timeout):
    """One boot: returns a dict of measurements, or raises BenchError saying what went wrong."""
    out, err = bytearray(), bytearray()
    marker_s = exit_s = None
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = t0 + timeout
    # The pidfd turns readable when the process exits, which times the exit itself rather than
    # the end of its output.
    pidfd = os.pidfd_open(proc.pid)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    sel.register(pidfd, selectors.EVENT_READ, None)
    timed_out = False
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            for key, _ in sel.select(left):
                now = time.monotonic()
                if key.data is None:
                    exit_s = now - t0
                    sel.unregister(pidfd)
                    continue
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                # Search from just before the new bytes: the marker may straddle two reads.
                if key.data is out and marker_s is None and \
                        out.find(MARKER, max(0, len(out) - len(chunk) - len(MARKER))) >= 0:
                    marker_s = now - t0
    except BaseException:
        proc.kill()  # Interrupted: leave no VMM behind.
        raise
    finally:
        if timed_out:
            proc.kill()
        _, status, rusage = os.wait4(proc.pid, 0)
        if exit_s is None:
            exit_s = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        sel.close()
        os.close(pidfd)
        proc.stdout.close()
        proc.stderr.close()
    if timed_out:
        raise BenchError(f"no exit within --timeout {timeout:g} s (marker "
                         f"{'seen' if marker_s is not None else 'never seen'}); killed it.\n"
                         f"  console (end):\n{tail(out)}\n  stderr (end):\n{tail(err)}")
    if proc.returncode != 0:
        raise BenchError(f"exited with status {proc.returncode} after {exit_s:.2f} s.\n"
                         f"  console (end):\n{tail(out)}\n  stderr (end):\n{tail(err)}")
    if marker_s is None:
        raise BenchError(f"exited after {exit_s:.2f} s without printing {MARKER.decode()}.\n"
                         f"  console (end):\n{tail(out)}\n  stderr (end):\n{tail(err)}")
    m = REBOOT_LINE.search(out)
    return {
        "marker_s": round(marker_s, 4),
        "exit_s": round(exit_s, 4),
        "maxrss_kib": rusage.ru_maxrss,  # Linux reports ru_maxrss in KiB.
        "guest_reboot_s": float(m.group(1)) if m else None,
        "user_cpu_s": round(rusage.ru_utime, 3),
        "sys_cpu_s": round(rusage.ru_stime, 3),
    }


def machine_context(args):
    cpu = "unknown CPU"
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown CPU":
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    osname = "unknown OS"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "where": args.context,
        "kernel_release": platform.release(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "hypervisor_flag": "hypervisor" in flags,
        "in_test_host": args.in_test_host,
        "os": osname,
    }


def file_id(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return {"path": os.path.abspath(path), "bytes": os.path.getsize(path),
            "sha256": h.hexdigest()}


def summary(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


METRICS = [
    # key, label, scale from the raw value, format
    ("marker_s", "spawn -> init marker (s)", 1, "{:.3f}"),
    ("exit_s", "spawn -> VMM exit (s)", 1, "{:.3f}"),
    ("guest_reboot_s", "guest clock at reboot (s)", 1, "{:.3f}"),
    ("maxrss_kib", "VMM peak RSS (MiB)", 1 / 1024, "{:.1f}"),
]


def report(ctx, args, cmds, results):
    vmms = list(results)
    names = {"agentvm": "agentvm-exec", "qemu": "QEMU microvm"}
    lines = []
    lines.append("boot-to-init: spawn the VMM, wait for the guest /init's marker line, wait for "
                 "the VMM to exit")
    lines.append(f"  {ctx['date']}; {args.runs} measured boots per VMM, one after another, after "
                 f"{args.warmup} warm-up boot(s) not counted")
    lines.append(f"  guest: {MEMORY_MIB} MiB, {VCPUS} vCPU, kernel {os.path.basename(args.kernel)} "
                 f"({ctx['kernel_file']['bytes']} bytes), initramfs "
                 f"{os.path.basename(args.initrd)} ({ctx['initrd_file']['bytes']} bytes)")
    lines.append(f"  ran on: {ctx['cpus']} vCPU(s) of '{ctx['cpu']}', Linux {ctx['kernel_release']}, "
                 f"{ctx['os']}")
    if ctx["where"]:
        lines.append(f"  where: {ctx['where']}")
    if ctx["in_test_host"]:
        lines.append("  NOTE: both VMMs ran inside the nested test host, whose CPU is QEMU TCG: "
                     "absolute times are")
        lines.append("        10-50x those on hardware KVM. Compare the ratios, not the seconds.")
    lines.append("")
    col = 28
    head = " " * col + "".join(f"{names.get(v, v):>27}" for v in vmms)
    lines.append(head)
    lines.append(" " * col + "".join(f"{'median':>9}{'min':>9}{'max':>9}" for _ in vmms))
    summaries = {v: {} for v in vmms}
    for key, label, scale, fmt in METRICS:
        row = f"{label:<{col}}"
        for v in vmms:
            s = summary([r[key] * scale if r[key] is not None else None for r in results[v]])
            summaries[v][key] = s
            row += "".join(f"{fmt.format(s[k]) if s else '-':>9}" for k in ("median", "min", "max"))
        lines.append(row)
    lines.append("")
    if "agentvm" in results and "qemu" in results:
        lines.append("agentvm / qemu, ratio of the medians (below 1: agentvm is faster or smaller)")
        for key, label, _, _ in METRICS:
            a, q = summaries["agentvm"][key], summaries["qemu"][key]
            if a and q and q["median"]:
                name = label.rsplit(" (", 1)[0]
                lines.append(f"  {name:<{col}}{a['median'] / q['median']:>7.2f}")
        lines.append("")
    lines.append("'guest clock at reboot' is the guest kernel's printk time on its last line; "
                 "'spawn -> VMM exit' minus it")
    lines.append("is time outside the guest kernel: VMM start-up, firmware, loading, teardown.")
    lines.append("")
    lines.append("commands:")
    for v in vmms:
        lines.append(f"  {v}: " + " ".join(shlex.quote(a) for a in cmds[v]))
    return "\n".join(lines), summaries


def main():
    args = parse_args()
    cmds = vmm_commands(args)
    try:
        check_inputs(args, cmds)
    except BenchError as e:
        print(f"boot-to-init: {e}", file=sys.stderr)
        return 1
    ctx = machine_context(args)
    ctx["kernel_file"] = file_id(args.kernel)
    ctx["initrd_file"] = file_id(args.initrd)
    results = {}
    for vmm, argv in cmds.items():
        results[vmm] = []
        total = args.warmup + args.runs
        for i in range(total):
            warm = i < args.warmup
            tag = f"warm-up {i + 1}/{args.warmup}" if warm else f"boot {i - args.warmup + 1}/{args.runs}"
            try:
                r = boot_once(argv, args.timeout)
            except BenchError as e:
                print(f"boot-to-init: FAILED: {vmm} {tag}: {e}", file=sys.stderr)
                print(f"  command: {' '.join(shlex.quote(a) for a in argv)}", file=sys.stderr)
                return 1
            guest = f"{r['guest_reboot_s']:.3f}" if r["guest_reboot_s"] is not None else "?"
            print(f"boot-to-init: {vmm:<8} {tag:<13} marker {r['marker_s']:7.3f} s  exit "
                  f"{r['exit_s']:7.3f} s  guest clock {guest} s  peak RSS "
                  f"{r['maxrss_kib'] / 1024:6.1f} MiB{'  (not counted)' if warm else ''}",
                  file=sys.stderr, flush=True)
            if not warm:
                results[vmm].append(r)
    text, summaries = report(ctx, args, cmds, results)
    print(text, flush=True)
    if args.json:
        doc = {"benchmark": "boot-to-init", "context": ctx,
               "config": {"runs": args.runs, "warmup": args.warmup, "memory_mib": MEMORY_MIB,
                          "vcpus": VCPUS, "timeout_s": args.timeout, "commands": cmds},
               "results": results, "summary": summaries}
        if args.json == "-":
            print(JSON_BEGIN)
            print(json.dumps(doc, indent=2))
            print(JSON_END, flush=True)
        else:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=2)
                f.write("\n")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
