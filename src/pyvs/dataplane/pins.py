"""Where the data plane's state lives: pinned maps under /sys/fs/bpf/pyvs/.

Each network namespace has its own directory (its directors are its own),
named after the namespace's inode and cookie: /sys/fs/bpf/pyvs/net<inode>-<cookie>/
(pyvs.netns: the kernel reuses inode numbers, never cookies, so a new
namespace never finds a deleted one's services). A directory outlives its
namespace; `stale_dirs()` finds those whose namespace is gone
(`pyvs director prune` removes them). Set PYVS_BPF_ROOT to use another base
(tests do, to stay apart).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from pyvs import netns

BPFFS = Path("/sys/fs/bpf")
JOURNAL_DIR = Path("/run/pyvs/journal")


def base_dir() -> Path:
    return Path(os.environ.get("PYVS_BPF_ROOT", str(BPFFS / "pyvs")))


def netns_dir(identity: netns.NetnsIdentity | None = None) -> Path:
    """The directory of pinned maps of a network namespace (default: this thread's)."""
    return base_dir() / (identity or netns.identity()).name


def journal_path(directory: Path) -> Path:
    """Where the change journal of the maps pinned in `directory` lives (bpffs holds no files)."""
    return JOURNAL_DIR / (str(directory).strip("/").replace("/", "_") + ".json")


def remove_state(directory: Path) -> None:
    """Unpin the maps in `directory` and drop their journal."""
    remove_dir(directory)
    journal_path(directory).unlink(missing_ok=True)


DIR_NAME = re.compile(r"net(\d+)(?:-(\d+))?")


def stale_dirs() -> list[Path]:
    """Pin directories whose namespace is gone: no namespace this process can see has
    their inode, or the one that has it has another cookie (it reuses a dead one's number)."""
    live = netns.visible()
    stale = []
    for directory in sorted(base_dir().glob("net*")):
        named = DIR_NAME.fullmatch(directory.name)
        if named is None or not directory.is_dir():
            continue
        inode, cookie = int(named[1]), named[2]
        path = live.get(inode)
        if path is None or (cookie is not None and netns.identity_of(path).cookie != int(cookie)):
            stale.append(directory)
    return stale


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
