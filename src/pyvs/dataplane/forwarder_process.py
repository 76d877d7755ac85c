"""`pyvs director attach|detach --dataplane python`: the forwarder daemon of this network namespace.

One supervised forwarder (pyvs.daemon.forwarder: a supervisor process that
forks the forwarder and forks a new one whenever it dies) serves all of a
namespace's python director interfaces. In /run/pyvs,
forwarder-net<inode>.pid holds the forwarder's pid,
forwarder-net<inode>.supervisor.pid the supervisor's (written once the
first forwarder forwards), forwarder-net<inode>.log their output. Which
processes are this namespace's is never taken from those files: `processes()`
reads /proc (the daemon's module in the command line, the same network
namespace), so a stale pid file or a pid reused by another process is never
signalled. Their interfaces are read back from the command line. Attaching
or detaching interfaces restarts the daemon with the new set (forwarding
pauses meanwhile; the nft table stays, so the kernel answers nothing);
detaching the last one stops it and removes the table, the pid files and the
log, whatever state the daemon was in, also when nothing of it runs anymore.
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
from pyvs.daemon.forwarder import FORWARDER_COMM, MODULE, supervisor_pid_file
from pyvs.dataplane import nft_guard
from pyvs.model.errors import LbError

RUN_DIR = Path("/run/pyvs")
_OPTIONS_WITH_VALUE = {"--pid-file", "--sync-interval", "--adopt"}
KILL_ROUNDS = 3  # SIGKILL scans after the SIGTERM one (a forwarder may start a supervisor meanwhile)


class ForwarderError(LbError):
    """The forwarder daemon did not start or stop."""


@dataclass(frozen=True, slots=True)
class DaemonProcess:
    """One of this namespace's daemon processes: the supervisor or the forwarder."""

    pid: int
    forwarder: bool
    ifaces: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunningForwarder:
    """This namespace's daemon: its forwarder's and its supervisor's pids (None while missing)."""

    forwarder: int | None
    supervisor: int | None
    ifaces: tuple[str, ...]


def _netns_name() -> str:
    return f"forwarder-net{os.stat('/proc/self/ns/net').st_ino}"


def pid_path() -> Path:
    return RUN_DIR / f"{_netns_name()}.pid"


def supervisor_pid_path() -> Path:
    return supervisor_pid_file(pid_path())


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


def _netns_of(pid: int | str) -> tuple[int, int]:
    st = os.stat(f"/proc/{pid}/ns/net")
    return st.st_dev, st.st_ino


def daemon_process(pid: int) -> DaemonProcess | None:
    """The process if it is a live daemon process of this network namespace, else None."""
    cmdline = _alive_cmdline(pid)
    ifaces = daemon_ifaces(cmdline) if cmdline else None
    try:
        if ifaces is None or _netns_of(pid) != _netns_of("self"):
            return None
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    return DaemonProcess(pid, comm == FORWARDER_COMM, ifaces)


def processes() -> list[DaemonProcess]:
    """This namespace's daemon processes, found in /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (process := daemon_process(int(entry.name))) is not None:
            found.append(process)
    return found


def running() -> RunningForwarder | None:
    """This namespace's forwarder daemon, if any of it runs."""
    found = processes()
    if not found:
        return None
    forwarders = [p for p in found if p.forwarder]
    supervisors = [p for p in found if not p.forwarder]
    return RunningForwarder(forwarders[0].pid if forwarders else None,
                            supervisors[0].pid if supervisors else None,
                            (supervisors or forwarders)[0].ifaces)


def signal_daemon_process(pid: int, sig: int) -> bool:
    """Send `sig` to `pid` if it is one of this namespace's daemon processes; whether it was."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:  # checked after the pidfd is open: the pid cannot name another process in between
        if daemon_process(pid) is None:
            return False
        signal.pidfd_send_signal(pidfd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(pidfd)


def _log_tail(lines: int = 5) -> str:
    try:
        return " | ".join(log_path().read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def start(ifaces: Sequence[str], *, timeout: float = 15.0) -> RunningForwarder:
    """Start the daemon on `ifaces` (detached, its own session) and wait until it forwards."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    for path in (pid_path(), supervisor_pid_path()):
        path.unlink(missing_ok=True)
    with log_path().open("w") as log:  # one log per start: the inode of a deleted netns is reused
        popen = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--pid-file", str(pid_path()), *ifaces],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env=child_env(), cwd="/",
        )
    deadline = time.monotonic() + timeout
    while True:
        if _read_pid(supervisor_pid_path()) == popen.pid:
            return RunningForwarder(_read_pid(pid_path()), popen.pid, tuple(ifaces))
        if popen.poll() is not None:
            raise ForwarderError(f"the forwarder exited with status {popen.returncode}: {_log_tail()}")
        if time.monotonic() > deadline:
            popen.kill()
            popen.wait()
            stop()
            raise ForwarderError(f"the forwarder did not start within {timeout:g} s: {_log_tail()}")
        time.sleep(0.02)


def stop(*, keep_table: bool = False, timeout: float = 10.0) -> None:
    """Stop this namespace's daemon, whatever state it is in, and remove its pid files and (unless
    `keep_table`: a new forwarder follows) its nft table.

    SIGTERM (SIGUSR1 with `keep_table`) to the supervisors (each stops its
    forwarder, which removes the table, or with SIGUSR1 leaves it) and to
    forwarders without one; SIGKILL after `timeout` to what is left, again
    until nothing is."""
    for round_ in range(1 + KILL_ROUNDS):
        found = processes()
        if not found:
            break
        supervised = any(not p.forwarder for p in found)
        sig = (signal.SIGUSR1 if keep_table else signal.SIGTERM) if round_ == 0 else signal.SIGKILL
        for process in found:
            if sig == signal.SIGKILL or not (process.forwarder and supervised):
                signal_daemon_process(process.pid, sig)
        deadline = time.monotonic() + (timeout if round_ == 0 else 2.0)
        while processes() and time.monotonic() < deadline:
            time.sleep(0.02)
    else:
        if processes():
            raise ForwarderError(f"could not stop the forwarder daemon: {processes()}")
    for path in (pid_path(), supervisor_pid_path()):
        path.unlink(missing_ok=True)
    if not keep_table:
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
            return current  # a forwarder whose supervisor is gone starts one itself
        stop(keep_table=True)
    return start(wanted)


def release(ifnames: Sequence[str]) -> None:
    """Stop serving `ifnames` with the python data plane (the forwarder goes on with the others).

    With nothing of the daemon running, what it left (nft table, pid files,
    log) is removed."""
    current = running()
    remaining = tuple(i for i in current.ifaces if i not in ifnames) if current else ()
    if current is not None and remaining == current.ifaces:
        return
    stop(keep_table=bool(remaining))
    if remaining:
        start(remaining)
    else:
        log_path().unlink(missing_ok=True)
