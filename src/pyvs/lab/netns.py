"""Network-namespace topologies for the lab, the e2e tests and the benchmarks.

A `Topology` creates uniquely named namespaces, veth pairs and bridges between
them, sets addresses, routes, sysctls and ethtool features, runs commands and
background processes inside, and on exit removes everything it made: it runs
its registered clean-ups, stops its processes, kills whatever still runs in
its namespaces and deletes them, also when the body raised.

Rules this module keeps:
1. Nothing is ever created in the caller's (root) namespace: veth pairs are
   created directly inside their namespaces (`ip -n A link add ... peer ... netns B`).
2. Ordinary programs run with `ip netns exec`; pyvs programs run with
   `nsenter --net=/run/netns/NAME`, which changes only the network namespace:
   `ip netns exec` remounts /sys and so hides the pinned maps in /sys/fs/bpf.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Self

from pyvs.lab.commands import python_module_argv, pyvs_env

NETNS_DIR = Path("/run/netns")
DEFAULT_TIMEOUT = 30.0

log = logging.getLogger(__name__)


class LabError(RuntimeError):
    """A lab command failed; the message names the command and its stderr."""


def unique_suffix() -> str:
    """A short random suffix that keeps parallel runs' names apart."""
    return secrets.token_hex(3)


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: str | Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv, capture its output as text; with check, raise LabError when it fails."""
    try:
        done = subprocess.run(
            list(argv), check=False, capture_output=True, text=True, timeout=timeout, env=env,
            input=input, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"{' '.join(argv)}: timed out after {timeout:g} s") from exc
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]}: command not found") from exc
    if check and done.returncode != 0:
        why = (done.stderr.strip() or done.stdout.strip() or f"exit status {done.returncode}")
        raise LabError(f"{' '.join(argv)}: {why}")
    return done


@dataclass(frozen=True, slots=True)
class Namespace:
    """One named network namespace (a file under /run/netns)."""

    name: str

    @property
    def path(self) -> str:
        return str(NETNS_DIR / self.name)

    @property
    def inode(self) -> int:
        """The namespace's inode number, as /proc/self/ns/net shows it from inside."""
        return os.stat(self.path).st_ino

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """argv run with `ip netns exec` (for programs that are not pyvs)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def nsenter_argv(self, argv: Sequence[str]) -> list[str]:
        """argv run with `nsenter --net` (for pyvs programs: keeps /sys/fs/bpf visible)."""
        return ["nsenter", f"--net={self.path}", "--", *argv]

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a non-pyvs program in the namespace (ip netns exec)."""
        return run(self.exec_argv(argv), **kwargs)

    def run_pyvs(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run a pyvs program in the namespace (nsenter --net), importing this pyvs."""
        kwargs.setdefault("env", pyvs_env())
        return run(self.nsenter_argv(argv), **kwargs)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(["ip", "-n", self.name, *args], check=check)

    def ip_json(self, *args: str) -> Any:
        return json.loads(run(["ip", "-n", self.name, "-j", *args]).stdout or "[]")

    def link_up(self, ifname: str) -> None:
        self.ip("link", "set", "dev", ifname, "up")

    def addr_add(self, ifname: str, cidr: str, *, broadcast: str | None = None) -> None:
        extra = ["broadcast", broadcast] if broadcast else []
        self.ip("addr", "add", cidr, *extra, "dev", ifname)

    def route_add(self, dest: str, via: str, *, dev: str | None = None) -> None:
        extra = ["dev", dev] if dev else []
        self.ip("route", "add", dest, "via", via, *extra)

    def ipv4_addresses(self, ifname: str) -> list[ipaddress.IPv4Interface]:
        links = self.ip_json("-4", "addr", "show", "dev", ifname)
        return [
            ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}")
            for link in links for a in link.get("addr_info", [])
        ]

    def sysctl(self, settings: dict[str, int | str]) -> None:
        """Set sysctls inside the namespace (net.* sysctls are per namespace)."""
        self.run(["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items())])

    def read_sysctl(self, key: str) -> str:
        return self.run(["sysctl", "-n", key]).stdout.strip()

    def ethtool(self, ifname: str, **features: bool) -> None:
        """`ethtool -K IFNAME feature on|off ...`, e.g. ethtool("eth0", gro=True, tx=False)."""
        args = [w for k, v in features.items() for w in (k.replace("_", "-"), "on" if v else "off")]
        self.run(["ethtool", "-K", ifname, *args])

    def ping(self, address: str, *, count: int = 1, timeout: float = 2.0) -> bool:
        """True when `address` answers an ICMP echo from inside the namespace."""
        argv = [*python_module_argv("pyvs.lab.ping"), "-c", str(count), "-W", str(timeout), address]
        return self.run(argv, check=False, env=pyvs_env(), timeout=timeout * count + 10).returncode == 0

    def pids(self) -> list[int]:
        """Processes whose network namespace is this one."""
        done = run(["ip", "netns", "pids", self.name], check=False)
        return [int(p) for p in done.stdout.split()]


@dataclass(slots=True)
class BackgroundProcess:
    """A process started in a namespace; its output (or with pipes, its stderr) goes to `log_path`."""

    name: str
    popen: subprocess.Popen[str]
    log_path: Path | None = None
    _log_file: IO[str] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        """Send `sig`, wait up to `timeout`, then SIGKILL; return the exit status."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)
        for stream in (self.popen.stdin, self.popen.stdout, self._log_file):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return self.popen.returncode

    def output(self) -> str:
        """What the process wrote to its log so far."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


def kill_namespace_processes(ns: Namespace, timeout: float = 3.0) -> None:
    """SIGTERM every process in the namespace (by pid), then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = ns.pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while ns.pids() and time.monotonic() < deadline:
            time.sleep(0.05)


def delete_namespaces(names: Sequence[str]) -> list[str]:
    """Kill the processes in, then delete, each existing namespace; return error messages."""
    errors = []
    for name in names:
        ns = Namespace(name)
        if not Path(ns.path).exists():
            continue
        try:
            kill_namespace_processes(ns)
            run(["ip", "netns", "del", name])
        except LabError as exc:
            errors.append(str(exc))
    return errors


def namespace_name(prefix: str, role: str, suffix: str = "") -> str:
    """The name of a topology's namespace for `role`: prefix-role[-suffix]."""
    return f"{prefix}-{role}-{suffix}" if suffix else f"{prefix}-{role}"


class Topology:
    """Namespaces, links and processes that all go away together.

    Use as a context manager; `close()` is also registered with atexit, and
    `keep()` hands the namespaces over to the caller (close() then does nothing).
    Namespace names are "<prefix>-<role>-<suffix>", one random suffix per
    topology; a named topology's are "<prefix>-<name>-<role>" (`namespace_name()`).
    """

    def __init__(self, prefix: str = "pyvs", suffix: str | None = None, *, name: str | None = None) -> None:
        self.prefix = f"{prefix}-{name}" if name else prefix
        self.suffix = "" if name else (suffix or unique_suffix())
        self.namespaces: dict[str, Namespace] = {}
        self.processes: list[BackgroundProcess] = []
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{prefix}-lab-{name or self.suffix}-"))
        self._cleanups: list[Callable[[], object]] = []
        self._closed = False
        atexit.register(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_namespace(self, role: str) -> Namespace:
        """Create the namespace for `role` with its loopback up and IPv6 off (quiet captures)."""
        if role in self.namespaces:
            raise LabError(f"namespace role {role!r} already exists")
        ns = Namespace(self.namespace_name(role))
        run(["ip", "netns", "add", ns.name])
        self.namespaces[role] = ns
        ns.link_up("lo")
        ns.sysctl({"net.ipv6.conf.all.disable_ipv6": 1, "net.ipv6.conf.default.disable_ipv6": 1})
        return ns

    def namespace_name(self, role: str) -> str:
        return namespace_name(self.prefix, role, self.suffix)

    def add_veth(self, a: Namespace, a_if: str, b: Namespace, b_if: str) -> None:
        """A veth pair a:a_if <-> b:b_if, created inside the namespaces, both ends up."""
        a.ip("link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", b.name)
        a.link_up(a_if)
        b.link_up(b_if)

    def add_bridge(self, ns: Namespace, name: str, ports: Sequence[str]) -> None:
        """A Linux bridge in `ns` (no STP, no forward delay) with `ports` enslaved."""
        ns.ip("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        for port in ports:
            ns.ip("link", "set", "dev", port, "master", name)
        ns.link_up(name)

    def start(
        self, ns: Namespace, argv: Sequence[str], *, name: str, pyvs: bool = False,
        cwd: str | Path | None = None, pipes: bool = False,
    ) -> BackgroundProcess:
        """Start argv in `ns` in the background (its own session).

        Output goes to <workdir>/<name>.log; with `pipes`, stdin and stdout are
        pipes and only stderr goes to the log.
        `pyvs` runs it with nsenter and this package on PYTHONPATH.
        """
        full = ns.nsenter_argv(argv) if pyvs else ns.exec_argv(argv)
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("w")
        popen = subprocess.Popen(
            full, cwd=cwd, env=pyvs_env(), text=True, start_new_session=True,
            stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
            stdout=subprocess.PIPE if pipes else log_file,
            stderr=log_file if pipes else subprocess.STDOUT,
        )
        proc = BackgroundProcess(name, popen, log_path, log_file)
        self.processes.append(proc)
        return proc

    def on_close(self, cleanup: Callable[[], object]) -> None:
        """Run `cleanup` at close(), before processes stop and namespaces go (LIFO)."""
        self._cleanups.append(cleanup)

    def keep(self) -> dict[str, Any]:
        """Leave everything up; return what `pyvs lab down` needs to remove it later."""
        self._closed = True
        atexit.unregister(self.close)
        for proc in self.processes:
            if proc._log_file is not None:
                proc._log_file.close()
        return {
            "namespaces": {role: ns.name for role, ns in self.namespaces.items()},
            "workdir": str(self.workdir),
            "pids": [p.pid for p in self.processes if p.running],
        }

    def close(self) -> None:
        """Remove everything: clean-ups, processes, namespaces, work directory. Never raises."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        errors: list[str] = []
        for cleanup in reversed(self._cleanups):
            try:
                cleanup()
            except Exception as exc:  # clean-up must go on
                errors.append(f"clean-up {getattr(cleanup, '__name__', cleanup)}: {exc}")
        for proc in reversed(self.processes):
            with contextlib.suppress(Exception):
                proc.stop()
        errors += delete_namespaces([ns.name for ns in self.namespaces.values()])
        shutil.rmtree(self.workdir, ignore_errors=True)
        for error in errors:
            log.warning("lab teardown: %s", error)
