"""Snapshots and clones from Python: state survives, clones are independent, bad files are refused."""

import glob
import time

import pytest

import agentvm


def test_snapshot_restore_and_clones(guest, tmp_path):
    snap = tmp_path / "vm.snap"
    with agentvm.Sandbox(**guest) as sb:
        sb.write_file("/tmp/state", b"before the snapshot")
        sb.snapshot(snap)
        sb.write_file("/tmp/state", b"after the snapshot")  # the template goes on
        assert sb.read_file("/tmp/state") == b"after the snapshot"
    with agentvm.Sandbox.restore(snap) as a, agentvm.Sandbox.restore(str(snap)) as b:
        assert a.read_file("/tmp/state") == b"before the snapshot"
        a.write_file("/tmp/state", b"clone a")
        assert b.read_file("/tmp/state") == b"before the snapshot"
        uuid = "cat /proc/sys/kernel/random/uuid"
        assert a.exec(["sh", "-c", uuid]).stdout != b.exec(["sh", "-c", uuid]).stdout


def test_compressed_snapshot_that_stops(guest, tmp_path):
    snap = tmp_path / "vm.snapz"
    with agentvm.Sandbox(**guest) as sb:
        sb.exec(["sh", "-c", "echo kept > /tmp/kept"])
        sb.snapshot(snap, stop=True, compress=True)
        assert sb.wait(timeout=30) == agentvm.ExitReason.KILLED
    with agentvm.Sandbox.restore(snap) as clone:
        assert clone.read_file("/tmp/kept") == b"kept\n"


def test_bad_snapshots_are_refused(tmp_path):
    with pytest.raises(agentvm.NotFound):
        agentvm.Sandbox.restore(tmp_path / "missing")
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a snapshot" * 1000)
    with pytest.raises(agentvm.Error) as e:
        agentvm.Sandbox.restore(junk)
    assert isinstance(e.value, (agentvm.InvalidArgument, agentvm.BadSnapshot))
    assert str(junk) in str(e.value) or "snapshot" in str(e.value)


def _spare_thread_runs(want: bool) -> bool:
    """Whether this process has a thread named agentvm-spare, waiting up to 10 s for want."""
    for _ in range(1000):
        found = False
        for path in glob.glob("/proc/self/task/*/comm"):
            try:
                with open(path) as f:
                    found = found or f.read().strip() == "agentvm-spare"
            except OSError:
                pass  # the thread ended meanwhile
        if found == want:
            return found
        time.sleep(0.01)
    return not want


def test_spare_vms_serve_restores(guest, tmp_path):
    for bad in (-1, agentvm.MAX_SPARE_VMS + 1):
        with pytest.raises(agentvm.InvalidArgument):
            agentvm.set_spare_vms(bad)
    snap = tmp_path / "vm.snap"
    with agentvm.Sandbox(**guest) as sb:
        sb.write_file("/tmp/state", b"template")
        sb.snapshot(snap)
    agentvm.set_spare_vms(1)
    try:
        assert _spare_thread_runs(True)
        with agentvm.Sandbox.restore(snap) as clone:
            assert clone.read_file("/tmp/state") == b"template"
    finally:
        agentvm.set_spare_vms(0)
    assert not _spare_thread_runs(False)
