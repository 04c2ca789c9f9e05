"""agentvm: disposable KVM microVMs for untrusted code, over libagentvm's C API (ctypes).

::

    import agentvm

    with agentvm.Sandbox() as sb:                      # boots; returns once the guest agent answers
        r = sb.exec(["sh", "-c", "echo hi; uname -r"])
        print(r.exit_code, r.stdout.decode())
        sb.snapshot("/tmp/sb.snap")
    clone = agentvm.Sandbox.restore("/tmp/sb.snap")    # milliseconds, shares the snapshot's pages

Every failure raises an agentvm.Error subclass carrying the errno and the
library's one-sentence detail message.
"""

from ._lib import MAX_SPARE_VMS, set_spare_vms, version
from ._version import __version__
from . import errors as _errors
from .errors import *  # noqa: F401,F403 - the exception classes, listed in errors.__all__
from .sandbox import DEFAULT_ENV, STDERR, STDOUT, Disk, ExitReason, Result, Sandbox
from .stream import Stream

__all__ = [
    "__version__",
    "version",
    "set_spare_vms",
    "MAX_SPARE_VMS",
    "Sandbox",
    "Stream",
    "Disk",
    "Result",
    "ExitReason",
    "DEFAULT_ENV",
    "STDOUT",
    "STDERR",
] + _errors.__all__
