"""The live Python data plane's daemon: `python -m pyvs.daemon.forwarder IFACE [IFACE ...]`.

Started in the background by `pyvs director attach --dataplane python`
(pyvs.dataplane.forwarder_process), in the network namespace it serves. The
process started is the supervisor (its /proc comm is "pyvs-supervise"): it
imports the data plane once, then forks the forwarder (comm "pyvs-forward"),
which opens the pinned maps, the sockets and the nft table and forwards. When
the forwarder dies, however it dies, the supervisor forks a new one at once
(a fork of an interpreter that has imported everything: tens of
milliseconds, well under TCP's 1 s initial retransmission timeout); the nft
table a killed forwarder leaves behind keeps the kernel quiet meanwhile, and
the new forwarder replaces it in one nft transaction. A forwarder killed from
outside (SIGKILL, SIGTERM) is restarted at once however often it happens; one
that fails (an error, a crash) again within RESTART_WINDOW_S of its start is
restarted after a growing delay (up to MAX_BACKOFF_S); the first forwarder
failing before it forwards ends the supervisor.

The supervisor is watched in turn: a forwarder whose supervisor died starts
a new one (`--adopt PID`), which watches that forwarder (a pidfd: it need not
be its child) and forks the next.

Files: --pid-file holds the forwarder's pid, SUPERVISOR_SUFFIX beside it the
supervisor's; the supervisor writes both (its own once the first forwarder
forwards, the sign the starter waits for) and removes them when it stops.
SIGTERM or SIGINT to the supervisor stops the forwarder cleanly (it removes
its nft table) and then the supervisor; SIGUSR1 does the same but leaves the
table (for the daemon that follows: an interface added or removed); SIGTERM
to a forwarder alone makes it exit cleanly, and its supervisor start another.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

MODULE = "pyvs.daemon.forwarder"
SUPERVISOR_COMM = "pyvs-supervise"
FORWARDER_COMM = "pyvs-forward"
SUPERVISOR_SUFFIX = ".supervisor.pid"
RESTART_WINDOW_S = 5.0  # a forwarder that dies sooner than this after starting counts as failing
MAX_BACKOFF_S = 5.0
_KILLS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)


def supervisor_pid_file(pid_file: Path) -> Path:
    """The supervisor's pid file beside the forwarder's: forwarder-netN.pid, forwarder-netN.supervisor.pid."""
    return pid_file.with_suffix(SUPERVISOR_SUFFIX)


def backoff(failures: int) -> float:
    """Seconds to wait before restarting a forwarder that failed `failures` times in a row
    (each within RESTART_WINDOW_S of its start, or before forwarding): none the first time,
    then doubling from 0.1 s. One killed from outside is restarted at once."""
    return 0.0 if failures <= 1 else min(MAX_BACKOFF_S, 0.1 * 2 ** (failures - 2))


def _log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} [{os.getpid()}] {text}", flush=True)


def comm_of(pid: int) -> str | None:
    """The process's name in /proc (its comm), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


def _set_comm(name: str) -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(name)


def _write_pid(path: Path | None, pid: int) -> None:
    if path is None:
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{pid}\n")
    temporary.replace(path)


def _remove_pid(path: Path | None, pid: int) -> None:
    if path is None:
        return
    with contextlib.suppress(OSError):
        if path.read_text().strip() == str(pid):
            path.unlink()


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # until serving starts: unwinds through the clean-up


def killed(status: int | None) -> bool:
    """Whether a forwarder that ended with `status` was stopped from outside (SIGKILL, or
    SIGTERM or SIGINT, after which it exits 0, or 128 + the signal before it forwards; an
    adopted one's status is unknown) rather than failed (an error, a crash)."""
    return status is None or (os.WIFSIGNALED(status) and os.WTERMSIG(status) in _KILLS) or (
        os.WIFEXITED(status) and os.WEXITSTATUS(status) in {0, *(128 + s for s in _KILLS)})


def _status_text(status: int | None) -> str:
    if status is None:
        return "exited"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"


def _readable(fd: int, timeout: float | None) -> bool:
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(None if timeout is None else int(timeout * 1000)))


class Options:
    """The daemon's command line, as a supervisor and its forwarders read it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.ifaces: list[str] = args.ifaces
        self.pid_file: Path | None = args.pid_file
        self.sync_interval: float = args.sync_interval

    def supervisor_argv(self, adopt: int) -> list[str]:
        pid_file = [] if self.pid_file is None else ["--pid-file", str(self.pid_file)]
        return [sys.executable, "-m", MODULE, *pid_file, "--sync-interval", f"{self.sync_interval:g}",
                "--adopt", str(adopt), *self.ifaces]


class SupervisorWatch:
    """The forwarder's side: starts a new supervisor when its own is gone (called every tick)."""

    def __init__(self, options: Options, supervisor: int) -> None:
        self.options = options
        self.spawned: subprocess.Popen[bytes] | None = None
        try:
            self.pidfd = os.pidfd_open(supervisor)
        except ProcessLookupError:
            self.pidfd = -1
        if self.pidfd >= 0 and os.getppid() != supervisor:  # gone before the pidfd was opened
            os.close(self.pidfd)
            self.pidfd = -1

    def __call__(self) -> None:
        if self.pidfd >= 0 and not _readable(self.pidfd, 0):
            return
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        if self.spawned is not None:
            self.spawned.poll()  # reap the one this forwarder started
        from pyvs.child_env import child_env

        try:  # never the forwarder's end: it tries again at the next tick
            self.spawned = subprocess.Popen(
                self.options.supervisor_argv(os.getpid()), stdin=subprocess.DEVNULL, start_new_session=True,
                env=child_env(), cwd="/")
            self.pidfd = os.pidfd_open(self.spawned.pid)
        except OSError as exc:
            _log(f"supervisor gone, and starting another failed: {exc}")
            return
        _log(f"supervisor gone: started supervisor {self.spawned.pid}")


def _forwarder_child(options: Options, supervisor: int, ready_fd: int) -> int:
    """The forwarder, in the forked child; returns its exit status."""
    from pyvs.dataplane import live

    _set_comm(FORWARDER_COMM)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)  # until serving: ends it at once, the nft table left

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    try:
        live.run(options.ifaces, sync_interval=options.sync_interval, ready=ready,
                 tick=SupervisorWatch(options, supervisor))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def fork_forwarder(options: Options) -> tuple[int, int]:
    """Fork the forwarder; returns its pid and a descriptor that reads one byte once it forwards
    (end of file if it dies first)."""
    supervisor = os.getpid()
    ready_r, ready_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            code = _forwarder_child(options, supervisor, ready_w)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    os.close(ready_w)
    return pid, ready_r


class Supervisor:
    """Keeps one forwarder running: forks one, waits for it to end, forks the next.

    The forwarder is held by a pidfd from its fork (or adoption) until it has
    ended, so a signal never reaches another process that got its pid."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.stopping = False
        self.stop_signal: int = signal.SIGTERM  # what stops the forwarder: SIGUSR1 leaves its nft table
        self.forwarder = 0
        self.pidfd = -1  # the forwarder's, while it runs
        self.ended = 0.0  # when the last forwarder ended (time.monotonic())

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self.stop_signal = signal.SIGUSR1 if signum == signal.SIGUSR1 else signal.SIGTERM
        self.signal_forwarder(self.stop_signal)

    def signal_forwarder(self, sig: int) -> None:
        if self.pidfd >= 0:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, sig)

    def hold(self, pid: int) -> None:
        self.forwarder, self.pidfd = pid, os.pidfd_open(pid)

    def start_forwarder(self) -> bool:
        """Fork a forwarder and wait until it forwards; False if it died first."""
        started = time.monotonic()
        pid, ready_fd = fork_forwarder(self.options)
        try:
            self.hold(pid)
            if self.stopping:  # a stopping signal between the fork and hold() did not reach it
                self.signal_forwarder(self.stop_signal)
            ready = os.read(ready_fd, 1) == b"1"
        finally:
            os.close(ready_fd)
        if ready:
            _write_pid(self.options.pid_file, self.forwarder)
            now = time.monotonic()
            since = f", {(now - self.ended) * 1000:.0f} ms after the last one ended" if self.ended else ""
            _log(f"forwarder {self.forwarder} forwarding, {(now - started) * 1000:.0f} ms after its fork"
                 f"{since}")
        return ready

    def wait_forwarder(self) -> int | None:
        """Wait until the forwarder ends; returns its wait status (None if it was not our child)."""
        while not _readable(self.pidfd, None):
            pass
        self.ended = time.monotonic()
        os.close(self.pidfd)
        self.pidfd = -1
        status = None
        with contextlib.suppress(ChildProcessError):  # an adopted forwarder is not our child
            _, status = os.waitpid(self.forwarder, 0)
        return status

    def run(self, adopt: int | None) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, self.on_signal)
        _set_comm(SUPERVISOR_COMM)
        own_pid_file = None if self.options.pid_file is None else supervisor_pid_file(self.options.pid_file)
        if adopt is not None:
            if comm_of(adopt) != FORWARDER_COMM:
                _log(f"process {adopt} is not a forwarder: nothing to supervise")
                return 1
            self.hold(adopt)
            _write_pid(self.options.pid_file, adopt)
            _log(f"supervising forwarder {adopt}")
        elif not self.start_forwarder():
            _log(f"forwarder {self.forwarder} {_status_text(self.wait_forwarder())} before forwarding")
            return 1
        _write_pid(own_pid_file, os.getpid())
        failures = 0
        try:
            while not self.stopping:
                started = time.monotonic()
                status = self.wait_forwarder()
                if self.stopping:
                    break
                if killed(status):  # restarted at once, however often
                    failures = 0
                else:
                    failures = failures + 1 if time.monotonic() - started < RESTART_WINDOW_S else 1
                _log(f"forwarder {self.forwarder} {_status_text(status)}: restarting it")
                time.sleep(backoff(failures))
                while not self.stopping and not self.start_forwarder():
                    status = self.wait_forwarder()
                    _log(f"forwarder {self.forwarder} {_status_text(status)} before forwarding")
                    failures = 0 if killed(status) else failures + 1
                    time.sleep(backoff(failures))
        finally:
            if self.stopping and self.pidfd >= 0:
                self.signal_forwarder(self.stop_signal)
                self.wait_forwarder()
            _remove_pid(self.options.pid_file, self.forwarder)
            _remove_pid(own_pid_file, os.getpid())
        _log("stopped")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvs-forwarder", description=__doc__.splitlines()[0])
    parser.add_argument("ifaces", nargs="+", metavar="IFACE")
    parser.add_argument("--pid-file", type=Path, help="the forwarder's pid (the supervisor's is beside it)")
    parser.add_argument("--sync-interval", type=float, default=0.1, metavar="S",
                        help="how often the nft table follows lb_services (seconds)")
    parser.add_argument("--adopt", type=int, metavar="PID",
                        help="supervise this running forwarder (started by one whose supervisor died)")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    # Imported once here, not again in every forked forwarder: a restart is a fork and the opening.
    from pyvs.dataplane import live, maps, pins  # noqa: F401
    from pyvs.packet import pipeline  # noqa: F401

    return Supervisor(Options(args)).run(args.adopt)


if __name__ == "__main__":
    sys.exit(main())
