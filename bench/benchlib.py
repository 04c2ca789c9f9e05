"""What the benchmarks in bench/ share: the guest and VMM command lines, running one VMM to its
exit while timing its console, the machine context, summaries and the JSON hand-off.

Standard library only; the benchmarks run under /usr/bin/python3, inside the nested test host where
this machine's /dev/kvm cannot run guests (bench/run.sh decides).
"""
import hashlib
import json
import os
import platform
import selectors
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMORY_MIB = 256
VCPUS = 1
# libagentvm puts this in front of every guest command line (lib/arch/x86_64/machine.c); QEMU
# gets the very same words so that both guests boot the same way.
AGENTVM_BASE_CMDLINE = "console=ttyS0 8250.nr_uarts=1 acpi=off reboot=p panic=-1 quiet pty.legacy_count=0"
# The fewest devices the guest still boots with: no option ROMs (qboot loads the kernel itself),
# no ACPI tables (the kernel has acpi=off anyway), no PIT, PIC or RTC; COM1 for the console.
QEMU_MACHINE = "microvm,x-option-roms=off,isa-serial=on,rtc=off,pit=off,pic=off,acpi=off"
# The test initramfs's /init prints this line first, then does what agentvm.test= says.
MARKER = b"AGENTVM-INIT-MARKER"
VMM_NAMES = {"agentvm": "agentvm-exec", "qemu": "QEMU microvm"}


class BenchError(Exception):
    pass


def default_kernel():
    # The same choice as scripts/try.sh: $AGENTVM_KERNEL, the build's copy of the shared test
    # kernel, else the installed one.
    for path in (os.environ.get("AGENTVM_KERNEL"), os.path.join(REPO, "build/tests/kvm/vmlinux")):
        if path and os.path.exists(path):
            return path
    return "/usr/local/share/agentvm/vmlinux"


def add_common_args(p, runs):
    """The options every benchmark takes; runs is its default number of measured runs."""
    p.add_argument("--runs", type=int, default=runs, help=f"measured runs per VMM (default {runs})")
    p.add_argument("--warmup", type=int, default=1,
                   help="runs per VMM before the measured ones, not counted; they load the VMM, "
                        "kernel and initramfs into the page cache (default 1)")
    p.add_argument("--kernel", default=default_kernel(),
                   help="guest kernel, vmlinux ELF (default $AGENTVM_KERNEL, build/tests/kvm/vmlinux, "
                        "else /usr/local/share/agentvm/vmlinux)")
    p.add_argument("--initrd", default=os.path.join(REPO, "build/tests/kvm/test-initrd.cpio.gz"),
                   help="the test initramfs (tests/kvm/initrd-init.sh as /init; default "
                        "build/tests/kvm/test-initrd.cpio.gz)")
    p.add_argument("--agentvm-exec", default=os.path.join(REPO, "build/tools/agentvm-exec"),
                   help="agentvm-exec binary (default build/tools/agentvm-exec)")
    p.add_argument("--qemu", default=shutil.which("qemu-system-x86_64") or "qemu-system-x86_64",
                   help="qemu-system-x86_64 binary (default: from PATH)")
    p.add_argument("--skip-qemu", action="store_true", help="run only agentvm-exec")
    p.add_argument("--timeout", type=float, default=300,
                   help="seconds one run may take before the VMM is killed and the bench fails "
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


def check_common_args(p, args):
    if args.runs < 1 or args.warmup < 0 or args.timeout <= 0:
        p.error("--runs must be at least 1, --warmup at least 0, --timeout positive")


def agentvm_argv(args, test, extra=()):
    """agentvm-exec booting the test kernel and initramfs with agentvm.test=TEST."""
    return [args.agentvm_exec, "--console-only", "--kernel", os.path.abspath(args.kernel),
            "--initrd", os.path.abspath(args.initrd), "--memory", str(MEMORY_MIB),
            "--vcpus", str(VCPUS), *extra, "--cmdline", f"agentvm.test={test}"]


def qemu_argv(args, test, extra=()):
    """QEMU microvm booting the same guest with the same command line as agentvm_argv."""
    return [args.qemu, "-M", QEMU_MACHINE, "-enable-kvm", "-cpu", "host",
            "-m", str(MEMORY_MIB), "-smp", str(VCPUS),
            "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio",
            "-no-reboot", "-kernel", os.path.abspath(args.kernel),
            "-initrd", os.path.abspath(args.initrd), *extra,
            "-append", f"{AGENTVM_BASE_CMDLINE} agentvm.test={test}"]


def check_inputs(args, cmds):
    for what, path in (("guest kernel", args.kernel), ("initramfs", args.initrd)):
        if not os.path.isfile(path):
            raise BenchError(f"{what} {path} does not exist (run `ninja -C build` or bench/run.sh, "
                             "or pass the path)")
    for name, argv in cmds.items():
        exe = argv[0]
        if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
            hint = "pass --qemu PATH or --skip-qemu" if name.startswith("qemu") else \
                "run `ninja -C build`"
            raise BenchError(f"{name}: {exe} is not an executable file ({hint})")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        raise BenchError("/dev/kvm is missing or not accessible; run through bench/run.sh, which "
                         "uses the nested test host (tests/vmhost) where needed")


def tail(data, lines=15):
    text = data.decode("utf-8", "replace").rstrip("\n").splitlines()
    return "\n".join("    | " + line for line in text[-lines:]) or "    | (nothing)"


def run_vmm(argv, timeout, marker=MARKER, on_spawn=None):
    """Runs one VMM to its exit. Returns (measurements, console bytes), or raises BenchError
    saying what went wrong: a timeout, a non-zero exit or no marker (the bytes on stdout whose
    arrival is timed; the init's marker line by default). on_spawn(pid, t0), if given, learns
    the VMM's pid and the time.monotonic() its times count from."""
    out, err = bytearray(), bytearray()
    marker_s = exit_s = None
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    if on_spawn:
        on_spawn(proc.pid, t0)
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
                        out.find(marker, max(0, len(out) - len(chunk) - len(marker))) >= 0:
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
        raise BenchError(f"exited after {exit_s:.2f} s without printing {marker.decode()}.\n"
                         f"  console (end):\n{tail(out)}\n  stderr (end):\n{tail(err)}")
    return {
        "marker_s": round(marker_s, 4),
        "exit_s": round(exit_s, 4),
        "maxrss_kib": rusage.ru_maxrss,  # Linux reports ru_maxrss in KiB.
        "user_cpu_s": round(rusage.ru_utime, 3),
        "sys_cpu_s": round(rusage.ru_stime, 3),
    }, bytes(out)


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
        "kernel_file": file_id(args.kernel),
        "initrd_file": file_id(args.initrd),
        "thp": {name: thp_setting(name) for name in ("enabled", "shmem_enabled")},
        "rcu_expedited": rcu_expedited(),
        "tmp_mount": mount_of(tempfile.gettempdir()),
    }


def rcu_expedited():
    """Whether the host expedites RCU grace periods: on Linux 6.1 KVM_CREATE_VM waits for one
    (doc/api.md, "Host settings"), ~20 ms of every VM's start in the test host otherwise."""
    try:
        with open("/sys/kernel/rcu_expedited") as f:
            return f.read().strip() == "1"
    except OSError:
        return None


def mount_of(path):
    """The filesystem and options of the mount holding path (the snapshots go to a temporary
    directory: a tmpfs mounted huge=within_size gives them 2 MiB pages, doc/api.md)."""
    best = ("", "unknown", "")
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                _, where, fstype, options = line.split()[:4]
                inside = path == where or path.startswith(where.rstrip("/") + "/")
                if inside and len(where) >= len(best[0]):
                    best = (where, fstype, options)
    except OSError:
        pass
    return {"path": path, "mount": best[0], "fstype": best[1], "options": best[2]}


def thp_setting(name):
    """The host's transparent huge page mode for anonymous ("enabled") or shared memory: QEMU's
    RAM is the first kind, libagentvm's memfd the second, and both ask for huge pages."""
    try:
        with open(f"/sys/kernel/mm/transparent_hugepage/{name}") as f:
            words = f.read().split()
    except OSError:
        return "unknown"
    return next((w.strip("[]") for w in words if w.startswith("[")), "unknown")


def context_lines(ctx, args):
    """The lines under a table's title: the guest, the machine, and where it ran."""
    lines = [f"  guest: {MEMORY_MIB} MiB, {VCPUS} vCPU, kernel {os.path.basename(args.kernel)} "
             f"({ctx['kernel_file']['bytes']} bytes), initramfs "
             f"{os.path.basename(args.initrd)} ({ctx['initrd_file']['bytes']} bytes)",
             f"  ran on: {ctx['cpus']} vCPU(s) of '{ctx['cpu']}', Linux {ctx['kernel_release']}, "
             f"{ctx['os']}",
             f"  huge pages: anonymous memory (QEMU's RAM) {ctx['thp']['enabled']}, shared memory "
             f"(libagentvm's RAM) {ctx['thp']['shmem_enabled']}",
             "  RCU grace periods: " + {True: "expedited", False: "normal", None: "unknown"}[
                 ctx["rcu_expedited"]] + " (/sys/kernel/rcu_expedited)",
             f"  snapshots in: {ctx['tmp_mount']['path']} ({ctx['tmp_mount']['fstype']}, "
             f"{ctx['tmp_mount']['options']})"]
    if ctx["where"]:
        lines.append(f"  where: {ctx['where']}")
    if ctx["in_test_host"]:
        lines.append("  NOTE: the VMMs ran inside the nested test host, whose CPU is QEMU TCG: "
                     "absolute figures are")
        lines.append("        10-50x off those on hardware KVM. Compare the ratios, not the "
                     "absolute values.")
    return lines


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


def percentile(sorted_values, p):
    """The p-th percentile of an ascending list: the nearest rank."""
    return sorted_values[min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))]


def emit_json(path, name, doc):
    """Writes doc to path, or with path '-' prints it between the marker lines bench/run.sh
    looks for."""
    if path == "-":
        print(f"----- BEGIN {name} JSON -----")
        print(json.dumps(doc, indent=2))
        print(f"----- END {name} JSON -----", flush=True)
    else:
        with open(path, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")


def measure(name, cmds, args, once, describe):
    """Runs every VMM's command args.warmup + args.runs times, one after another. once(argv,
    timeout) does one run and returns its measurements; describe(measurements) gives the progress
    line's text. Returns {vmm: [measurements of the counted runs]}; raises BenchError naming the
    run and command that failed."""
    results = {}
    for vmm, argv in cmds.items():
        results[vmm] = []
        for i in range(args.warmup + args.runs):
            warm = i < args.warmup
            tag = f"warm-up {i + 1}/{args.warmup}" if warm else f"run {i - args.warmup + 1}/{args.runs}"
            try:
                r = once(argv, args.timeout)
            except BenchError as e:
                raise BenchError(f"{vmm} {tag}: {e}\n  command: "
                                 f"{' '.join(shlex.quote(a) for a in argv)}") from None
            print(f"{name}: {vmm:<13} {tag:<13} {describe(r)}{'  (not counted)' if warm else ''}",
                  file=sys.stderr, flush=True)
            if not warm:
                results[vmm].append(r)
    return results


def table(results, metrics, col=28):
    """A median/min/max table with one column group per VMM, then the ratio of every other VMM's
    medians to agentvm's. metrics: (key, label, scale from the raw value, format) tuples.
    Returns (lines, {vmm: {key: summary}})."""
    vmms = list(results)
    lines = [" " * col + "".join(f"{VMM_NAMES.get(v, v):>27}" for v in vmms),
             " " * col + "".join(f"{'median':>9}{'min':>9}{'max':>9}" for _ in vmms)]
    summaries = {v: {} for v in vmms}
    for key, label, scale, fmt in metrics:
        row = f"{label:<{col}}"
        for v in vmms:
            s = summary([r[key] * scale if r[key] is not None else None for r in results[v]])
            summaries[v][key] = s
            row += "".join(f"{fmt.format(s[k]) if s else '-':>9}" for k in ("median", "min", "max"))
        lines.append(row)
    for peer in vmms:
        if peer == "agentvm" or "agentvm" not in results:
            continue
        lines += ["", f"agentvm / {peer}, ratio of the medians"]
        for key, label, _, _ in metrics:
            a, q = summaries["agentvm"][key], summaries[peer][key]
            if a and q and q["median"]:
                lines.append(f"  {label.rsplit(' (', 1)[0]:<{col}}{a['median'] / q['median']:>7.2f}")
    return lines, summaries


def command_lines(cmds):
    return ["commands:"] + [f"  {v}: " + " ".join(shlex.quote(a) for a in argv)
                            for v, argv in cmds.items()]


def publish(name, args, ctx, cmds, text, results, summaries, **config):
    """Prints the report, then the raw results as JSON where --json asks for them."""
    print(text, flush=True)
    if args.json:
        emit_json(args.json, name, {
            "benchmark": name, "context": ctx,
            "config": {"runs": args.runs, "warmup": args.warmup, "memory_mib": MEMORY_MIB,
                       "vcpus": VCPUS, "timeout_s": args.timeout, "commands": cmds, **config},
            "results": results, "summary": summaries})
