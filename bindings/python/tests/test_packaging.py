"""The package as a user installs it: `pip install ./bindings/python` offline, into a venv; no KVM needed."""

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    path = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


def pip_install(venv, target):
    # --no-index proves the build needs nothing from a package index.
    subprocess.run([str(venv / "bin" / "pip"), "install", "--no-index", "--quiet", str(target)],
                   check=True)


def run_python(venv, code, **env):
    environ = {k: v for k, v in os.environ.items() if k not in ("AGENTVM_LIBRARY", "PYTHONPATH")}
    environ.update(env)
    return subprocess.run([str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True,
                          env=environ, cwd="/")


def test_pip_install_from_the_source_directory(venv):
    pip_install(venv, PROJECT)
    library = os.environ["AGENTVM_LIBRARY"]
    r = run_python(venv, "import agentvm; print(agentvm.__version__, agentvm.version(), agentvm.__file__)",
                   AGENTVM_LIBRARY=library)
    assert r.returncode == 0, r.stderr
    package_version, library_version, location = r.stdout.split()
    assert package_version == library_version == "0.1.0"
    assert location.startswith(str(venv))
    installed = Path(location).parent
    assert (installed / "py.typed").exists()


def test_missing_library_is_a_clear_error(venv):
    pip_install(venv, PROJECT)
    code = "import agentvm\ntry:\n    agentvm.version()\nexcept agentvm.LibraryNotFound as e:\n    print(e)"
    r = run_python(venv, code, AGENTVM_LIBRARY="/no/such/libagentvm.so")
    assert r.returncode == 0, r.stderr
    assert "/no/such/libagentvm.so" in r.stdout and "AGENTVM_LIBRARY" in r.stdout


def test_sdist_builds_and_installs(venv, tmp_path):
    sys.path.insert(0, str(PROJECT / "build_backend"))
    try:
        import agentvm_backend
    finally:
        sys.path.pop(0)
    name = agentvm_backend.build_sdist(str(tmp_path))
    with tarfile.open(tmp_path / name) as tar:
        names = tar.getnames()
    for member in ("pyproject.toml", "PKG-INFO", "agentvm/sandbox.py", "build_backend/agentvm_backend.py"):
        assert f"agentvm-0.1.0/{member}" in names
    pip_install(venv, tmp_path / name)
