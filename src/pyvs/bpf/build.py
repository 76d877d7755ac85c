"""Compile the BPF C sources with clang into a cache keyed by their content.

`python -m pyvs.bpf.build` builds everything ahead of time (the README's
set-up does); loaders call `object_path()`, which builds on first use.
Warnings are errors: the objects must compile cleanly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pyvs.model.errors import DataplaneError

SOURCE_DIR = Path(__file__).resolve().parent
OBJECTS = ("lb_xdp", "decap_xdp", "pass_xdp", "layout", "bench_xdp", "udpgen_xdp", "maglev_build")
CFLAGS = ("-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Wextra", "-Werror",
          "-Wno-unused-parameter")


def _cache_root() -> Path:
    return Path(os.environ.get("PYVS_BUILD_DIR", "/var/cache/pyvs/bpf"))


def _source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.[ch]")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(" ".join(CFLAGS).encode())
    return digest.hexdigest()[:16]


def _include_flags() -> list[str]:
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True)
    arch = multiarch.stdout.strip() if multiarch.returncode == 0 else ""
    return [f"-I/usr/include/{arch}"] if arch else []


def object_path(name: str) -> Path:
    """Path of the compiled object `name` (see OBJECTS), building it if needed."""
    if name not in OBJECTS:
        raise ValueError(f"unknown BPF object {name}")
    out = _cache_root() / _source_hash() / f"{name}.o"
    if not out.exists():
        _compile(name, out)
    return out


def _compile(name: str, out: Path) -> None:
    clang = shutil.which("clang")
    if clang is None:
        raise DataplaneError(2, "clang not found: install clang to build the BPF programs")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = [clang, *CFLAGS, *_include_flags(), "-c", str(SOURCE_DIR / f"{name}.bpf.c"), "-o", str(tmp)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise DataplaneError(22, f"clang failed on {name}.bpf.c:\n{result.stderr}")
    tmp.replace(out)


def main() -> int:
    for name in OBJECTS:
        print(object_path(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
