"""Which network namespace this is, by something the kernel does not reuse.

A namespace's inode number is reused once the namespace is gone, so state kept
per namespace outside it (pinned maps, /run/pyvs files) is keyed by the inode
and the namespace's cookie (SO_NETNS_COOKIE, Linux 5.14: unique until
reboot). On kernels without cookies the inode alone is all there is.

`identity()` is the calling thread's namespace, `identity_of(path)` another's
(the thread enters it for a moment), and `visible()` lists the namespaces this
process can find: those of running processes and those held by nsfs mounts
(`ip netns add`'s /run/netns files among them). A namespace held only by a
mount in another mount namespace cannot be seen from here.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

SO_NETNS_COOKIE = 71  # linux/socket.h, Linux 5.14+
CLONE_NEWNET = 0x40000000
THREAD_NETNS = "/proc/thread-self/ns/net"

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True, slots=True)
class NetnsIdentity:
    inode: int
    cookie: int | None  # None: the kernel has no SO_NETNS_COOKIE

    @property
    def name(self) -> str:
        """net<inode>-<cookie>, or net<inode> without a cookie."""
        return f"net{self.inode}" if self.cookie is None else f"net{self.inode}-{self.cookie}"


def _cookie() -> int | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            raw = sock.getsockopt(socket.SOL_SOCKET, SO_NETNS_COOKIE, 8)
    except OSError:
        return None
    return int.from_bytes(raw, sys.byteorder)


def identity() -> NetnsIdentity:
    """The calling thread's network namespace."""
    return NetnsIdentity(os.stat(THREAD_NETNS).st_ino, _cookie())


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def identity_of(path: str | Path) -> NetnsIdentity:
    """The network namespace of an nsfs file (/proc/PID/ns/net, /run/netns/NAME)."""
    target = os.open(path, os.O_RDONLY)
    home = os.open(THREAD_NETNS, os.O_RDONLY)
    try:
        _setns(target)
        try:
            return identity()
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def visible() -> dict[int, str]:
    """inode -> one nsfs path of every network namespace this process can find."""
    found: dict[int, str] = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            path = f"/proc/{pid}/ns/net"
            try:
                found.setdefault(os.stat(path).st_ino, path)
            except OSError:
                continue  # gone meanwhile, or not ours to look at
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            fields = line.split()
            if "net:[" in fields[3] and " - nsfs " in line:
                try:
                    found.setdefault(os.stat(fields[4]).st_ino, fields[4])
                except OSError:
                    continue
    return found
