"""Where the data plane's state lives: pinned maps under /sys/fs/bpf/pyvs/.

Each network namespace has its own directory (its directors are its own),
named after the namespace's inode: /sys/fs/bpf/pyvs/net<inode>/. Set
PYVS_BPF_ROOT to use another base (tests do, to stay apart).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

BPFFS = Path("/sys/fs/bpf")


def base_dir() -> Path:
    return Path(os.environ.get("PYVS_BPF_ROOT", str(BPFFS / "pyvs")))


def netns_dir(inode: int | None = None) -> Path:
    """The directory of pinned maps of the network namespace with this inode (default: this process's)."""
    if inode is None:
        inode = os.stat("/proc/self/ns/net").st_ino
    return base_dir() / f"net{inode}"


def ensure_bpffs() -> None:
    """Mount bpffs at /sys/fs/bpf when nothing is mounted there yet."""
    with open("/proc/self/mounts") as mounts:
        if any(line.split()[1] == str(BPFFS) and line.split()[2] == "bpf" for line in mounts):
            return
    subprocess.run(["mount", "-t", "bpf", "bpf", str(BPFFS)], check=True, capture_output=True)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the exclusive lock of a pin directory (made if missing): creating its maps and
    editing them happen under it, one writer at a time, as ipvsadm's commands are
    serialised by the kernel."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_dir(path: Path) -> None:
    """Unpin everything under path (unpinning is unlinking in bpffs)."""
    if path.exists():
        shutil.rmtree(path)
