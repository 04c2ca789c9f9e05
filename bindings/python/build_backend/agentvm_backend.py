"""A PEP 517 build backend for the agentvm package: a pure-Python wheel and an sdist, nothing else.

It exists so that ``pip install ./bindings/python`` needs no build tool from
a package index (setuptools et al. are not reachable everywhere we build).
The package's metadata is here, its version in agentvm/_version.py.
"""

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path

NAME = "agentvm"
SUMMARY = "Disposable KVM microVMs for untrusted code: Python bindings of libagentvm"
REQUIRES_PYTHON = ">=3.8"
LICENSE = "Apache-2.0"
TAG = "py3-none-any"

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / NAME


def _version() -> str:
    text = (PACKAGE / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if not match:
        raise RuntimeError(f"no __version__ in {PACKAGE / '_version.py'}")
    return match.group(1)


def _metadata() -> str:
    readme = (ROOT / "README.md").read_text()
    return (
        "Metadata-Version: 2.1\n"
        f"Name: {NAME}\n"
        f"Version: {_version()}\n"
        f"Summary: {SUMMARY}\n"
        f"License: {LICENSE}\n"
        f"Requires-Python: {REQUIRES_PYTHON}\n"
        "Description-Content-Type: text/markdown\n"
        "\n" + readme
    )


def _package_files():
    """The files the wheel installs: the package's modules and its py.typed marker."""
    return sorted(p for p in PACKAGE.rglob("*") if p.is_file() and (p.suffix == ".py" or p.name == "py.typed"))


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    dist_info = f"{NAME}-{version}.dist-info"
    wheel_name = f"{NAME}-{version}-{TAG}.whl"
    entries = [(p.relative_to(ROOT).as_posix(), p.read_bytes()) for p in _package_files()]
    entries.append((f"{dist_info}/METADATA", _metadata().encode()))
    entries.append((
        f"{dist_info}/WHEEL",
        f"Wheel-Version: 1.0\nGenerator: agentvm_backend\nRoot-Is-Purelib: true\nTag: {TAG}\n".encode(),
    ))
    record = [_record_line(name, data) for name, data in entries]
    record.append(f"{dist_info}/RECORD,,")
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as whl:
        for name, data in entries:
            whl.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                         zipfile.ZIP_DEFLATED)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    base = f"{NAME}-{_version()}"
    files = [ROOT / "pyproject.toml", ROOT / "README.md", Path(__file__).resolve()]
    files += _package_files()
    files += sorted(p for p in (ROOT / "tests").glob("*.py"))
    pkg_info = _metadata().encode()
    name = f"{base}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            tar.add(path, arcname=f"{base}/{path.relative_to(ROOT).as_posix()}")
        info = tarfile.TarInfo(f"{base}/PKG-INFO")
        info.size = len(pkg_info)
        tar.addfile(info, io.BytesIO(pkg_info))
    return name
