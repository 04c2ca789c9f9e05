#!/usr/bin/python3
"""The benchmark suite: every row measured in one run, on one machine, for libagentvm and its
peers (QEMU microvm always; kvmtool when --kvmtool names an lkvm binary), booting the same kernel.

A "sandbox" is a VM ready to run a command. libagentvm runs commands through its guest agent
(agentvm-exec, or bench/exec-rtt and bench/snapshot-probe through the library); the peers have no
agent, so they boot the test initramfs with `agentvm.test=shell`, whose init runs every line of
the serial console as a command and prints a done marker (bench/session.py). QEMU snapshots by
migrating to a file and restores with -incoming; kvmtool has no snapshots.

Rows: process start to guest init; to first command output; restore to first command output;
exec round trip of `/bin/busybox true` (p50, p99); VMM RSS, PSS, threads and fds of an idle
sandbox; sandboxes per second (cold and restored, serial and with 2 workers); host memory of 100
clones of one snapshot. Medians with min and max over the runs, and the ratio to each peer.

Standard library only; bench/run.sh suite runs it (in tests/vmhost where /dev/kvm cannot run
guests).
"""
import argparse
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import (MEMORY_MIB, REPO, VCPUS, AGENTVM_BASE_CMDLINE, BenchError,
                      add_common_args, check_common_args, check_inputs, context_lines,
                      emit_json, machine_context, percentile, qemu_argv, run_vmm)
from kvmtrace import FirstEntry
from session import SHELL_READY, QMP, Session, qemu_save

FIRST_OUTPUT = b"AGENTVM-OUTPUT-42"
# $((6*7)): the output cannot be an echo of the command's own text. Each costs one fork and exec
# of busybox in the guest: the agent runs sh, whose echo is a builtin; a peer's console shell
# expands the line and runs busybox echo.
FIRST_COMMAND = ["sh", "-c", "echo AGENTVM-OUTPUT-$((6*7))"]
FIRST_COMMAND_LINE = b"/bin/busybox echo AGENTVM-OUTPUT-$((6*7))"
TRUE = ["/bin/busybox", "true"]
IDLE_MARKER = b"AGENTVM-IDLE"
NAMES = {"agentvm": "libagentvm", "qemu": "QEMU microvm", "kvmtool": "kvmtool"}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    add_common_args(p, runs=5)
    p.add_argument("--agent-initrd", default=os.path.join(REPO, "build/guest/agentvm-initrd.cpio.gz"),
                   help="the guest agent's initramfs (default build/guest/agentvm-initrd.cpio.gz)")
    p.add_argument("--kvmtool", help="an lkvm binary: adds kvmtool as a peer (bench/README.md says "
                                     "how to build one); needs --kvmtool-kernel")
    p.add_argument("--kvmtool-kernel",
                   help="the same kernel as a bzImage, for kvmtool, which boots no ELF vmlinux")
    p.add_argument("--execs", type=int, default=1000,
                   help="round trips per exec latency run (default 1000)")
    p.add_argument("--rtt-runs", type=int, default=3, help="exec latency runs per VMM (default 3)")
    p.add_argument("--rate-sandboxes", type=int, default=6,
                   help="sandboxes per sandboxes-per-second run (default 6)")
    p.add_argument("--rate-runs", type=int, default=3,
                   help="sandboxes-per-second runs per row and VMM (default 3)")
    p.add_argument("--clones", type=int, default=100,
                   help="clones of one snapshot alive at once for the memory row (default 100)")
    p.add_argument("--qemu-clones", type=int, default=4,
                   help="QEMU restores alive at once for that row, scaled to --clones: 100 QEMU "
                        "processes with private copies of guest memory do not fit (default 4)")
    p.add_argument("--retries", type=int, default=2,
                   help="times a failed run is made again before the suite gives up (default 2): "
                        "guests in the nested test host crash now and then whatever their VMM "
                        "(tests/vmhost/README.md); the report lists every failure")
    p.add_argument("--exec-rtt", default=os.path.join(REPO, "build/bench/exec-rtt"))
    p.add_argument("--probe", default=os.path.join(REPO, "build/bench/snapshot-probe"))
    args = p.parse_args()
    check_common_args(p, args)
    if bool(args.kvmtool) != bool(args.kvmtool_kernel):
        p.error("--kvmtool and --kvmtool-kernel go together")
    if min(args.execs, args.rtt_runs, args.rate_sandboxes, args.rate_runs, args.clones,
           args.qemu_clones) < 1:
        p.error("counts must be at least 1")
    if args.retries < 0:
        p.error("--retries must be 0 or more")
    return args


def run_tool(argv, timeout, what, **kwargs):
    """subprocess.run(argv) with its output captured; a nonzero status or a run past timeout
    (a test-host guest that stopped answering) is a BenchError, so the run is made again."""
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what} did not end within {timeout} s: {' '.join(argv)}") from None
    if p.returncode != 0:
        raise BenchError(f"{what} failed ({p.returncode}): {p.stderr.decode(errors='replace')}")
    return p


class Suite:
    """The VMMs' command lines and the snapshots the restore rows start from."""

    def __init__(self, args, workdir):
        self.args = args
        self.work = workdir
        self.vmms = ["agentvm"] + ([] if args.skip_qemu else ["qemu"]) + \
            (["kvmtool"] if args.kvmtool else [])
        self.agentvm_snapshot = os.path.join(workdir, "agentvm.snap")
        self.qemu_snapshot = os.path.join(workdir, "qemu.snap")
        self.serial = 0  # numbers QMP sockets
        self.first_entry = FirstEntry()

    # -- command lines ----------------------------------------------------------------------

    def agentvm_exec(self, command, restore=False, options=()):
        a = self.args
        boot = ["--restore", self.agentvm_snapshot] if restore else \
            ["--kernel", os.path.abspath(a.kernel), "--initrd", os.path.abspath(a.agent_initrd),
             "--memory", str(MEMORY_MIB), "--vcpus", str(VCPUS)]
        return [a.agentvm_exec, *boot, *options, "--", *command]

    def agentvm_console(self, test):
        a = self.args
        return [a.agentvm_exec, "--console-only", "--kernel", os.path.abspath(a.kernel),
                "--initrd", os.path.abspath(a.initrd), "--memory", str(MEMORY_MIB),
                "--vcpus", str(VCPUS), "--cmdline", f"agentvm.test={test}"]

    def qmp_path(self):
        self.serial += 1
        return os.path.join(self.work, f"qmp-{self.serial}.sock")

    def qemu(self, test, qmp=None, restore=False):
        extra = ["-qmp", f"unix:{qmp},server=on,wait=off"] if qmp else []
        if restore:
            extra += ["-incoming", f"exec:cat {self.qemu_snapshot}"]
        return qemu_argv(self.args, test, extra)

    def kvmtool(self, test):
        """lkvm with only the serial console: --nodefaults keeps its own kernel options out,
        and its default network must be turned off by hand. It keeps a control socket in
        $HOME/.lkvm. nokaslr: the bzImage has no relocations for a randomized base."""
        a = self.args
        return ["env", f"HOME={self.work}", a.kvmtool, "run", "--loglevel", "warning",
                "--nodefaults", "--network", "mode=none", "-k", os.path.abspath(a.kvmtool_kernel),
                "-i", os.path.abspath(a.initrd), "-m", str(MEMORY_MIB), "-c", str(VCPUS),
                "--console", "serial", "-p", f"{AGENTVM_BASE_CMDLINE} nokaslr agentvm.test={test}"]

    def peer_console(self, vmm, test):
        return self.qemu(test) if vmm == "qemu" else self.kvmtool(test)

    # -- one measurement each ---------------------------------------------------------------

    def boot_to_init(self, vmm):
        """Spawn to the init's marker (s) and to the VMM's first VM entry (ms; None where the
        KVM trace events cannot be read, kvmtrace.py)."""
        argv = self.agentvm_console("reboot") if vmm == "agentvm" else \
            self.peer_console(vmm, "reboot")
        trace = self.first_entry if self.first_entry.available else None
        if not trace:
            return [run_vmm(argv, self.args.timeout)[0]["marker_s"], None]
        trace.arm()
        try:
            marker_s = run_vmm(argv, self.args.timeout, on_spawn=trace.on_spawn)[0]["marker_s"]
        finally:
            entry_s = trace.first_entry_s()
        return [marker_s, entry_s * 1e3 if entry_s is not None else None]

    def first_output(self, vmm, restore=False):
        """Spawn (or restore) to the first output byte of a command; the sandbox then ends."""
        if vmm == "agentvm":
            argv = self.agentvm_exec(FIRST_COMMAND, restore)
            return run_vmm(argv, self.args.timeout, FIRST_OUTPUT)[0]["marker_s"]
        with self.peer_sandbox(vmm, restore) as s:
            s.send(FIRST_COMMAND_LINE)
            return s.wait_for(FIRST_OUTPUT)

    def peer_sandbox(self, vmm, restore=False):
        """A peer's Session ready to take a command: booted to its shell, or restored."""
        if not restore:
            # kvmtool reads its console only from a terminal.
            s = Session(self.peer_console(vmm, "shell"), self.args.timeout, tty=vmm == "kvmtool")
            s.wait_for(SHELL_READY)
            return s
        qmp_path = self.qmp_path()
        s = Session(self.qemu("shell", qmp_path, restore=True), self.args.timeout)
        try:
            qmp = QMP(qmp_path, self.args.timeout)
            qmp.wait_status("running", self.args.timeout)
            qmp.close()
        except BaseException:
            s.close()
            raise
        return s

    def round_trips(self, vmm):
        """[p50, p99] of --execs round trips of /bin/busybox true, in microseconds."""
        a = self.args
        if vmm == "agentvm":
            p = run_tool([a.exec_rtt, os.path.abspath(a.kernel), os.path.abspath(a.agent_initrd),
                          str(a.execs)], a.timeout + a.execs, "exec-rtt")
            rtts = [float(line.split()[0]) for line in p.stdout.decode().splitlines()[1:] if line]
        else:
            with self.peer_sandbox(vmm) as s:
                rtts = [s.run(" ".join(TRUE).encode()) * 1e6 for _ in range(a.execs)]
        rtts.sort()
        return [percentile(rtts, 50), percentile(rtts, 99)]

    def idle_footprint(self, vmm):
        """RSS and PSS (MiB), threads, fds and RSS beyond guest RAM (MiB) of the VMM process of a
        sandbox ready for commands."""
        if vmm == "agentvm":
            argv = self.agentvm_exec(["sh", "-c", f"echo {IDLE_MARKER.decode()}; exec sleep 100000"])
            with Session(argv, self.args.timeout) as s:
                s.wait_for(IDLE_MARKER)
                return process_footprint(s.pid)
        with self.peer_sandbox(vmm) as s:
            return process_footprint(s.pid)

    def sandbox(self, vmm, restore):
        """One whole sandbox: create (boot or restore), run true, destroy."""
        if vmm == "agentvm":
            run_tool(self.agentvm_exec(TRUE, restore), self.args.timeout, "agentvm-exec",
                     stdin=subprocess.DEVNULL)
            return
        with self.peer_sandbox(vmm, restore) as s:
            s.run(" ".join(TRUE).encode())

    def rate(self, vmm, restore, workers):
        """Sandboxes per second, --rate-sandboxes of them shared among workers threads."""
        n = self.args.rate_sandboxes
        errors = []

        def work(count):
            try:
                for _ in range(count):
                    self.sandbox(vmm, restore)
            except BaseException as e:  # reported by the caller
                errors.append(e)

        t0 = time.monotonic()
        threads = [threading.Thread(target=work, args=(n // workers + (i < n % workers),))
                   for i in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return n / (time.monotonic() - t0)

    def clones_memory(self, vmm):
        """Host memory (MiB) with --clones restored sandboxes alive, each having run a command;
        for libagentvm also the library's own times (ms) from agentvm_vm_new() and from
        agentvm_vm_restore() to a command's end (the median clone), without a process start,
        and the median cycle of restore, command and agentvm_vm_free() without and with a
        spare VM (agentvm_set_spare_vms())."""
        a = self.args
        if vmm == "agentvm":
            p = run_tool([a.probe, os.path.abspath(a.kernel), os.path.abspath(a.agent_initrd),
                          self.work, str(a.clones), "0"], a.timeout * (a.clones + 2),
                         "snapshot-probe")
            f = {k: float(v) for k, v in (line.split() for line in p.stdout.decode().splitlines()
                                          if line)}
            return [f["clones_pss_kib"] / 1024, f["cold_output_us"] / 1e3,
                    f["restore_output_us"] / 1e3, f["cycle_us"] / 1e3, f["spare_cycle_us"] / 1e3]
        sessions = []
        try:
            for _ in range(a.qemu_clones):
                sessions.append(self.peer_sandbox(vmm, restore=True))
                sessions[-1].run(" ".join(TRUE).encode())
            total = sum(process_footprint(s.pid)[1] for s in sessions)
        finally:
            for s in sessions:
                s.close()
        return [total * a.clones / a.qemu_clones]  # no in-process figures: QEMU is no library

    def make_snapshots(self):
        run_tool(self.agentvm_exec(TRUE, options=["--snapshot-out", self.agentvm_snapshot]),
                 self.args.timeout, "agentvm-exec --snapshot-out")
        if "qemu" in self.vmms:
            qmp = self.qmp_path()
            qemu_save(self.qemu("shell", qmp), qmp, self.qemu_snapshot, self.args.timeout)
        print("suite: snapshots made", file=sys.stderr, flush=True)


def process_footprint(pid):
    """[RSS MiB, PSS MiB, threads, fds, RSS beyond guest RAM MiB] of a process, from /proc."""
    rollup = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                rollup[parts[0].rstrip(":")] = int(parts[1])
    with open(f"/proc/{pid}/status") as f:
        threads = next(int(line.split()[1]) for line in f if line.startswith("Threads:"))
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return [rollup["Rss"] / 1024, rollup["Pss"] / 1024, threads, fds,
            (rollup["Rss"] - guest_ram_rss_kib(pid)) / 1024]


def guest_ram_rss_kib(pid):
    """The resident part of a VMM's guest RAM: its mappings of at least the guest's memory size
    (libagentvm's memfd, QEMU's and kvmtool's anonymous RAM block; nothing else a VMM maps is
    that large). What is left of the RSS is the VMM's own: code, heap, stacks, buffers."""
    ram_kib, mapping_kib = 0, 0
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                mapping_kib = (end - start) // 1024
            elif head == "Rss:" and mapping_kib >= MEMORY_MIB * 1024:
                ram_kib += int(line.split()[1])
    return ram_kib


# (key, label, format, which VMMs, how many runs, the measurement: suite, vmm -> value or list)
# A measurement returning a list fills several rows: their keys, labels and formats (or one
# format for all) are joined with "|".
def rows(args):
    rate_note = f"{args.rate_sandboxes} sandboxes"
    return [
        ("init_s|first_entry_ms", "process start -> guest init (s)|process start -> first guest "
         "instruction (ms)", "{:.3f}|{:.0f}", "all", args.runs, lambda s, v: s.boot_to_init(v)),
        ("first_output_s", "process start -> first command output (s)", "{:.3f}", "all", args.runs,
         lambda s, v: s.first_output(v)),
        ("restore_output_s", "restore -> first command output (s)", "{:.3f}", "snapshots",
         args.runs, lambda s, v: s.first_output(v, restore=True)),
        ("rtt_p50_us|rtt_p99_us", "exec round trip of true, p50 (us)|exec round trip of true, "
         "p99 (us)", "{:.0f}", "all", args.rtt_runs, lambda s, v: s.round_trips(v)),
        ("rss_mib|pss_mib|threads|fds|own_rss_mib", "idle sandbox: VMM RSS (MiB)|idle sandbox: "
         "VMM PSS (MiB)|idle sandbox: VMM threads|idle sandbox: VMM fds|idle sandbox: VMM RSS "
         "beyond guest RAM (MiB)", "{:.1f}|{:.1f}|{:.0f}|{:.0f}|{:.1f}", "all",
         args.runs,
         lambda s, v: s.idle_footprint(v)),
        ("cold_rate_1", f"cold sandboxes/s, serial ({rate_note})", "{:.2f}", "all",
         args.rate_runs, lambda s, v: s.rate(v, False, 1)),
        ("cold_rate_2", f"cold sandboxes/s, 2 workers ({rate_note})", "{:.2f}", "all",
         args.rate_runs, lambda s, v: s.rate(v, False, 2)),
        ("restored_rate_1", f"restored sandboxes/s, serial ({rate_note})", "{:.2f}", "snapshots",
         args.rate_runs, lambda s, v: s.rate(v, True, 1)),
        ("restored_rate_2", f"restored sandboxes/s, 2 workers ({rate_note})", "{:.2f}",
         "snapshots", args.rate_runs, lambda s, v: s.rate(v, True, 2)),
        ("clones_mib|lib_cold_ms|lib_restore_ms|lib_cycle_ms|lib_spare_cycle_ms",
         f"{args.clones} clones of one snapshot: host memory (MiB)|"
         "in process: new VM -> command done (ms)|in process: restore -> command done (ms)|"
         "in process: restore -> done -> freed (ms)|"
         "in process, spare VM: restore -> done -> freed (ms)",
         "{:.0f}", "snapshots", 1, lambda s, v: s.clones_memory(v)),
    ]


def measure_once(suite, vmm, label, once, retries, failures):
    """once(suite, vmm), made again up to `retries` times if it fails; failures are noted."""
    for attempt in range(retries + 1):
        try:
            return once(suite, vmm)
        except BenchError as e:
            what = f"{label.split('|')[0]}, {vmm}: {e}"
            if attempt == retries:
                raise BenchError(what) from None
            failures.append(what.splitlines()[0])
            print(f"suite: failed, once more: {what}", file=sys.stderr, flush=True)


def measure_all(suite, args):
    """{key: {vmm: [values]}}, measuring row by row, each VMM's runs one after another; under
    the key "failures", the runs that failed and were made again."""
    results = {"failures": []}
    for key, label, _, which, runs, once in rows(args):
        keys = key.split("|")
        for k in keys:
            results[k] = {}
        vmms = [v for v in suite.vmms if which == "all" or v != "kvmtool"]
        for vmm in vmms:
            for k in keys:
                results[k][vmm] = []
            for i in range(args.warmup + runs):
                warm = i < args.warmup
                value = measure_once(suite, vmm, label, once, args.retries, results["failures"])
                values = value if isinstance(value, list) else [value]
                if not warm:
                    for k, x in zip(keys, values):
                        if x is not None:  # not measurable here (first_entry_ms)
                            results[k][vmm].append(x)
                shown = ", ".join("-" if x is None else f"{x:.4g}" for x in values)
                print(f"suite: {key.split('|')[0]:<18} {vmm:<8} "
                      f"{'warm-up' if warm else f'run {i - args.warmup + 1}/{runs}':<9} {shown}",
                      file=sys.stderr, flush=True)
    return results


def cell(values, fmt):
    if not values:
        return "-"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def report(ctx, args, suite, results):
    lines = ["libagentvm benchmark suite: median (min-max) over the runs; ratio = libagentvm / peer "
             "(below 1: libagentvm is faster or smaller, except for the rates, where above 1 is)",
             f"  {ctx['date']}; {args.runs} runs per VMM for the boot rows, {args.rtt_runs} of "
             f"{args.execs} round trips, {args.rate_runs} per rate; {args.warmup} warm-up run(s) "
             "before each, not counted"]
    lines += context_lines(ctx, args)
    peers = [v for v in suite.vmms if v != "agentvm"]
    width = 50
    header = f"{'':<{width}}" + "".join(f"{NAMES[v]:>26}" for v in suite.vmms) + \
        "".join(f"{'/ ' + v:>11}" for v in peers)
    lines += ["", header]
    for key, label, fmts, _, _, _ in rows(args):
        keys, labels = key.split("|"), label.split("|")
        fmts = fmts.split("|") * (len(keys) if "|" not in fmts else 1)
        for k, lab, fmt in zip(keys, labels, fmts):
            row = f"{lab:<{width}}" + "".join(f"{cell(results[k].get(v), fmt):>26}"
                                               for v in suite.vmms)
            ours = results[k].get("agentvm")
            for peer in peers:
                theirs = results[k].get(peer)
                ratio = statistics.median(ours) / statistics.median(theirs) \
                    if ours and theirs and statistics.median(theirs) else None
                row += f"{ratio:>11.2f}" if ratio is not None else f"{'-':>11}"
            lines.append(row)
    if results["failures"]:
        lines += ["", "Runs that failed and were made again (not counted):"]
        lines += [f"  {f}" for f in results["failures"]]
    lines += ["", "How each VMM runs a command: libagentvm through its guest agent (vsock); the "
                  "peers, which have none, through",
              "a shell reading the serial console (the test initramfs's agentvm.test=shell). "
              f"QEMU's restore is -incoming from a migration file; its clone memory is "
              f"{args.qemu_clones} restores scaled to {args.clones}.",
              "", "commands (one run of each):"]
    examples = {"agentvm": [suite.agentvm_console("reboot"), suite.agentvm_exec(FIRST_COMMAND),
                            suite.agentvm_exec(FIRST_COMMAND, restore=True)]}
    if "qemu" in suite.vmms:
        examples["qemu"] = [suite.qemu("reboot"), suite.qemu("shell", "QMP.sock", restore=True)]
    if "kvmtool" in suite.vmms:
        examples["kvmtool"] = [suite.kvmtool("reboot")]
    for vmm, cmds in examples.items():
        lines += [f"  {vmm}: {' '.join(shlex.quote(a) for a in c)}" for c in cmds]
    return "\n".join(lines)


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="agentvm-suite-") as workdir:
        suite = Suite(args, workdir)
        try:
            check_inputs(args, {"agentvm": [args.agentvm_exec], **(
                {} if args.skip_qemu else {"qemu": [args.qemu]}), **(
                {"kvmtool": [args.kvmtool]} if args.kvmtool else {})})
            for what, path in (("agent initramfs", args.agent_initrd), ("exec-rtt", args.exec_rtt),
                               ("snapshot-probe", args.probe),
                               ("kvmtool's bzImage", args.kvmtool_kernel or args.kernel)):
                if not os.path.isfile(path):
                    raise BenchError(f"{what} {path} does not exist (run `ninja -C build`)")
            ctx = machine_context(args)
            suite.make_snapshots()
            results = measure_all(suite, args)
        except BenchError as e:
            print(f"suite: FAILED: {e}", file=sys.stderr)
            return 1
    print(report(ctx, args, suite, results), flush=True)
    if args.json:
        emit_json(args.json, "suite", {"benchmark": "suite", "context": ctx,
                                       "config": {k: v for k, v in vars(args).items()},
                                       "results": results})
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
