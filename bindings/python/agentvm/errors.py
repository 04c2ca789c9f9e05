"""The exceptions agentvm raises: one class per kind of failure, all of them agentvm.Error.

Every library call returns a negative errno and leaves one sentence naming the
cause; Error carries both (``errno``, ``strerror``), and the subclasses also
derive from the matching builtin (FileNotFoundError, PermissionError,
ValueError, TimeoutError) so that ``except FileNotFoundError`` works too.
"""

import errno as _errno
from typing import Dict, Optional, Type

__all__ = [
    "Error",
    "LibraryNotFound",
    "NotFound",
    "PermissionDenied",
    "InvalidArgument",
    "Busy",
    "Timeout",
    "CommandTimeout",
    "Cancelled",
    "VMStopped",
    "NoAgent",
    "ProtocolError",
    "BadSnapshot",
    "Unsupported",
]


class Error(OSError):
    """A libagentvm call failed: ``errno`` says how, ``strerror`` the library's detail message."""

    def __init__(self, errno: int, message: str, function: Optional[str] = None):
        super().__init__(errno, message)
        self.function = function

    def __str__(self) -> str:
        name = _errno.errorcode.get(self.errno, str(self.errno))
        return f"{self.strerror} [{name}]"


class LibraryNotFound(Error):
    """libagentvm.so could not be loaded; the message lists where it was looked for."""


class NotFound(Error, FileNotFoundError):
    """A path does not exist: the kernel, a disk, a guest file or working directory."""


class PermissionDenied(Error, PermissionError):
    """The host or the guest refused access."""


class InvalidArgument(Error, ValueError):
    """A value out of range or malformed: the message names it."""


class Busy(Error):
    """Already in use: a disk image another VM holds, a VM started twice, a snapshot of a VM with a writable disk."""


class Timeout(Error, TimeoutError):
    """Something did not answer in time, such as the guest agent at start."""


class CommandTimeout(Timeout):
    """The command ran past its timeout and was killed; ``result`` holds what it printed."""

    def __init__(self, message: str, result: "object"):
        super().__init__(_errno.ETIMEDOUT, message, "agentvm_vm_exec")
        self.result = result


class Cancelled(Error):
    """The command was cancelled (an output callback raised, or a stream was closed early)."""


class VMStopped(Error):
    """The VM is not running: it never started, ended, or stopped during the call."""


class NoAgent(Error):
    """The VM has no guest agent (agent_timeout=0), so it cannot run commands or move files."""


class ProtocolError(Error):
    """The guest broke the agent protocol, or speaks a version this library does not."""


class BadSnapshot(Error):
    """The file is not a snapshot this library can restore: corrupt, truncated, another format or architecture."""


class Unsupported(Error):
    """This host cannot do it: no usable /dev/kvm, or a KVM or CPU feature the VM needs is missing."""


_BY_ERRNO: Dict[int, Type[Error]] = {
    _errno.ENOENT: NotFound,
    _errno.EACCES: PermissionDenied,
    _errno.EPERM: PermissionDenied,
    _errno.EINVAL: InvalidArgument,
    _errno.E2BIG: InvalidArgument,
    _errno.EBUSY: Busy,
    _errno.ETIMEDOUT: Timeout,
    _errno.ECANCELED: Cancelled,
    _errno.EHOSTDOWN: VMStopped,
    _errno.ESHUTDOWN: VMStopped,
    _errno.ENOTCONN: NoAgent,
    _errno.EPROTO: ProtocolError,
    _errno.EBADMSG: BadSnapshot,
    _errno.ENOEXEC: BadSnapshot,
    _errno.EPROTONOSUPPORT: BadSnapshot,
    _errno.ENODEV: Unsupported,
    _errno.ENOTSUP: Unsupported,
}


def error_for(err: int, message: str, function: Optional[str] = None) -> Error:
    """The exception for a library call that returned -err with this detail message."""
    cls = _BY_ERRNO.get(err, Error)
    if err == _errno.EPROTONOSUPPORT and function != "agentvm_vm_restore":
        cls = ProtocolError  # the guest agent's protocol version, not a snapshot's format
    return cls(err, message or _errno.errorcode.get(err, "unknown error"), function)
