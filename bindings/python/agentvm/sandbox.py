"""Sandbox: one KVM microVM, its commands, files and snapshots (the C API's agentvm_vm)."""

import ctypes
import enum
import errno
import os
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Callable, Dict, Iterable, List, Optional, Sequence, Union

from . import _lib
from ._lib import call, lib
from .errors import Cancelled, CommandTimeout, Error, VMStopped

if TYPE_CHECKING:
    from .stream import Stream  # imports this module: only for the annotation

__all__ = ["Sandbox", "Disk", "Result", "ExitReason", "DEFAULT_ENV", "STDOUT", "STDERR"]

STDOUT = 1
STDERR = 2

#: The environment a command gets when ``env`` is not given (agentvm.h's default).
DEFAULT_ENV: Dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
}

DEFAULT_KERNEL = "/usr/local/share/agentvm/vmlinux"
DEFAULT_INITRD = "/usr/local/share/agentvm/initrd.cpio.gz"

#: read_file()'s default size limit.
READ_LIMIT_DEFAULT = 64 * 1024 * 1024

OutputCallback = Callable[[int, bytes], None]
Console = Union[None, int, IO, Callable[[bytes], None]]
Stdin = Union[None, bytes, str, IO]
PathLike = Union[str, "os.PathLike[str]"]


class ExitReason(enum.IntEnum):
    """Why a VM ended (agentvm_exit_reason)."""

    POWEROFF = 1
    REBOOT = 2
    KILLED = 3
    CRASH = 4


@dataclass(frozen=True)
class Disk:
    """A raw disk image attached as virtio-blk: /dev/vda, /dev/vdb, ... in the order given."""

    path: PathLike
    read_only: bool = False
    root: bool = False

    def flags(self) -> int:
        return (_lib.DISK_READ_ONLY if self.read_only else 0) | (_lib.DISK_ROOT if self.root else 0)


@dataclass(frozen=True)
class Result:
    """How a command ended, what it printed, and what it cost (a receipt)."""

    exit_code: int
    """0..255; 127/126 when the program could not be run; -1 when a signal ended it."""
    signal: int
    """The signal that ended it, else 0."""
    stdout: bytes
    stderr: bytes
    timed_out: bool
    """The timeout expired and the command was killed (exec() raises CommandTimeout then)."""
    stdout_truncated: bool
    stderr_truncated: bool
    not_started: bool
    """The program could not be executed; ``error`` holds execve's errno."""
    error: int
    guest_pid: int
    wall_time: float
    """Seconds from the command's start to its end, on the guest's clock."""
    user_time: float
    sys_time: float
    max_rss_kib: int
    host_time: float
    """Seconds the host spent in the call, round trip included."""

    @property
    def ok(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0 and self.signal == 0


def _path_bytes(path: PathLike) -> bytes:
    return os.fsencode(path)


def _agent_timeout_ms(seconds: Optional[float]) -> Optional[int]:
    if seconds is None:
        return None
    return int(seconds * 1000)


class _Config:
    """An agentvm_config, freed when the with-block ends."""

    def __init__(self) -> None:
        self.handle = ctypes.c_void_p()
        call("agentvm_config_new", ctypes.byref(self.handle))
        # CFUNCTYPE objects C may call later; the VM keeps them once it exists.
        self.callbacks: List[object] = []

    def __enter__(self) -> "_Config":
        return self

    def __exit__(self, *exc: object) -> None:
        lib().agentvm_config_free(self.handle)

    def set(self, setter: str, value: object) -> None:
        call(f"agentvm_config_set_{setter}", self.handle, value)

    def apply(
        self,
        console: Console,
        disks: Iterable[Union[Disk, PathLike]],
        vsock_cid: Optional[int],
        agent_timeout: Optional[float],
    ) -> None:
        """The options a restore also honours; the others are set by the caller."""
        self._set_console(console)
        for disk in disks:
            if not isinstance(disk, Disk):
                disk = Disk(disk)
            call("agentvm_config_add_disk", self.handle, _path_bytes(disk.path), disk.flags())
        if vsock_cid is not None:
            self.set("vsock_cid", vsock_cid)
        timeout_ms = _agent_timeout_ms(agent_timeout)
        if timeout_ms is not None:
            self.set("agent_timeout_ms", timeout_ms)

    def _set_console(self, console: Console) -> None:
        if console is None:
            return
        if isinstance(console, int):
            self.set("console_fd", console)
        elif hasattr(console, "fileno"):
            self.set("console_fd", console.fileno())
        elif callable(console):
            target = console

            def relay(data: int, length: int, payload: int) -> None:
                target(ctypes.string_at(data, length))

            fn = _lib.CONSOLE_FN(relay)
            self.callbacks.append(fn)
            call("agentvm_config_set_console_callback", self.handle, fn, None)
        else:
            raise TypeError("console must be None, a file descriptor, a file or a callable")


class Sandbox:
    """A disposable KVM microVM with the guest agent, ready to run commands once constructed.

    ::

        with agentvm.Sandbox() as sb:
            print(sb.exec(["uname", "-r"]).stdout)

    Commands may run from several threads at once. ``close()`` (or the end of
    the with-block) kills the VM, waits for calls in flight to return and
    releases everything.
    """

    def __init__(
        self,
        kernel: Optional[PathLike] = None,
        initrd: Optional[PathLike] = None,
        *,
        memory_mib: Optional[int] = None,
        vcpus: Optional[int] = None,
        cmdline: Optional[str] = None,
        disks: Sequence[Union[Disk, PathLike]] = (),
        vsock_cid: Optional[int] = None,
        agent_timeout: Optional[float] = None,
        console: Console = None,
    ) -> None:
        """Create and boot a VM; returns once its agent answers.

        kernel and initrd default to $AGENTVM_KERNEL and $AGENTVM_INITRD, else
        the installed default guest. ``agent_timeout`` is in seconds (library
        default 60); 0 boots a guest without the agent (no exec). ``console``
        receives the guest's console: a file descriptor, a file, or a
        callable taking bytes (called on a vCPU thread: keep it short).
        """
        kernel = kernel or os.environ.get("AGENTVM_KERNEL") or DEFAULT_KERNEL
        initrd = initrd or os.environ.get("AGENTVM_INITRD") or DEFAULT_INITRD
        self._setup()
        with _Config() as cfg:
            call("agentvm_config_set_kernel", cfg.handle, _path_bytes(kernel))
            call("agentvm_config_set_initrd", cfg.handle, _path_bytes(initrd))
            if memory_mib is not None:
                cfg.set("memory_mib", memory_mib)
            if vcpus is not None:
                cfg.set("vcpus", vcpus)
            if cmdline is not None:
                cfg.set("cmdline", cmdline.encode())
            cfg.apply(console, disks, vsock_cid, agent_timeout)
            self._callbacks = cfg.callbacks
            call("agentvm_vm_new", cfg.handle, ctypes.byref(self._vm))
        self._start()

    @classmethod
    def restore(
        cls,
        path: PathLike,
        *,
        disks: Sequence[Union[Disk, PathLike]] = (),
        vsock_cid: Optional[int] = None,
        agent_timeout: Optional[float] = None,
        console: Console = None,
    ) -> "Sandbox":
        """A new VM resumed from a snapshot file, in this process or any other.

        Everything else (memory, vCPUs, kernel, running processes) comes from
        the snapshot. ``disks``: none to reuse the snapshot's, else as many as
        it had, with the same flags and sizes. Clones get the host's wall
        clock and fresh kernel randomness; connections open at the snapshot
        are reset.
        """
        self = cls.__new__(cls)
        self._setup()
        with _Config() as cfg:
            cfg.apply(console, disks, vsock_cid, agent_timeout)
            self._callbacks = cfg.callbacks
            call("agentvm_vm_restore", _path_bytes(path), cfg.handle, ctypes.byref(self._vm))
        self._start()
        return self

    def _setup(self) -> None:
        self._vm = ctypes.c_void_p()
        self._callbacks: List[object] = []
        self._lock = threading.Condition()
        self._in_flight = 0
        self._closing = False

    def _start(self) -> None:
        try:
            call("agentvm_vm_start", self._vm)
        except BaseException:
            self.close()
            raise

    # -- lifetime ---------------------------------------------------------

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A backstop for a forgotten close(); the with-block is the way.
        if getattr(self, "_vm", None):
            self.close()

    @property
    def closed(self) -> bool:
        return not self._vm

    def close(self) -> None:
        """Kill the VM, wait for the calls in flight (they fail with VMStopped), release it. Idempotent."""
        with self._lock:
            if not self._vm or self._closing:
                return
            self._closing = True
            lib().agentvm_vm_kill(self._vm)
            while self._in_flight:
                self._lock.wait()
            vm, self._vm = self._vm, ctypes.c_void_p()
        lib().agentvm_vm_free(vm)
        self._callbacks = []

    def _enter_call(self, function: str) -> ctypes.c_void_p:
        with self._lock:
            if not self._vm or self._closing:
                raise VMStopped(errno.ESHUTDOWN, f"{function}: the sandbox is closed", function)
            self._in_flight += 1
            return self._vm

    def _leave_call(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def kill(self) -> None:
        """Stop the VM now (any thread); wait() then reports ExitReason.KILLED."""
        vm = self._enter_call("agentvm_vm_kill")
        try:
            call("agentvm_vm_kill", vm)
        finally:
            self._leave_call()

    def wait(self, timeout: Optional[float] = None) -> Optional[ExitReason]:
        """Wait until the VM ends, at most timeout seconds (None: forever); None if it still runs."""
        vm = self._enter_call("agentvm_vm_wait")
        reason = ctypes.c_int()
        try:
            ms = -1 if timeout is None else int(timeout * 1000)
            try:
                call("agentvm_vm_wait", vm, ms, ctypes.byref(reason))
            except Error as e:
                if e.errno == errno.ETIMEDOUT:
                    return None
                raise
        finally:
            self._leave_call()
        return ExitReason(reason.value)

    # -- commands ---------------------------------------------------------

    def exec(
        self,
        argv: Sequence[Union[str, bytes]],
        *,
        env: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        stdin: Stdin = None,
        timeout: Optional[float] = None,
        on_output: Optional[OutputCallback] = None,
        capture_limit: Optional[int] = None,
    ) -> Result:
        """Run a command in the guest and wait for it; a non-zero exit is a Result, not an error.

        ``env`` replaces the whole environment (start from DEFAULT_ENV to
        extend it). ``stdin``: bytes or str, or a file (read to its end).
        ``timeout`` in seconds: the command's process group is killed and
        CommandTimeout raised, carrying the Result. ``on_output(stream,
        data)`` sees every chunk as it arrives (stream is STDOUT or STDERR);
        if it raises, the command is killed and the exception re-raised.
        ``capture_limit``: bytes of each stream kept in the Result (default
        64 MiB).
        """
        return self._exec(argv, env, cwd, stdin, timeout, on_output, capture_limit, None)

    def stream(
        self,
        argv: Sequence[Union[str, bytes]],
        *,
        env: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        stdin: Stdin = None,
        timeout: Optional[float] = None,
        capture_limit: Optional[int] = 0,
    ) -> "Stream":
        """Run a command and iterate over its output as it comes: ``(stream, bytes)`` pairs.

        ``for stream, data in sb.stream(["make"]): ...``; the Result is
        ``.result`` once the iteration ended. Leaving the iteration early
        (``close()`` or the end of a with-block) kills the command. By default
        nothing is kept in the Result (the chunks are the output).
        """
        from .stream import Stream

        return Stream(self, argv, env, cwd, stdin, timeout, capture_limit)

    def _exec(self, argv, env, cwd, stdin, timeout, on_output, capture_limit,
              cancel: "Optional[CancelPipe]") -> Result:
        if isinstance(argv, (str, bytes)):
            raise TypeError("argv must be a sequence of arguments, such as ['sh', '-c', script]")
        opts = _lib.ExecOptions()
        call("agentvm_exec_options_init", ctypes.byref(opts))
        keep = []  # everything C points into, alive until the call returns
        args = [a if isinstance(a, bytes) else a.encode() for a in argv]
        opts.argv = keep_ref(keep, _lib.string_array(args))
        if env is not None:
            entries = [f"{k}={v}".encode() for k, v in env.items()]
            opts.envp = keep_ref(keep, _lib.string_array(entries))
        if cwd is not None:
            opts.cwd = cwd.encode()
        if isinstance(stdin, str):
            stdin = stdin.encode()
        if isinstance(stdin, bytes):
            buf = keep_ref(keep, ctypes.create_string_buffer(stdin, len(stdin)))
            opts.stdin_data = ctypes.cast(buf, ctypes.c_void_p)
            opts.stdin_len = len(stdin)
        elif stdin is not None:
            opts.stdin_fd = stdin if isinstance(stdin, int) else stdin.fileno()
        if timeout is not None:
            opts.timeout_ms = max(1, int(timeout * 1000))
        if capture_limit is not None:
            opts.capture_limit = capture_limit
        own_cancel = on_output is not None and cancel is None
        if own_cancel:
            cancel = CancelPipe()
        failure: List[BaseException] = []
        if on_output is not None:

            def relay(stream: int, data: int, length: int, payload: int) -> None:
                if failure:
                    return
                try:
                    on_output(stream, ctypes.string_at(data, length))
                except BaseException as e:  # re-raised once the call returns
                    failure.append(e)
                    cancel.cancel()

            opts.output_fn = keep_ref(keep, _lib.OUTPUT_FN(relay))
        if cancel is not None:
            opts.cancel_fd = cancel.fd
        out = ctypes.POINTER(_lib.ExecResult)()
        vm = self._enter_call("agentvm_vm_exec")
        try:
            call("agentvm_vm_exec", vm, ctypes.byref(opts), ctypes.byref(out))
        except Cancelled:
            if failure:
                raise failure[0] from None
            raise
        finally:
            self._leave_call()
            if own_cancel:
                cancel.close()
        result = _result_of(out.contents)
        lib().agentvm_exec_result_free(out)
        if failure:
            raise failure[0]
        if result.timed_out:
            raise CommandTimeout(
                f"agentvm_vm_exec: {argv[0]!r} ran past its timeout of {timeout} s and was killed",
                result,
            )
        return result

    # -- files ------------------------------------------------------------

    def write_file(self, path: str, data: Union[bytes, str], mode: int = 0o644) -> None:
        """Create or replace a guest file with data and exactly these permission bits."""
        if isinstance(data, str):
            data = data.encode()
        vm = self._enter_call("agentvm_vm_write_file")
        try:
            call("agentvm_vm_write_file", vm, path.encode(), data, len(data), mode)
        finally:
            self._leave_call()

    def read_file(self, path: str, max_size: int = READ_LIMIT_DEFAULT) -> bytes:
        """A guest file's bytes; Error (EFBIG) if it is larger than max_size."""
        buf = ctypes.c_void_p()
        length = ctypes.c_size_t()
        vm = self._enter_call("agentvm_vm_read_file")
        try:
            call("agentvm_vm_read_file", vm, path.encode(), max_size, ctypes.byref(buf),
                 ctypes.byref(length))
        finally:
            self._leave_call()
        try:
            return ctypes.string_at(buf, length.value)
        finally:
            lib().agentvm_buffer_free(buf)

    # -- snapshots --------------------------------------------------------

    def snapshot(self, path: PathLike, *, stop: bool = False, compress: bool = False) -> None:
        """Save the running VM to a file Sandbox.restore() resumes (doc/snapshot-format.md).

        ``stop``: end the VM once saved. ``compress``: zlib, smaller but slower
        to restore and without shared pages between clones. Disks must be
        read-only (Busy otherwise).
        """
        flags = (_lib.SNAPSHOT_STOP if stop else 0) | (_lib.SNAPSHOT_COMPRESS if compress else 0)
        vm = self._enter_call("agentvm_vm_snapshot")
        try:
            call("agentvm_vm_snapshot", vm, _path_bytes(path), flags)
        finally:
            self._leave_call()


class CancelPipe:
    """A pipe whose read end, once written, cancels the execs given it (their cancel_fd)."""

    def __init__(self) -> None:
        self.fd, self._write_fd = os.pipe2(os.O_CLOEXEC)

    def cancel(self) -> None:
        os.write(self._write_fd, b"x")

    def close(self) -> None:
        os.close(self.fd)
        os.close(self._write_fd)


def keep_ref(keep: list, obj):
    """Keep obj alive in keep for as long as C may use it, and return it."""
    keep.append(obj)
    return obj


def _result_of(r: "_lib.ExecResult") -> Result:
    return Result(
        exit_code=r.exit_code,
        signal=r.signal,
        stdout=ctypes.string_at(r.stdout_data, r.stdout_len),
        stderr=ctypes.string_at(r.stderr_data, r.stderr_len),
        timed_out=bool(r.flags & _lib.EXEC_TIMED_OUT),
        stdout_truncated=bool(r.flags & _lib.EXEC_STDOUT_TRUNCATED),
        stderr_truncated=bool(r.flags & _lib.EXEC_STDERR_TRUNCATED),
        not_started=bool(r.flags & _lib.EXEC_NOT_STARTED),
        error=r.error,
        guest_pid=r.guest_pid,
        wall_time=r.wall_us / 1e6,
        user_time=r.user_us / 1e6,
        sys_time=r.sys_us / 1e6,
        max_rss_kib=r.maxrss_kib,
        host_time=r.host_us / 1e6,
    )
