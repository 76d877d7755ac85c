"""The BPF objects build from the Linux UAPI headers and libbpf's alone.

No glibc header may reach a `-target bpf` compilation (glibc describes the
host, and on x86_64 its <sys/socket.h> asks for the i386 multilib's
gnu/stubs-32.h, which a fresh Debian 12 does not have). Each source is
compiled with the production command line plus a dependency list, and every
header it read must be the project's own, or lie under linux/, asm/,
asm-generic/ or bpf/.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pyvs.bpf import build

pytestmark = pytest.mark.needs_clang


def allowed_dirs() -> list[Path]:
    return [build.SOURCE_DIR] + [Path(os.path.realpath(d)) for d in build.header_links().values()]


def dependencies(source: Path, tmp_path: Path) -> list[Path]:
    """Every file clang read to compile `source` with the production flags."""
    depfile = tmp_path / f"{source.stem}.d"
    command = build.compile_command(source, tmp_path / f"{source.stem}.o", "-MD", "-MF", str(depfile))
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    words = depfile.read_text().replace("\\\n", " ").split()[1:]  # after "target.o:"
    return [Path(os.path.realpath(word)) for word in words]


@pytest.mark.parametrize("name", build.OBJECTS)
def test_every_header_is_uapi_libbpf_or_ours(name: str, tmp_path: Path) -> None:
    allowed = allowed_dirs()
    deps = dependencies(build.SOURCE_DIR / f"{name}.bpf.c", tmp_path)
    # the dependency list does name system headers (so the check below is not vacuous)
    assert any(d.is_relative_to(build.SYSTEM_INCLUDE / "linux") for d in deps)
    strays = [d for d in deps if not any(d.is_relative_to(a) for a in allowed)]
    assert strays == []


@pytest.mark.parametrize("header", ["sys/socket.h", "stdio.h", "stdint.h", "gnu/stubs.h"])
def test_libc_headers_are_out_of_reach(header: str, tmp_path: Path) -> None:
    source = tmp_path / "probe.bpf.c"
    source.write_text(f"#include <linux/types.h>\n#include <{header}>\n")
    done = subprocess.run(build.compile_command(source, tmp_path / "probe.o"), capture_output=True, text=True)
    assert done.returncode != 0
    assert f"'{header}' file not found" in done.stderr


def test_header_root_holds_only_the_uapi_and_libbpf_directories() -> None:
    root = build.header_root()
    assert sorted(p.name for p in root.iterdir()) == ["asm", "asm-generic", "bpf", "linux"]
    assert (root / "asm" / "types.h").exists()
