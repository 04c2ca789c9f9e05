"""Fixtures: the guest the tests boot (meson passes its kernel and agent initramfs) and one shared sandbox."""

import faulthandler
import os
import threading

import pytest

import agentvm


# A guest that stops answering (tests/vmhost/README.md, "Guests that fail") would hang the run until
# meson's timeout: past 300 s (the suite takes under a minute in the test host), print every
# thread's stack and exit, so the test host can try again.
faulthandler.dump_traceback_later(300, exit=True)


def _guest_file(var: str) -> str:
    path = os.environ.get(var, "")
    if not path or not os.path.isfile(path):
        pytest.fail(f"{var} must name the test guest's file (got {path!r}); run the tests through meson")
    return path


@pytest.fixture(scope="session")
def guest():
    """Keyword arguments of Sandbox() for the test guest."""
    return {
        "kernel": _guest_file("AGENTVM_TEST_KERNEL"),
        "initrd": _guest_file("AGENTVM_TEST_AGENT_INITRD"),
    }


class Console:
    """Collects what the guest writes to its console (called on a vCPU thread)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.data = bytearray()

    def __call__(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk

    def text(self) -> str:
        with self.lock:
            return self.data.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def console():
    return Console()


@pytest.fixture(scope="module")
def sandbox(guest, console):
    """One booted sandbox per test module: boots are the slow part under the nested test host."""
    with agentvm.Sandbox(**guest, vcpus=2, console=console) as sb:
        yield sb
