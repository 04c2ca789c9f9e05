"""A VMM process driven through its console, and QEMU's QMP socket: how bench/suite.py runs
commands in peers that have no agent (the test initramfs's `agentvm.test=shell` runs each console
line and prints a done marker), and saves and restores QEMU.

Standard library only.
"""
import json
import os
import selectors
import socket
import subprocess
import time

from benchlib import BenchError, tail

SHELL_READY = b"AGENTVM-SHELL-READY"
SHELL_DONE = b"AGENTVM-DONE"


class Session:
    """One VMM process whose stdin and stdout are the guest's console. Times are seconds since
    the spawn. Use as a context manager: leaving it kills the process and reaps it."""

    def __init__(self, argv, timeout, tty=False, env=None):
        """tty: give the VMM a pseudo-terminal as its stdin and stdout, for a VMM that reads
        its console only from a terminal (kvmtool); else pipes."""
        self.argv = argv
        self.timeout = timeout
        self.out = bytearray()
        self.err = bytearray()
        self.seen = 0  # console bytes already matched by wait_for
        self.arrived = 0.0  # when the last console bytes came
        self.t0 = time.monotonic()
        if tty:
            master, slave = os.openpty()
            self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                                         env=env)
            os.close(slave)
            self.console_in = self.console_out = os.fdopen(master, "r+b", buffering=0)
        else:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, env=env)
            self.console_in, self.console_out = self.proc.stdin, self.proc.stdout
        os.set_blocking(self.console_out.fileno(), False)
        os.set_blocking(self.proc.stderr.fileno(), False)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.console_out, selectors.EVENT_READ, self.out)
        self.sel.register(self.proc.stderr, selectors.EVENT_READ, self.err)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pid(self):
        return self.proc.pid

    def elapsed(self):
        return time.monotonic() - self.t0

    def fail(self, what):
        return BenchError(f"{what}\n  console (end):\n{tail(self.out)}\n  stderr (end):\n"
                          f"{tail(self.err)}")

    def wait_for(self, marker):
        """Waits until marker appears on the console after what earlier waits matched; returns
        the time since the spawn at which it arrived."""
        deadline = time.monotonic() + self.timeout
        while True:
            at = self.out.find(marker, self.seen)
            if at >= 0:
                self.seen = at + len(marker)
                return self.arrived
            left = deadline - time.monotonic()
            if left <= 0:
                raise self.fail(f"no {marker.decode().strip()!r} within {self.timeout:g} s")
            if not self.sel.get_map():
                raise self.fail(f"the VMM ended (status {self.proc.wait()}) before "
                                f"{marker.decode().strip()!r}")
            for key, _ in self.sel.select(left):
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:  # EIO: the terminal's other side has closed
                    chunk = b""
                if not chunk:
                    self.sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
                self.arrived = time.monotonic() - self.t0

    def send(self, line):
        self.console_in.write(line + b"\n")
        self.console_in.flush()

    def run(self, command):
        """Runs one command line in the guest's console shell; returns its round trip."""
        t = time.monotonic()
        self.send(command)
        self.wait_for(SHELL_DONE)
        return time.monotonic() - t

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.sel.close()
        for f in {self.console_in, self.console_out, self.proc.stderr}:
            try:
                f.close()
            except BrokenPipeError:
                pass


class QMP:
    """A QEMU monitor connection (QMP, JSON lines over a Unix socket)."""

    def __init__(self, path, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > deadline:
                    raise BenchError(f"QEMU's QMP socket {path} never accepted") from None
                time.sleep(0.01)
        self.sock.settimeout(timeout)
        self.file = self.sock.makefile("rwb")
        self._read()  # the greeting
        self.command("qmp_capabilities")

    def _read(self):
        line = self.file.readline()
        if not line:
            raise BenchError("QEMU closed its QMP socket")
        return json.loads(line)

    def command(self, name, **arguments):
        self.file.write(json.dumps({"execute": name, "arguments": arguments}).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise BenchError(f"QMP {name}: {reply['error'].get('desc')}")
            # Anything else is an asynchronous event; not needed here.

    def wait_status(self, status, timeout):
        deadline = time.monotonic() + timeout
        while self.command("query-status")["status"] != status:
            if time.monotonic() > deadline:
                raise BenchError(f"QEMU never reached status {status!r}")
            time.sleep(0.005)

    def close(self):
        self.file.close()
        self.sock.close()


def qemu_save(argv, qmp_path, snapshot, timeout):
    """Boots QEMU (argv must boot agentvm.test=shell and have -qmp on qmp_path), runs one
    command, migrates the running guest into the file snapshot, and ends QEMU: QEMU's
    counterpart of a snapshot taken after a sandbox's first command."""
    with Session(argv, timeout) as s:
        s.wait_for(SHELL_READY)
        s.run(b"/bin/busybox true")
        qmp = QMP(qmp_path, timeout)
        try:
            qmp.command("migrate", uri=f"exec:cat > {snapshot}")
            deadline = time.monotonic() + timeout
            while (state := qmp.command("query-migrate").get("status")) != "completed":
                if state == "failed" or time.monotonic() > deadline:
                    raise s.fail(f"QEMU's migration to {snapshot} ended as {state!r}")
                time.sleep(0.02)
        finally:
            qmp.close()
