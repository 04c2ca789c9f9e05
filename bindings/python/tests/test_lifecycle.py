"""Sandboxes coming and going: bad configurations, no agent, kill/wait, close with calls in flight."""

import errno
import threading
import time

import pytest

import agentvm


def test_bad_configuration_raises_before_booting(guest):
    with pytest.raises(agentvm.InvalidArgument) as e:
        agentvm.Sandbox(**guest, memory_mib=1)
    assert isinstance(e.value, ValueError) and "MiB" in str(e.value)
    with pytest.raises(agentvm.InvalidArgument):
        agentvm.Sandbox(**guest, vcpus=0)
    with pytest.raises(FileNotFoundError) as e:
        agentvm.Sandbox(kernel="/no/such/vmlinux", initrd=guest["initrd"])
    assert "/no/such/vmlinux" in str(e.value)
    with pytest.raises(agentvm.NotFound):
        agentvm.Sandbox(**guest, disks=["/no/such/disk.img"])
    with pytest.raises(TypeError):
        agentvm.Sandbox(**guest, console=3.5)


def test_without_agent_exec_is_refused(guest):
    with agentvm.Sandbox(**guest, agent_timeout=0) as sb:
        with pytest.raises(agentvm.NoAgent):
            sb.exec(["true"])


def test_kill_wait_and_close(guest):
    sb = agentvm.Sandbox(**guest)
    assert sb.wait(timeout=0) is None
    sb.kill()
    assert sb.wait(timeout=30) == agentvm.ExitReason.KILLED
    with pytest.raises(agentvm.VMStopped):
        sb.exec(["true"])
    sb.close()
    sb.close()  # idempotent
    assert sb.closed
    with pytest.raises(agentvm.VMStopped) as e:
        sb.exec(["true"])
    assert e.value.errno == errno.ESHUTDOWN


def test_close_ends_calls_in_flight(guest):
    sb = agentvm.Sandbox(**guest)
    errors = []

    def run():
        try:
            sb.exec(["sleep", "1000"])
        except agentvm.Error as e:
            errors.append(e)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(1)
    sb.close()
    t.join(timeout=30)
    assert not t.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], agentvm.VMStopped)


def test_guest_reboot_ends_the_vm(guest):
    with agentvm.Sandbox(**guest) as sb:
        with pytest.raises(agentvm.Error):
            sb.exec(["reboot", "-f"])
        assert sb.wait(timeout=60) == agentvm.ExitReason.REBOOT
