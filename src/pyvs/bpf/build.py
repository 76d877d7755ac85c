"""Compile the BPF C sources with clang into a cache keyed by their content.

`python -m pyvs.bpf.build` builds everything ahead of time (the README's
set-up does); loaders call `object_path()`, which builds on first use.
Warnings are errors: the objects must compile cleanly.

Rule: a `-target bpf` compilation sees the Linux UAPI headers and libbpf's,
nothing else. `-nostdinc` takes every default include directory away (glibc's
among them: its headers describe the host, not BPF, and on x86_64 they ask for
the i386 multilib's gnu/stubs-32.h), and `-isystem` gives back a directory
holding only links to linux/, asm/, asm-generic/ and bpf/ (`header_root()`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from pyvs.model.errors import LbError

SOURCE_DIR = Path(__file__).resolve().parent
OBJECTS = ("lb_xdp", "estimator_xdp", "decap_xdp", "probe_xdp", "pass_xdp", "layout", "bench_xdp",
           "udpgen_xdp", "maglev_build")
CFLAGS = ("-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-Wextra", "-Werror",
          "-Wno-unused-parameter", "-nostdinc")
SYSTEM_INCLUDE = Path("/usr/include")
# The header directories a BPF source may use, and the Debian package of each.
UAPI_HEADERS = {"linux": "linux-libc-dev", "asm-generic": "linux-libc-dev", "bpf": "libbpf-dev"}


class BuildError(LbError):
    """The BPF programs cannot be compiled here (missing tool or header, or a compiler error)."""


def _cache_root() -> Path:
    return Path(os.environ.get("PYVS_BUILD_DIR", "/var/cache/pyvs/bpf"))


def _source_hash() -> str:
    digest = hashlib.sha256()
    for path in sorted(SOURCE_DIR.glob("*.[ch]")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    digest.update(" ".join(CFLAGS).encode())
    return digest.hexdigest()[:16]


def arch_asm_dir(include: Path = SYSTEM_INCLUDE) -> Path:
    """The architecture's UAPI asm/ directory (Debian: /usr/include/<multiarch>/asm)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = [include / multiarch / "asm"] if multiarch else []
    candidates += sorted(include.glob("*-linux-*/asm")) + [include / "asm"]
    for candidate in candidates:
        if (candidate / "types.h").exists():
            return candidate
    raise BuildError(f"no asm/types.h under {include}: install linux-libc-dev")


def header_links(include: Path = SYSTEM_INCLUDE) -> dict[str, Path]:
    """name -> directory: every header directory a BPF compilation may see."""
    links = {"asm": arch_asm_dir(include)}
    for name, package in UAPI_HEADERS.items():
        if not (include / name).is_dir():
            raise BuildError(f"no {include / name}/: install {package}")
        links[name] = include / name
    return links


def header_root() -> Path:
    """A directory of links to the UAPI and libbpf header directories, and nothing else."""
    links = header_links()
    digest = hashlib.sha256(repr(sorted(links.items())).encode()).hexdigest()[:12]
    root = _cache_root() / f"include-{digest}"
    if root.is_dir():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.with_name(f"{root.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, target in links.items():
        (tmp / name).symlink_to(target)
    try:
        tmp.rename(root)
    except OSError:  # another process made it first
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def compile_command(source: Path, out: Path, *extra: str) -> list[str]:
    """The clang command line that compiles `source` (a .bpf.c) into `out`."""
    clang = shutil.which("clang")
    if clang is None:
        raise BuildError("clang not found: install clang to build the BPF programs")
    return [clang, *CFLAGS, "-isystem", str(header_root()), *extra, "-c", str(source), "-o", str(out)]


def object_path(name: str) -> Path:
    """Path of the compiled object `name` (see OBJECTS), building it if needed."""
    if name not in OBJECTS:
        raise ValueError(f"unknown BPF object {name}")
    out = _cache_root() / _source_hash() / f"{name}.o"
    if not out.exists():
        _compile(name, out)
    return out


def _compile(name: str, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    command = compile_command(SOURCE_DIR / f"{name}.bpf.c", tmp)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"clang failed on {name}.bpf.c:\n{result.stderr}")
    tmp.replace(out)


def main() -> int:
    try:
        for name in OBJECTS:
            print(object_path(name))
    except BuildError as exc:
        print(f"pyvs.bpf.build: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
