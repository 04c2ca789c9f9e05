"""Commands in a real guest: results, stdin, environment, streaming, timeouts, cancellation."""

import errno
import os
import threading

import pytest

import agentvm


def sh(sandbox, script, **kw):
    return sandbox.exec(["sh", "-c", script], **kw)


def sleep_gone(sandbox, tag):
    """True once no guest process runs `sleep <tag>` (the agent kills asynchronously)."""
    r = sh(sandbox, f"for i in $(seq 100); do ps | grep -q '[s]leep {tag}' || exit 0; sleep 0.1; done; exit 1")
    return r.exit_code == 0


def test_boot_console_reaches_the_callback(sandbox, console):
    assert "agentvm-agent: ready" in console.text()


def test_exit_code_and_streams_apart(sandbox):
    r = sh(sandbox, "echo out; echo err >&2; exit 3")
    assert (r.exit_code, r.signal) == (3, 0)
    assert r.stdout == b"out\n"
    assert r.stderr == b"err\n"
    assert not r.ok
    assert r.guest_pid > 1
    assert r.host_time > 0 and r.wall_time >= 0


def test_receipt_measures_the_command(sandbox):
    r = sh(sandbox, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done")
    assert r.ok
    assert r.user_time + r.sys_time > 0
    assert r.max_rss_kib > 0
    assert r.wall_time <= r.host_time


def test_stdin_as_bytes_str_and_file(sandbox, tmp_path):
    assert sandbox.exec(["cat"], stdin=b"\x00bytes\xff").stdout == b"\x00bytes\xff"
    assert sandbox.exec(["cat"], stdin="text").stdout == b"text"
    path = tmp_path / "input"
    path.write_bytes(b"x" * 200000)
    with open(path, "rb") as f:
        assert sandbox.exec(["wc", "-c"], stdin=f).stdout.strip() == b"200000"
    assert sandbox.exec(["cat"]).stdout == b""  # no stdin: /dev/null


def test_env_replaces_and_cwd(sandbox):
    r = sandbox.exec(["sh", "-c", "echo $FOO:$HOME; pwd"], env={**agentvm.DEFAULT_ENV, "FOO": "bar"},
                     cwd="/proc")
    assert r.stdout == b"bar:/root\n/proc\n"
    r = sandbox.exec(["/bin/busybox", "cat", "/proc/self/environ"], env={"A": "1"})
    assert r.stdout == b"A=1\0"


def test_program_not_found_is_a_result(sandbox):
    r = sandbox.exec(["/no/such/program"])
    assert r.not_started and r.exit_code == 127 and r.error == errno.ENOENT


def test_missing_cwd_raises_not_found(sandbox):
    with pytest.raises(agentvm.NotFound) as e:
        sandbox.exec(["true"], cwd="/no/such/dir")
    assert isinstance(e.value, FileNotFoundError)
    assert e.value.errno == errno.ENOENT
    assert e.value.strerror  # the agent's message


def test_bad_input_raises(sandbox):
    with pytest.raises(agentvm.InvalidArgument) as e:
        sandbox.exec([])
    assert "argv" in str(e.value)
    with pytest.raises(agentvm.InvalidArgument) as e:
        sandbox.exec(["true"], env={"": "x"})
    assert "NAME=value" in str(e.value)
    with pytest.raises(TypeError):
        sandbox.exec("echo hi")
    with pytest.raises(agentvm.InvalidArgument):
        sandbox.write_file("/tmp/x", b"", mode=0o10000)


def test_timeout_raises_with_the_partial_result(sandbox):
    with pytest.raises(agentvm.CommandTimeout) as e:
        sh(sandbox, "echo started; sleep 1003", timeout=1)
    assert isinstance(e.value, TimeoutError)
    assert e.value.errno == errno.ETIMEDOUT
    assert e.value.result.timed_out and e.value.result.signal == 9
    assert e.value.result.stdout == b"started\n"
    assert sleep_gone(sandbox, "1003")


def test_on_output_sees_every_chunk_in_order(sandbox):
    chunks = []
    r = sh(sandbox, "seq 1 20000; echo done >&2", on_output=lambda s, d: chunks.append((s, d)))
    out = b"".join(d for s, d in chunks if s == agentvm.STDOUT)
    assert out == r.stdout == "".join(f"{i}\n" for i in range(1, 20001)).encode()
    assert b"".join(d for s, d in chunks if s == agentvm.STDERR) == b"done\n"


def test_failing_callback_kills_the_command_and_raises(sandbox):
    def explode(stream, data):
        raise KeyError("from the callback")

    with pytest.raises(KeyError, match="from the callback"):
        sh(sandbox, "echo go; sleep 1004", on_output=explode)
    assert sleep_gone(sandbox, "1004")


def test_stream_iterates_and_keeps_the_result(sandbox):
    stream = sandbox.stream(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 0.1; done; exit 5"])
    chunks = [data for s, data in stream]
    assert b"".join(chunks) == b"1\n2\n3\n"
    assert stream.result.exit_code == 5
    assert stream.result.stdout == b""  # the chunks were the output


def test_stream_closed_early_kills_the_command(sandbox):
    with sandbox.stream(["sh", "-c", "echo first; sleep 1005"]) as stream:
        assert next(stream) == (agentvm.STDOUT, b"first\n")
    assert stream.result is None
    assert sleep_gone(sandbox, "1005")


def test_stream_raises_the_timeout(sandbox):
    stream = sandbox.stream(["sh", "-c", "echo a; sleep 1006"], timeout=1)
    assert next(stream) == (agentvm.STDOUT, b"a\n")
    with pytest.raises(agentvm.CommandTimeout):
        next(stream)


def test_execs_from_threads_at_once(sandbox):
    results = {}

    def run(i):
        results[i] = sh(sandbox, f"sleep 0.5; echo {i}").stdout

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"{i}\n".encode() for i in range(6)}


def test_files_round_trip_with_mode(sandbox):
    data = os.urandom(300000)
    sandbox.write_file("/tmp/blob", data, mode=0o640)
    assert sandbox.read_file("/tmp/blob") == data
    assert sh(sandbox, "stat -c %a /tmp/blob").stdout == b"640\n"
    sandbox.write_file("/tmp/text", "héllo")
    assert sandbox.read_file("/tmp/text") == "héllo".encode()


def test_file_errors(sandbox):
    with pytest.raises(agentvm.NotFound):
        sandbox.read_file("/no/such/file")
    with pytest.raises(agentvm.NotFound):
        sandbox.write_file("/no/such/dir/file", b"x")
    sandbox.write_file("/tmp/big", b"y" * 100)
    with pytest.raises(agentvm.Error) as e:
        sandbox.read_file("/tmp/big", max_size=10)
    assert e.value.errno == errno.EFBIG
