"""Faults: pyvs processes killed with SIGKILL, and what the director makes of it.

- The python data plane's forwarder and its supervisor each replace the
  other when it is killed, and `pyvs director detach` leaves nothing of the
  data plane (processes, nft table, pid files, log), whatever state the
  daemon is in: running, just killed, dead with stale pid files, or with pid
  files naming another process (which it must not kill).
- Under a curl loop, a running download and a held keep-alive connection,
  SIGKILL of the forwarder (python plane), of `pyvsadm -R` and of `pyvs
  director attach` half-way (both planes) fail no request and move no
  connection: TCP's retransmissions carry them over a forwarder's restart.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pyvs.lab.netns import Namespace
from pyvs.lab.seed import IFACE, SeedLab, seed_topology
from tests.capabilities import require

pytestmark = [pytest.mark.needs_root, pytest.mark.needs_netns, pytest.mark.needs_bpf]

RUN_DIR = Path("/run/pyvs")
DAEMON = b"pyvs.daemon.forwarder"
SUPERVISOR, FORWARDER = "pyvs-supervise", "pyvs-forward"


def daemon(ns: Namespace) -> dict[str, list[int]]:
    """The namespace's live forwarder daemon processes by name (comm): supervisor and forwarder."""
    found: dict[str, list[int]] = {}
    for pid in ns.pids():
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if DAEMON not in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"):
                continue
            found.setdefault(Path(f"/proc/{pid}/comm").read_text().strip(), []).append(pid)
        except OSError:
            continue
    return found


def pid_file(ns: Namespace, role: str) -> Path:
    return RUN_DIR / f"forwarder-net{ns.inode}{'.supervisor' if role == SUPERVISOR else ''}.pid"


def leftovers(lab: SeedLab) -> list[str]:
    """What the python data plane left in the director's namespace and in /run/pyvs."""
    left = sorted(p.name for p in RUN_DIR.glob(f"forwarder-net{lab.director.inode}.*"))
    if "table ip pyvs" in lab.director.run(["nft", "list", "tables"]).stdout:
        left.append("table ip pyvs")
    return left + [f"{name} {pid}" for name, pids in daemon(lab.director).items() for pid in pids]


def wait_for_daemon(ns: Namespace, *, replacing: int | None = None, timeout: float = 20.0) -> dict[str, int]:
    """Wait until one supervisor and one forwarder run (neither `replacing`) and the pid
    files name them; returns their pids by name."""
    deadline = time.monotonic() + timeout
    while True:
        found = daemon(ns)
        pids = {name: found.get(name, []) for name in (SUPERVISOR, FORWARDER)}
        if all(len(p) == 1 and p[0] != replacing for p in pids.values()):
            current = {name: p[0] for name, p in pids.items()}
            files = {name: pid_file(ns, name).read_text().strip() if pid_file(ns, name).exists() else ""
                     for name in current}
            if files == {name: str(pid) for name, pid in current.items()}:
                return current
        assert time.monotonic() < deadline, f"no supervised forwarder: {found}"
        time.sleep(0.02)


def served(lab: SeedLab) -> str:
    done = lab.curl()
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_forwarder_and_its_supervisor_replace_each_other_when_killed() -> None:
    require("needs_nft")
    with seed_topology(reals=1, dataplane="python") as lab:
        # The third victim is the forwarder of a supervisor that its forwarder started (--adopt).
        for victim in (FORWARDER, SUPERVISOR, FORWARDER, SUPERVISOR):
            before = wait_for_daemon(lab.director)
            after = wait_for_daemon(lab.director, replacing=kill(lab, victim))
            survivor = SUPERVISOR if victim == FORWARDER else FORWARDER
            assert after[survivor] == before[survivor]
            assert served(lab) == "served by 10.3.3.3"


def kill(lab: SeedLab, role: str) -> int:
    """SIGKILL the director's supervisor or forwarder (once both run); returns its pid."""
    pid = wait_for_daemon(lab.director)[role]
    os.kill(pid, signal.SIGKILL)
    return pid


def kill_everything(lab: SeedLab) -> None:
    """Stop the forwarder so that it cannot start a supervisor, then SIGKILL both."""
    pids = wait_for_daemon(lab.director)
    os.kill(pids[FORWARDER], signal.SIGSTOP)
    os.kill(pids[SUPERVISOR], signal.SIGKILL)
    os.kill(pids[FORWARDER], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while daemon(lab.director):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_detach_removes_everything_whatever_state_the_forwarder_is_in() -> None:
    require("needs_nft")
    with seed_topology(reals=1, dataplane="python") as lab:
        bystander = lab.topology.start(lab.director, ["sleep", "600"], name="bystander")

        def pid_files_name_the_bystander() -> None:
            kill_everything(lab)
            for role in (SUPERVISOR, FORWARDER):
                pid_file(lab.director, role).write_text(f"{bystander.pid}\n")

        states: dict[str, Callable[[], None]] = {
            "running": lambda: None,
            "forwarder just killed": lambda: kill(lab, FORWARDER),
            "supervisor just killed": lambda: kill(lab, SUPERVISOR),
            "both killed": lambda: kill_everything(lab),
            "pid files naming another process": pid_files_name_the_bystander,
        }
        for state, make in states.items():
            if state != "running":
                lab.pyvs(lab.director, "director", "attach", "--dataplane", "python", IFACE)
            assert served(lab) == "served by 10.3.3.3", state
            make()
            assert "table ip pyvs" in leftovers(lab), state
            lab.pyvs(lab.director, "director", "detach", IFACE)  # exit status 0, or LabError
            assert (state, leftovers(lab)) == (state, [])
            assert bystander.running, state
