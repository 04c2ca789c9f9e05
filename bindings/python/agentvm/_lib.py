"""Loading libagentvm.so and declaring its C API (include/agentvm.h) for ctypes.

The library is looked for, in order: the file $AGENTVM_LIBRARY names; the
meson build directory of the source tree this package sits in (so that the
tests and a checkout work without installing); the system's library path.
It is loaded on first use, so that ``import agentvm`` never fails.
"""

import ctypes
import errno
import os
import threading
from pathlib import Path
from typing import List, Optional

from .errors import LibraryNotFound, error_for

SONAME = "libagentvm.so.0"

# The exec options layout these declarations describe (agentvm.h AGENTVM_EXEC_OPTIONS_VERSION).
EXEC_OPTIONS_VERSION = 2
CAPTURE_DEFAULT = 64 * 1024 * 1024

# agentvm.h flags.
DISK_READ_ONLY = 1 << 0
DISK_ROOT = 1 << 1
EXEC_TIMED_OUT = 1 << 0
EXEC_STDOUT_TRUNCATED = 1 << 1
EXEC_STDERR_TRUNCATED = 1 << 2
EXEC_NOT_STARTED = 1 << 3
SNAPSHOT_STOP = 0x1
SNAPSHOT_COMPRESS = 0x2

OUTPUT_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)
CONSOLE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p)


class ExecOptions(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("argv", ctypes.POINTER(ctypes.c_char_p)),
        ("envp", ctypes.POINTER(ctypes.c_char_p)),
        ("cwd", ctypes.c_char_p),
        ("stdin_data", ctypes.c_void_p),
        ("stdin_len", ctypes.c_size_t),
        ("stdin_fd", ctypes.c_int),
        ("timeout_ms", ctypes.c_uint32),
        ("capture_limit", ctypes.c_size_t),
        ("output_fn", OUTPUT_FN),
        ("output_payload", ctypes.c_void_p),
        ("cancel_fd", ctypes.c_int),
    ]


class ExecResult(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("exit_code", ctypes.c_int32),
        ("signal", ctypes.c_int32),
        ("error", ctypes.c_int32),
        ("guest_pid", ctypes.c_uint32),
        ("stdout_data", ctypes.c_void_p),
        ("stdout_len", ctypes.c_size_t),
        ("stderr_data", ctypes.c_void_p),
        ("stderr_len", ctypes.c_size_t),
        ("wall_us", ctypes.c_uint64),
        ("user_us", ctypes.c_uint64),
        ("sys_us", ctypes.c_uint64),
        ("maxrss_kib", ctypes.c_uint64),
        ("host_us", ctypes.c_uint64),
    ]


_P = ctypes.c_void_p  # every opaque handle
_PP = ctypes.POINTER(ctypes.c_void_p)

# name: (restype, argtypes); int-returning calls are checked by call().
_PROTOTYPES = {
    "agentvm_version": (ctypes.c_char_p, []),
    "agentvm_version_number": (ctypes.c_uint32, []),
    "agentvm_last_error": (ctypes.c_char_p, []),
    "agentvm_set_spare_vms": (ctypes.c_int, [ctypes.c_uint32]),
    "agentvm_config_new": (ctypes.c_int, [_PP]),
    "agentvm_config_free": (None, [_P]),
    "agentvm_config_set_kernel": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "agentvm_config_set_initrd": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "agentvm_config_set_cmdline": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "agentvm_config_set_vcpus": (ctypes.c_int, [_P, ctypes.c_uint32]),
    "agentvm_config_set_memory_mib": (ctypes.c_int, [_P, ctypes.c_uint32]),
    "agentvm_config_set_console_fd": (ctypes.c_int, [_P, ctypes.c_int]),
    "agentvm_config_set_console_callback": (ctypes.c_int, [_P, CONSOLE_FN, ctypes.c_void_p]),
    "agentvm_config_add_disk": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32]),
    "agentvm_config_set_vsock_cid": (ctypes.c_int, [_P, ctypes.c_uint32]),
    "agentvm_config_set_agent_timeout_ms": (ctypes.c_int, [_P, ctypes.c_int32]),
    "agentvm_vm_new": (ctypes.c_int, [_P, _PP]),
    "agentvm_vm_start": (ctypes.c_int, [_P]),
    "agentvm_vm_wait": (ctypes.c_int, [_P, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]),
    "agentvm_vm_kill": (ctypes.c_int, [_P]),
    "agentvm_vm_free": (None, [_P]),
    "agentvm_exec_options_init": (ctypes.c_int, [ctypes.POINTER(ExecOptions)]),
    "agentvm_vm_exec": (
        ctypes.c_int,
        [_P, ctypes.POINTER(ExecOptions), ctypes.POINTER(ctypes.POINTER(ExecResult))],
    ),
    "agentvm_exec_result_free": (None, [ctypes.POINTER(ExecResult)]),
    "agentvm_vm_write_file": (
        ctypes.c_int,
        [_P, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32],
    ),
    "agentvm_vm_read_file": (
        ctypes.c_int,
        [_P, ctypes.c_char_p, ctypes.c_size_t, _PP, ctypes.POINTER(ctypes.c_size_t)],
    ),
    "agentvm_buffer_free": (None, [ctypes.c_void_p]),
    "agentvm_vm_snapshot": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32]),
    "agentvm_vm_restore": (ctypes.c_int, [ctypes.c_char_p, _P, _PP]),
}


def _candidates() -> List[str]:
    """Where to look for the library, most specific first."""
    explicit = os.environ.get("AGENTVM_LIBRARY")
    if explicit:
        return [explicit]
    found = []
    # Run from a checkout (bindings/python/agentvm/_lib.py): its meson build directory.
    root = Path(__file__).resolve().parents[3]
    build = root / "build" / "lib" / SONAME
    if (root / "meson.build").exists() and build.exists():
        found.append(str(build))
    found.append(SONAME)
    return found


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library with every prototype declared; LibraryNotFound if there is none."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = _load()
        return _lib


def _load() -> ctypes.CDLL:
    tried = []
    for path in _candidates():
        try:
            handle = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
            continue
        for name, (restype, argtypes) in _PROTOTYPES.items():
            fn = getattr(handle, name)
            fn.restype = restype
            fn.argtypes = argtypes
        return handle
    raise LibraryNotFound(
        errno.ENOENT,
        "cannot load libagentvm: tried "
        + "; ".join(tried)
        + ". Install the library (meson install) or set AGENTVM_LIBRARY to its path.",
    )


def call(name: str, *args) -> int:
    """Call an int-returning function; a negative result raises the matching agentvm.Error.

    The detail message is read right after, on the same thread: it is thread-local in C.
    """
    handle = lib()
    rc = getattr(handle, name)(*args)
    if rc < 0:
        message = handle.agentvm_last_error().decode("utf-8", "replace")
        raise error_for(-rc, message, name)
    return rc


def string_array(items: List[bytes]) -> "ctypes.Array[ctypes.c_char_p]":
    """A NULL-terminated char *[] of the given byte strings (kept alive by the array)."""
    return (ctypes.c_char_p * (len(items) + 1))(*items, None)


def version() -> str:
    """The loaded library's version string, "MAJOR.MINOR.PATCH"."""
    return lib().agentvm_version().decode()


MAX_SPARE_VMS = 8  # AGENTVM_MAX_SPARE_VMS


def set_spare_vms(count: int) -> None:
    """Keep count KVM VMs created ahead of need in this process (0 to MAX_SPARE_VMS).

    Sandbox() and Sandbox.restore() then take one instead of creating their own, and a
    library thread creates the next in the background: on Linux 6.1-6.12 creating a VM
    waits for an RCU grace period, the longest single step of a restore. The same thread
    closes what close() leaves of a VM (KVM's teardown waits too). Each spare holds two
    descriptors and a KVM VM; 0, the default, closes them.
    """
    if not 0 <= count <= MAX_SPARE_VMS:
        message = f"{count} spare VMs asked for; 0 to {MAX_SPARE_VMS} are possible"
        raise error_for(errno.EINVAL, message, "agentvm_set_spare_vms")
    call("agentvm_set_spare_vms", count)

