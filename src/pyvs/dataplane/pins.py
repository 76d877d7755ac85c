"""Where the data plane's state lives: pinned maps under /sys/fs/bpf/pyvs/.

Each network namespace has its own directory (its directors are its own),
named after the namespace's inode and cookie: /sys/fs/bpf/pyvs/net<inode>-<cookie>/
(pyvs.netns: the kernel reuses inode numbers, never cookies, so a new
namespace never finds a deleted one's services). A directory outlives its
namespace; `stale_dirs()` finds those whose namespace is gone
(`pyvs director prune` removes them). Set PYVS_BPF_ROOT to use another base
(tests do, to stay apart).

Rule: pyvs keeps state only where root alone can change it. bpffs' own root
is world-writable (mode 1777), so another user could make /sys/fs/bpf/pyvs
first and later move root's maps away: check() refuses a pin directory, and
every directory between bpffs' mount root and it (a directory on no bpffs
too), that is not root's or that
group or others may write in (the mount root itself may be world-writable
when it is sticky, as bpffs makes it), or that is a symbolic link; make()
then creates the missing ones, mode 0700. The kernel pins maps mode 0600.
Only root may use the state at all (PinDirError, "you must be root").
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

from pyvs import netns
from pyvs.model.errors import LbError

BPFFS = Path("/sys/fs/bpf")
JOURNAL_DIR = Path("/run/pyvs/journal")


PRIVATE_DIR_MODE = 0o700
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class PinDirError(LbError):
    """A pin directory pyvs refuses: its path and what is wrong, in one line."""


def base_dir() -> Path:
    return Path(os.environ.get("PYVS_BPF_ROOT") or BPFFS / "pyvs")


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
    check(base_dir())
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


def _refusal(path: Path, info: os.stat_result, mount_root: bool) -> str | None:
    """What is wrong with directory `path` (lstat `info`) for pinned state, or None."""
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link, not a directory"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a directory"
    if info.st_uid != 0:
        return (f"it is owned by uid {info.st_uid}, not by root (who owns it can move pyvs's state away): "
                "remove it, or chown it to root")
    if info.st_mode & _OTHERS_WRITE and not (mount_root and info.st_mode & stat.S_ISVTX):
        return (f"its mode {stat.S_IMODE(info.st_mode):04o} lets group or others write in it (they can move "
                "pyvs's state away): chmod go-w it")
    return None


def _chain(directory: Path) -> tuple[list[Path], list[Path]]:
    """The existing directories from the mount root of `directory`'s file system down to
    its deepest existing part, and the missing ones below, outermost first."""
    missing = []
    existing = Path(os.path.abspath(directory))
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = existing.parent
    chain = [existing]
    while chain[0].parent != chain[0] and os.lstat(chain[0].parent).st_dev == os.lstat(chain[0]).st_dev:
        chain.insert(0, chain[0].parent)
    return chain, missing[::-1]


def _is_bpffs(mount_point: Path) -> bool:
    with open("/proc/self/mounts") as mounts:
        return any(fields[1:3] == [str(mount_point).replace(" ", "\\040"), "bpf"]
                   for fields in (line.split() for line in mounts))


def check(directory: Path) -> None:
    """PinDirError unless root runs this and every existing directory from the mount root
    of `directory`'s file system down to it is safe for pyvs's state (the module's rule)."""
    if os.geteuid() != 0:
        raise PinDirError(f"{directory}: Permission denied (you must be root)")
    chain, _missing = _chain(directory)
    if not _is_bpffs(chain[0]):
        raise PinDirError(f"refusing {directory}: {chain[0]} is not where a bpffs is mounted "
                          "(mount -t bpf bpf DIR, and name a directory in it)")
    for path in chain:
        why = _refusal(path, os.lstat(path), mount_root=path == chain[0])
        if why is not None:
            raise PinDirError(f"refusing {path}: {why}")


def make(directory: Path) -> Path:
    """`directory` after check(), its missing parts made (mode 0700), and checked again."""
    check(directory)
    for path in _chain(directory)[1]:
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below
            os.mkdir(path, PRIVATE_DIR_MODE)
            os.chmod(path, PRIVATE_DIR_MODE)  # whatever the umask
    check(directory)
    return directory


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the exclusive lock of a pin directory (made if missing, checked): creating its
    maps and editing them happen under it, one writer at a time, as ipvsadm's commands
    are serialised by the kernel."""
    make(directory)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def remove_dir(path: Path) -> None:
    """Unpin everything under path (unpinning is unlinking in bpffs)."""
    if path.exists():
        shutil.rmtree(path)
