"""When a VMM's guest first ran: the first kvm_entry event (a VM entry, so the guest's first
instruction) of any thread of the VMM's process, read from the kernel's tracefs with the trace
clock on CLOCK_MONOTONIC, the clock benchlib.run_vmm() times with. This separates the VMM's
own start (process, KVM setup, loading the kernel; for QEMU also its firmware's first
instruction) from the guest's boot, which both VMMs share. It needs root and KVM's trace
events; without them FirstEntry.available is False and the suite leaves the row empty. It
records in a trace instance of its own, removed at exit, so the system's tracer and its
settings are left alone."""

import atexit
import os
import re
import subprocess

TRACEFS = "/sys/kernel/tracing"
INSTANCE = os.path.join(TRACEFS, "instances", f"agentvm-bench-{os.getpid()}")
# "agentvm-vcpu0-1234  (   1230) [001] d.... 1234.567890: kvm_entry: vcpu 0, rip 0x..."
ENTRY = re.compile(r"\(\s*(\d+)\)\s+\[\d+\]\s+\S+\s+([\d.]+): kvm_entry:")


def remove_instance():
    try:
        os.rmdir(INSTANCE)
    except OSError:
        pass  # gone with the test host, or still busy: nothing to do at exit


class FirstEntry:
    def __init__(self):
        self.pid = self.t0 = None
        self.available = self._setup()

    def _write(self, name, value):
        with open(os.path.join(INSTANCE, name), "w") as f:
            f.write(value)

    def _setup(self):
        if os.geteuid() != 0:
            return False
        try:
            if not os.path.exists(os.path.join(TRACEFS, "instances")):
                subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True,
                               capture_output=True)
            if not os.path.exists(os.path.join(TRACEFS, "events/kvm/kvm_entry")):
                return False
            os.mkdir(INSTANCE)
            atexit.register(remove_instance)
            self._write("tracing_on", "0")
            self._write("trace_clock", "mono")
            self._write("options/record-tgid", "1")  # each line names the thread's process
            return True
        except (OSError, subprocess.CalledProcessError):
            return False

    def arm(self):
        """Start recording VM entries, from an empty buffer."""
        self.pid = self.t0 = None
        self._write("tracing_on", "0")
        self._write("trace", "")
        self._write("events/kvm/kvm_entry/enable", "1")
        self._write("tracing_on", "1")

    def on_spawn(self, pid, t0):
        self.pid, self.t0 = pid, t0

    def first_entry_s(self):
        """Seconds from the spawn to the VMM's first VM entry; None if none was recorded."""
        self._write("tracing_on", "0")
        self._write("events/kvm/kvm_entry/enable", "0")
        with open(os.path.join(INSTANCE, "trace")) as f:
            for line in f:
                m = ENTRY.search(line)
                if m and int(m.group(1)) == self.pid:
                    return float(m.group(2)) - self.t0
        return None
