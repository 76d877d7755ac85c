"""`pyvs director attach|detach --dataplane python`: the forwarder daemon of this network namespace.

One forwarder (pyvs.daemon.forwarder) serves all of a namespace's python
director interfaces. /run/pyvs/forwarder-net<inode>.pid holds its pid (the
daemon writes it once it forwards), forwarder-net<inode>.log its output
(removed when the last interface is detached);
its interfaces are read back from its command line. Attaching or detaching
interfaces restarts it with the new set (forwarding pauses meanwhile).
The state itself is in the pinned maps, as with XDP, so a restart loses
nothing but the frames that arrive while no forwarder runs.

Rule: an interface is served by one data plane at a time: attaching the
python one detaches XDP from the interface, and the CLI's XDP attach calls
`release()` first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyvs.child_env import child_env
from pyvs.dataplane import nft_guard
from pyvs.model.errors import LbError

RUN_DIR = Path("/run/pyvs")
MODULE = "pyvs.daemon.forwarder"
_OPTIONS_WITH_VALUE = {"--pid-file", "--sync-interval"}


class ForwarderError(LbError):
    """The forwarder daemon did not start or stop."""


@dataclass(frozen=True, slots=True)
class RunningForwarder:
    pid: int
    ifaces: tuple[str, ...]


def _netns_name() -> str:
    return f"forwarder-net{os.stat('/proc/self/ns/net').st_ino}"


def pid_path() -> Path:
    return RUN_DIR / f"{_netns_name()}.pid"


def log_path() -> Path:
    return RUN_DIR / f"{_netns_name()}.log"


def daemon_ifaces(cmdline: Sequence[str]) -> tuple[str, ...] | None:
    """The interfaces in a forwarder's command line, or None if it is not one."""
    if MODULE not in cmdline:
        return None
    args = list(cmdline[list(cmdline).index(MODULE) + 1:])
    ifaces: list[str] = []
    while args:
        arg = args.pop(0)
        if arg in _OPTIONS_WITH_VALUE:
            args = args[1:]
        elif arg and not arg.startswith("-"):
            ifaces.append(arg)
    return tuple(ifaces)


def _alive_cmdline(pid: int) -> list[str] | None:
    """The command line of a live (not zombie) process, else None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return None
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").rstrip("\0").split("\0")
    except (OSError, IndexError):
        return None


def running() -> RunningForwarder | None:
    """This namespace's forwarder, if its pid file names a live one."""
    try:
        pid = int(pid_path().read_text().strip())
    except (OSError, ValueError):
        return None
    cmdline = _alive_cmdline(pid)
    ifaces = daemon_ifaces(cmdline) if cmdline else None
    return RunningForwarder(pid, ifaces) if ifaces is not None else None


def _log_tail(lines: int = 5) -> str:
    try:
        return " | ".join(log_path().read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def start(ifaces: Sequence[str], *, timeout: float = 15.0) -> RunningForwarder:
    """Start the daemon on `ifaces` (detached, its own session) and wait until it forwards."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    pid_file = pid_path()
    pid_file.unlink(missing_ok=True)
    with log_path().open("w") as log:  # one log per start: the inode of a deleted netns is reused
        popen = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--pid-file", str(pid_file), *ifaces],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=child_env(), cwd="/",
        )
    deadline = time.monotonic() + timeout
    while True:
        try:
            if int(pid_file.read_text().strip()) == popen.pid:
                return RunningForwarder(popen.pid, tuple(ifaces))
        except (OSError, ValueError):
            pass
        if popen.poll() is not None:
            raise ForwarderError(f"the forwarder exited with status {popen.returncode}: {_log_tail()}")
        if time.monotonic() > deadline:
            popen.kill()
            popen.wait()
            raise ForwarderError(f"the forwarder did not start within {timeout:g} s: {_log_tail()}")
        time.sleep(0.02)


def stop(forwarder: RunningForwarder, *, timeout: float = 10.0) -> None:
    """SIGTERM the daemon and wait for it (SIGKILL after `timeout`); its nft table goes either way."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(forwarder.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + timeout
        while _alive_cmdline(forwarder.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        if _alive_cmdline(forwarder.pid) is None:
            break
    pid_path().unlink(missing_ok=True)
    nft_guard.remove_table()


def _write_sysctl(path: str, value: str) -> None:
    with open(f"/proc/sys/{path}", "w") as f:
        f.write(value)


def attach(ifnames: Sequence[str]) -> RunningForwarder:
    """The python data plane on `ifnames` (added to those it serves already)."""
    from pyvs.dataplane import features, pins, xdp

    for ifname in ifnames:
        xdp.ifindex_of(ifname)  # a bad name changes nothing
    features.require(features.maps_only_needs())
    pins.ensure_bpffs()
    xdp.XdpDataplane.open_pinned().close()  # the maps, made under the pin directory's lock
    for ifname in ifnames:
        xdp.detach_director(ifname)
    # As attach_director: the kernel forwards what the forwarder hands it back.
    _write_sysctl("net/ipv4/ip_forward", "1")
    for ifname in ifnames:
        _write_sysctl(f"net/ipv4/conf/{ifname}/forwarding", "1")
        _write_sysctl(f"net/ipv4/conf/{ifname}/accept_local", "1")
    current = running()
    wanted = tuple(dict.fromkeys([*(current.ifaces if current else ()), *ifnames]))
    if current is not None:
        if set(current.ifaces) == set(wanted):
            return current
        stop(current)
    return start(wanted)


def release(ifnames: Sequence[str]) -> None:
    """Stop serving `ifnames` with the python data plane (the forwarder goes on with the others)."""
    current = running()
    if current is None:
        return
    remaining = tuple(i for i in current.ifaces if i not in ifnames)
    if remaining == current.ifaces:
        return
    stop(current)
    if remaining:
        start(remaining)
    else:
        log_path().unlink(missing_ok=True)
